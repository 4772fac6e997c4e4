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
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from peel.errors import InputRefused, LakeError
from peel.ingest.enrich import localise, project
from peel.ingest.framing import Reject
from peel.ingest.readers import LINE, RawBlock, ReadStats, read_blocks
from peel.ingest.rejects import QUARANTINE_SCHEMA, BatchRejects
from peel.ingest.validate import build_validation, quote_ident, register_code_tables
from peel.lake import Lake
from peel.lake.catalog import STAGING, FileEntry, Manifest, crash_point
from peel.lake.writer import PARTITION_COLUMN, RUN_COLUMN, TableWriter
from peel.sources.mapping import Mapping

log = logging.getLogger(__name__)


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
) -> BatchReport:
    """Ingest one file as one batch. Raises InputRefused when the whole file is refused (the
    lake is then unchanged)."""
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
) -> BatchReport:
    settings = lake.settings
    engine = lake.engine()
    con = engine.con
    try:
        con.execute("SET TimeZone = 'UTC'")
        register_code_tables(con, lake.registry)
        validation = build_validation(mapping)
        stats = ReadStats()
        rejects = BatchRejects(staging)
        staged_rows = 0
        part = 0
        days: set[str] = set()
        spec = mapping.entity
        for block in prefetch(read_blocks(path, mapping, settings, stats)):
            if retry is not None:
                block = _remap_lines(block, retry.line_map)
            report.rows_read += block.table.num_rows + len(block.rejects)
            rejects.add_records(block.rejects)
            if block.table.num_rows == 0:
                continue
            con.register("raw_block", block.table)
            out = con.sql(validation.sql, params=validation.params).to_arrow_table()
            con.unregister("raw_block")
            bad = pc.not_equal(out["_errors"], "")
            if pc.any(bad).as_py():
                rejects.add_rows(out.filter(bad))
                out = out.filter(pc.invert(bad))
            out = out.drop_columns(["_errors", "_error_field", "_raw"])
            out = _enrich(out, mapping, validation.local_datetimes, validation.projected, settings)
            if spec.layout.partition_field and out.num_rows:
                # The UTC day each row is stored under, and the set of days the batch touches.
                # date32 renders as YYYY-MM-DD; a cast is 15x faster than strftime.
                utc_date = pc.cast(out[spec.layout.partition_field], pa.date32())
                day = pc.fill_null(pc.cast(utc_date, pa.string()), "unknown")
                out = out.append_column(PARTITION_COLUMN, day)
                days.update(pc.unique(day).to_pylist())
            if out.num_rows:
                part += 1
                if spec.layout.sort:
                    # Each block is sorted here and written as files of its own, so every
                    # data file is in time order without a sort of the whole batch.
                    keys = [(f, "ascending") for f in spec.layout.sort]
                    if spec.layout.partition_field not in (None, spec.layout.sort[0]):
                        keys.insert(0, (PARTITION_COLUMN, "ascending"))  # else the day follows
                    out = out.sort_by(keys)
                out = out.append_column(RUN_COLUMN, pa.array(np.full(out.num_rows, part)))
                # Staging is read once, moments later: no compression to spend time on.
                pq.write_table(
                    out,
                    staging / f"part-{part:06d}.parquet",
                    compression="none",
                    use_dictionary=False,
                    write_statistics=False,
                )
                staged_rows += out.num_rows
        report.format = stats.format
        report.encoding = "+".join(sorted(stats.encodings)) or "utf-8"
        report.rows_quarantined = rejects.count
        report.quarantine_reasons = dict(rejects.reasons.most_common(50))
        seq = lake.catalog.next_seq()
        entries = _finalise(lake, mapping, report, staging, seq, days) if staged_rows else []
        report.rows_stored = sum(e.rows for e in entries)
        report.rows_duplicate = staged_rows - report.rows_stored
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
        lake.catalog.commit(manifest)
        return report
    finally:
        engine.close()


_DONE = object()


def prefetch(blocks: Iterator[RawBlock], depth: int = 1) -> Iterator[RawBlock]:
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
            yield cast(RawBlock, item)
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


def _finalise(
    lake: Lake, mapping: Mapping, report: BatchReport, staging: Path, seq: int, days: set[str]
) -> list[FileEntry]:
    """Give staged rows their identity, drop those already stored, and write.

    The staged parts are streamed in order (each block already sorted), with no join and no
    sort: the few rows that need another id (repeats within the file) and the few already
    stored are found first, as small sets, and applied to the stream in Arrow."""
    spec = mapping.entity
    engine = lake.engine()
    try:
        con = engine.con
        con.execute("SET TimeZone = 'UTC'")
        staged = f"read_parquet('{(staging / 'part-*.parquet').as_posix()}')"
        partitions = days if spec.layout.partition_field else None
        # The ordinal separates identical rows of one file: the second and later copies get
        # the MD5 of their identity and ordinal.
        repeats = con.sql(
            f"""WITH rep AS (
                    SELECT _identity FROM {staged} GROUP BY _identity HAVING count(*) > 1
                ), numbered AS (
                    SELECT st._line, st._identity, row_number() OVER (
                        PARTITION BY st._identity ORDER BY st._line) AS _ordinal
                    FROM {staged} AS st SEMI JOIN rep ON st._identity = rep._identity
                )
                SELECT _line, CAST(md5(CAST(_identity AS VARCHAR) || '#' || _ordinal) AS UUID)
                       AS row_id
                FROM numbered WHERE _ordinal > 1"""
        ).to_arrow_table()
        stored = pa.table({"row_id": pa.array([], pa.uuid())})
        if lake.catalog.table_files(spec.table, partitions):
            con.register("repeat_ids", repeats)
            stored = con.sql(
                f"SELECT e.row_id FROM {engine.table_sql(spec.table, partitions)} AS e "
                f"WHERE e.row_id IN (SELECT _identity FROM {staged}) "
                "OR e.row_id IN (SELECT row_id FROM repeat_ids)"
            ).to_arrow_table()
        entity_cols = ", ".join(quote_ident(c) for c, _ in spec.physical_columns())
        day = f", {PARTITION_COLUMN}" if spec.layout.partition_field else ""
        sql = f"""
            SELECT _identity AS row_id, $source AS _source, $dataset AS _dataset,
                   $batch AS _batch, CAST($seq AS BIGINT) AS _seq, $file AS _file, _line,
                   _record_key, {entity_cols}{day}, {RUN_COLUMN}
            FROM {staged}
        """
        params = {
            "source": mapping.source,
            "dataset": report.dataset,
            "batch": report.batch,
            "seq": seq,
            "file": report.file,
        }
        writer = TableWriter(
            lake.settings.data_dir, spec.table, report.batch, fsync=lake.settings.fsync
        )
        fix = _IdFixer(repeats, stored["row_id"])
        for rb in engine.reader(sql, params):
            writer.write(fix(rb))
        return writer.close()
    finally:
        engine.close()


class _IdFixer:
    """Applies the repeat ids and drops rows already stored, batch by batch, keeping order."""

    def __init__(self, repeats: pa.Table, stored: pa.ChunkedArray) -> None:
        self.rep_lines = repeats["_line"].combine_chunks()
        self.rep_ids = _uuid_storage(repeats["row_id"])
        self.stored = _uuid_storage(stored)

    def __call__(self, rb: pa.RecordBatch) -> pa.RecordBatch:
        rid = rb.column(0)
        ids = _uuid_storage(rid)
        if len(self.rep_lines):
            idx = pc.index_in(rb.column(rb.schema.get_field_index(LINE)), value_set=self.rep_lines)
            hit = pc.is_valid(idx)
            if pc.any(hit).as_py():
                ids = pc.if_else(hit, self.rep_ids.take(pc.fill_null(idx, 0)), ids)
                new = pa.ExtensionArray.from_storage(rid.type, ids)
                rb = rb.set_column(0, rb.schema.field(0), new)
        if len(self.stored):
            rb = rb.filter(pc.invert(pc.is_in(ids, value_set=self.stored)))
        return rb


def _uuid_storage(a: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The 16-byte storage of a UUID array (Arrow kernels work on it, not the extension)."""
    if isinstance(a, pa.ChunkedArray):
        a = a.combine_chunks() if a.num_chunks else pa.array([], a.type)
    return a.storage if isinstance(a, pa.ExtensionArray) else a


def ingest_files(
    lake: Lake,
    paths: list[Path],
    mapping: Mapping,
    *,
    dataset: str | None = None,
    synthetic: bool = False,
    on_file: Callable[[BatchReport], None] | None = None,
) -> dict[str, Any]:
    """Each file is a batch. A refused file is reported and the others still go in."""
    reports = []
    for path in paths:
        try:
            r = ingest_file(lake, path, mapping, dataset=dataset, synthetic=synthetic)
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
