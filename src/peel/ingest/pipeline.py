"""One batch: read a file, validate and map it, quarantine bad rows, drop rows already stored,
write the rest to the lake, and commit it all in one step.

    rows_read = rows_stored + rows_quarantined + rows_duplicate       (checked before commit)

A row's identity is (source, record key, content hash, ordinal of that content among identical
rows of the same file); `row_id` is derived from it, so a rerun of a batch stores nothing twice
and every stored row keeps the id products cite. Rows with one key and different content are all
kept as versions of one record (`<table>_current` shows the latest).
"""

from __future__ import annotations

import hashlib
import logging
import queue
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from peel.errors import InputRefused, LakeError
from peel.ingest.dedupe import CACHE_IDS, StoredIds
from peel.ingest.enrich import localise, project
from peel.ingest.framing import Reject
from peel.ingest.readers import LINE, RawBlock, ReadStats, read_blocks
from peel.ingest.rejects import QUARANTINE_SCHEMA, BatchRejects
from peel.ingest.store import BatchStore, Provenance, stored_files
from peel.ingest.validate import Validation, build_validation, register_code_tables
from peel.lake import Lake
from peel.lake.catalog import STAGING, Manifest, crash_point
from peel.lake.writer import TableWriter
from peel.sources.mapping import Mapping

log = logging.getLogger(__name__)
_T = TypeVar("_T")


@dataclass
class BatchReport:
    batch: str
    file: str
    source: str
    dataset: str
    rows_read: int = 0
    rows_stored: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    format: str = ""
    encoding: str = ""
    seconds: float = 0.0
    table: str = ""
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    refused: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class RetryInput:
    """How a retry batch maps its temporary file back to the original rows."""

    file_label: str
    line_map: dict[int, int]
    resolves: list[str]
    input_sha256: str


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def ingest_file(
    lake: Lake,
    path: Path,
    mapping: Mapping,
    *,
    dataset: str | None = None,
    synthetic: bool = False,
    retry: RetryInput | None = None,
    before_commit: Callable[[Manifest], None] | None = None,
) -> BatchReport:
    """Ingest one file as one batch. Raises InputRefused when the whole file is refused (the
    lake is then unchanged).

    `before_commit` runs once the batch is complete and just before its one-step commit: the
    CLI uses it to write the collection's audit entry. If it raises, nothing is committed."""
    started = time.perf_counter()
    settings = lake.settings
    dataset = dataset or mapping.source
    batch = time.strftime("%Y%m%d") + "-" + uuid.uuid4().hex[:12]
    label = retry.file_label if retry else path.name
    report = BatchReport(batch=batch, file=label, source=mapping.source, dataset=dataset)
    report.table = mapping.entity.table
    if not path.is_file():
        raise InputRefused(f"{path}: no such file")
    with lake.catalog.writer_lock():
        lake.catalog.recover()
        _check_dataset(lake, dataset, synthetic)
        staging = lake.lake_dir / STAGING / batch
        staging.mkdir(parents=True, exist_ok=True)
        try:
            return _run(
                lake,
                path,
                mapping,
                report,
                staging,
                synthetic=synthetic,
                retry=retry,
                started=started,
                settings_fsync=settings.fsync,
                before_commit=before_commit,
            )
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _check_dataset(lake: Lake, dataset: str, synthetic: bool) -> None:
    for m in lake.catalog.manifests():
        if m.dataset == dataset and m.synthetic != synthetic:
            kind = "synthetic" if m.synthetic else "real"
            raise InputRefused(
                f"dataset {dataset!r} holds {kind} data; synthetic and real data are never "
                "mixed in one dataset (choose another --dataset)"
            )


def _run(
    lake: Lake,
    path: Path,
    mapping: Mapping,
    report: BatchReport,
    staging: Path,
    *,
    synthetic: bool,
    retry: RetryInput | None,
    started: float,
    settings_fsync: bool,
    before_commit: Callable[[Manifest], None] | None,
) -> BatchReport:
    settings = lake.settings
    engine = lake.engine()
    con = engine.con
    spec = mapping.entity
    store: BatchStore | None = None
    try:
        con.execute("SET TimeZone = 'UTC'")
        register_code_tables(con, lake.registry)
        # Unordered: the store thread sorts each block (and skips the sort for one already in
        # order), which keeps the main thread, the ingest's critical path, to validation.
        validation = build_validation(mapping)
        stats = ReadStats()
        rejects = BatchRejects(staging)
        # One writer holds the lock, so the sequence number is known before the first row.
        seq = lake.catalog.next_seq()
        files, rows = stored_files(
            lake.catalog.manifests(),
            settings.data_dir,
            spec.table,
            partitioned=spec.layout.partition_field is not None,
        )
        store = BatchStore(
            spec=spec,
            writer=TableWriter(settings.data_dir, spec.table, report.batch, fsync=settings.fsync),
            stored=StoredIds(files, rows, budget=CACHE_IDS),
            provenance=Provenance(mapping.source, report.dataset, report.batch, seq, report.file),
            staging=staging,
            key_field=validation.key_field,
            prepare=lambda t: _enrich(
                t, mapping, validation.local_datetimes, validation.projected, settings
            ),
        )
        blocks = read_blocks(path, mapping, settings, stats)
        for block, trim, copy in prefetch(_with_trim(blocks, validation)):
            if retry is not None:
                block = _remap_lines(block, retry.line_map)
            report.rows_read += block.table.num_rows + len(block.rejects)
            rejects.add_records(block.rejects)
            if block.table.num_rows == 0:
                continue
            out = _validate(con, validation, block.table, trim, copy)
            # A failing row names its first failing field; good rows (nearly all) have none.
            bad_rows = None
            if out["_error_field"].null_count < out.num_rows:
                bad = pc.is_valid(out["_error_field"])
                rejects.add_rows(out.filter(bad))
                bad_rows = np.flatnonzero(bad.to_numpy(zero_copy_only=False))
            # The store thread leaves the bad rows out (in the copy it makes anyway).
            store.put(out.drop_columns(["_errors", "_error_field", "_raw"]), bad_rows)
        entries = store.finish(con)
        report.rows_stored = sum(e.rows for e in entries)
        report.rows_duplicate = store.staged_rows - report.rows_stored
        report.format = stats.format
        report.encoding = "+".join(sorted(stats.encodings)) or "utf-8"
        report.rows_quarantined = rejects.count
        report.quarantine_reasons = dict(rejects.reasons.most_common(50))
        q_entries, q_written = rejects.write(
            lake,
            engine,
            batch=report.batch,
            source=mapping.source,
            dataset=report.dataset,
            file=report.file,
            input_format=stats.format,
            resolving=set(retry.resolves) if retry else set(),
        )
        total = report.rows_stored + report.rows_quarantined + report.rows_duplicate
        if total != report.rows_read:
            raise LakeError(
                f"{report.file}: rows read {report.rows_read:,} != stored + quarantined + "
                f"duplicate {total:,}; batch not committed"
            )
        report.seconds = round(time.perf_counter() - started, 3)
        manifest = Manifest(
            seq=seq,
            batch=report.batch,
            kind="retry" if retry else "ingest",
            source=mapping.source,
            dataset=report.dataset,
            synthetic=synthetic,
            input_file=report.file,
            input_sha256=retry.input_sha256 if retry else (stats.sha256 or sha256_file(path)),
            counts={
                "rows_read": report.rows_read,
                "rows_stored": report.rows_stored,
                "rows_quarantined": report.rows_quarantined,
                "rows_duplicate": report.rows_duplicate,
                "quarantine_entries": q_written,
            },
            tables={spec.table: entries} if entries else {},
            quarantine=q_entries,
            resolves=list(retry.resolves) if retry else [],
            details={
                "format": report.format,
                "encoding": report.encoding,
                "header": stats.header,
                "quarantine_reasons": report.quarantine_reasons,
                "crs": settings.crs,
                "timezone": settings.timezone,
            },
        )
        crash_point("before-commit")
        if before_commit is not None:
            before_commit(manifest)
        lake.catalog.commit(manifest)
        return report
    finally:
        if store is not None:
            store.abort()
        engine.close()


_DONE = object()


def _with_trim(
    blocks: Iterator[RawBlock], validation: Validation
) -> Iterator[tuple[RawBlock, frozenset[str], frozenset[str]]]:
    """Each block with the columns that need a trim and those the statement may leave for the
    caller to copy, worked out on the read-ahead thread."""
    for block in blocks:
        trim = validation.trim_columns(block.table)
        yield block, trim, validation.passthrough(block.table, trim)


def _validate(
    con: Any,
    validation: Validation,
    block: pa.Table,
    trim: frozenset[str],
    copy: frozenset[str],
) -> pa.Table:
    """The block validated and mapped. Output columns that are a source column unchanged
    (`copy`) are the block's own arrays, not DuckDB's copies of them: the statement leaves them
    out, which spares it turning every value into a new Arrow string, and they stay in one
    piece for the store thread's copy. That holds only if the statement kept the block's row
    order, which is checked (by line); if not, the block is validated again in full."""
    con.register("raw_block", block)
    try:
        sql = validation.sql_for(block, trim, copy)
        out = con.sql(sql, params=validation.params).to_arrow_table()
        if copy:
            lines = out[LINE].combine_chunks().to_numpy()
            if not np.array_equal(lines, block[LINE].combine_chunks().to_numpy()):
                log.info("the validation statement reordered a block; validating it in full")
                sql = validation.sql_for(block, trim)
                return con.sql(sql, params=validation.params).to_arrow_table()
            for out_name, column in validation.copied:
                if column in copy:
                    out = out.append_column(out_name, block[column])
        return out
    finally:
        con.unregister("raw_block")


def prefetch(blocks: Iterator[_T], depth: int = 1) -> Iterator[_T]:
    """Read (frame and split) the next block in a thread while the caller validates this one.
    numpy, pyarrow and DuckDB release the GIL, so the two overlap on two cores. At most
    `depth` blocks wait, so memory stays bounded; an error in the reader is raised here."""
    q: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def run() -> None:
        try:
            for b in blocks:
                while not stop.is_set():
                    try:
                        q.put(b, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_DONE)
        except BaseException as e:  # handed to the consumer, which re-raises it
            q.put(e)

    t = threading.Thread(target=run, name="peel-read", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield cast(_T, item)
    finally:
        stop.set()
        t.join(timeout=5)


def _remap_lines(block: RawBlock, line_map: dict[int, int]) -> RawBlock:
    lines = [line_map.get(x, x) for x in block.table[LINE].to_pylist()]
    idx = block.table.schema.get_field_index(LINE)
    table = block.table.set_column(idx, LINE, pa.array(lines, pa.int64()))
    rejects = [Reject(line_map.get(r.line, r.line), r.reason, r.raw) for r in block.rejects]
    return RawBlock(table, rejects)


def _enrich(
    table: pa.Table,
    mapping: Mapping,
    local: tuple[str, ...],
    projected: tuple[tuple[str, str | None], ...],
    settings: Any,
) -> pa.Table:
    for spec in mapping.entity.fields:
        if spec.type != "datetime":
            continue
        i = table.schema.get_field_index(spec.name)
        if spec.name in local:
            utc, flags = localise(table[spec.name], settings.timezone)
            table = table.set_column(i, spec.name, utc)
            j = table.schema.get_field_index(spec.name + "_flag")
            table = table.set_column(j, spec.name + "_flag", flags)
        else:
            col = table[spec.name].cast(pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC"))
            table = table.set_column(i, spec.name, col)
    given_xy = {f for f, _ in projected}
    crs_of = dict(projected)
    for spec in mapping.entity.fields:
        if spec.type == "location" and any(r.field == spec.name for r in mapping.rules):
            if spec.name in given_xy:
                table = project(
                    table, spec.name, crs=settings.crs, given_crs=crs_of[spec.name], given="xy"
                )
            else:
                table = project(table, spec.name, crs=settings.crs)
    return table


def ingest_files(
    lake: Lake,
    paths: list[Path],
    mapping: Mapping,
    *,
    dataset: str | None = None,
    synthetic: bool = False,
    on_file: Callable[[BatchReport], None] | None = None,
    before_commit: Callable[[Manifest], None] | None = None,
) -> dict[str, Any]:
    """Each file is a batch. A refused file is reported and the others still go in."""
    reports = []
    for path in paths:
        try:
            r = ingest_file(
                lake,
                path,
                mapping,
                dataset=dataset,
                synthetic=synthetic,
                before_commit=before_commit,
            )
        except InputRefused as e:
            r = BatchReport(
                batch="", file=path.name, source=mapping.source, dataset=dataset or mapping.source
            )
            r.refused = str(e)
        reports.append(r)
        if on_file is not None:
            on_file(r)
    return summarise(reports)


def summarise(reports: list[BatchReport]) -> dict[str, Any]:
    keys = ("rows_read", "rows_stored", "rows_quarantined", "rows_duplicate")
    out: dict[str, Any] = {k: sum(getattr(r, k) for r in reports) for k in keys}
    out["files_refused"] = sum(1 for r in reports if r.refused)
    out["batches"] = [r.to_json() for r in reports]
    return out


__all__ = [
    "QUARANTINE_SCHEMA",
    "BatchReport",
    "RetryInput",
    "ingest_file",
    "ingest_files",
    "sha256_file",
    "summarise",
]
