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
from peel.lake.engine import PROVENANCE
from peel.lake.writer import PARTITION_COLUMN, TableWriter
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
        order = _OrderCheck(spec.layout.sort)
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
                day = pc.fill_null(
                    pc.strftime(out[spec.layout.partition_field], format="%Y-%m-%d"), "unknown"
                )
                out = out.append_column(PARTITION_COLUMN, day)
                days.update(pc.unique(day).to_pylist())
                order.check(out)
            if out.num_rows:
                part += 1
                # Staging is read once, moments later: no compression to spend time on.
                pq.write_table(out, staging / f"part-{part:06d}.parquet", compression="none")
                staged_rows += out.num_rows
        report.format = stats.format
        report.encoding = "+".join(sorted(stats.encodings)) or "utf-8"
        report.rows_quarantined = rejects.count
        report.quarantine_reasons = dict(rejects.reasons.most_common(50))
        seq = lake.catalog.next_seq()
        entries = (
            _finalise(lake, mapping, report, staging, seq, days, in_order=order.in_order)
            if staged_rows
            else []
        )
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
            input_sha256=retry.input_sha256 if retry else sha256_file(path),
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


class _OrderCheck:
    """Whether a batch's rows already arrive in the layout's sort order (ANPR exports usually
    do), so the final step can stream them instead of sorting."""

    def __init__(self, sort: tuple[str, ...]) -> None:
        self.field = sort[0] if len(sort) == 1 else None
        self.in_order = self.field is not None
        self._last: Any = None

    def check(self, table: pa.Table) -> None:
        if not self.in_order or self.field is None or table.num_rows == 0:
            return
        col = table[self.field]
        if col.null_count:
            self.in_order = False
            return
        first, last = col[0], col[-1]
        if self._last is not None and pc.less(first, self._last).as_py():
            self.in_order = False
            return
        if table.num_rows > 1:
            ordered = pc.less_equal(col.slice(0, len(col) - 1), col.slice(1))
            if not pc.all(ordered).as_py():
                self.in_order = False
                return
        self._last = last


def _finalise(
    lake: Lake,
    mapping: Mapping,
    report: BatchReport,
    staging: Path,
    seq: int,
    days: set[str],
    *,
    in_order: bool,
) -> list[FileEntry]:
    """Give staged rows their identity, drop those already stored, sort, and write.

    The usual batch has no repeated rows, none already stored and (for ANPR) rows in time
    order: it is then streamed straight through, with no join and no sort."""
    spec = mapping.entity
    engine = lake.engine()
    try:
        con = engine.con
        con.execute("SET TimeZone = 'UTC'")
        staged = f"read_parquet('{(staging / 'part-*.parquet').as_posix()}')"
        part_field = spec.layout.partition_field
        day = PARTITION_COLUMN if part_field else None
        partitions = days if part_field else None
        existing = engine.table_sql(spec.table, partitions)
        collisions = 0
        if lake.catalog.table_files(spec.table, partitions):
            ((collisions,),) = con.execute(
                f"SELECT count(*) FROM {existing} AS e "
                f"WHERE e.row_id IN (SELECT _identity FROM {staged})"
            ).fetchall()
        not_stored = (
            f"WHERE NOT EXISTS (SELECT 1 FROM {existing} AS e WHERE e.row_id = ids.row_id)"
            if collisions
            else ""
        )
        entity_cols = ", ".join(quote_ident(c) for c, _ in spec.physical_columns())
        order = [quote_ident(c) for c in spec.layout.sort]
        if day:
            order.insert(0, PARTITION_COLUMN)
        # The ordinal separates identical rows of one file. Most rows are unique, so number
        # only the repeated ones (a small window) instead of windowing the whole batch.
        repeats = con.execute(
            f"SELECT count(*) FROM (SELECT _identity FROM {staged} "
            "GROUP BY _identity HAVING count(*) > 1)"
        ).fetchall()
        # Joins do not keep row order; a plain scan of the staged parts does.
        need_sort = bool(order) and (not in_order or repeats[0][0] > 0 or collisions > 0)
        if repeats[0][0] == 0:
            ids = f"(SELECT *, _identity AS row_id FROM {staged})"
        else:
            ids = f"""(
            WITH rep AS (
                SELECT _identity FROM {staged} GROUP BY _identity HAVING count(*) > 1
            ), numbered AS (
                SELECT st._line, row_number() OVER (
                    PARTITION BY st._identity ORDER BY st._line) AS _ordinal
                FROM {staged} AS st SEMI JOIN rep ON st._identity = rep._identity
            ), ids AS (
                SELECT st.*, CASE WHEN n._ordinal IS NULL OR n._ordinal = 1 THEN st._identity
                    ELSE CAST(md5(CAST(st._identity AS VARCHAR) || '#' || n._ordinal) AS UUID)
                    END AS row_id
                FROM {staged} AS st LEFT JOIN numbered AS n ON st._line = n._line
            ) SELECT * FROM ids)"""
        sql = f"""
            SELECT ids.row_id, $source AS _source, $dataset AS _dataset, $batch AS _batch,
                   CAST($seq AS BIGINT) AS _seq, $file AS _file, _line, _record_key,
                   {entity_cols}
                   {", " + PARTITION_COLUMN if day else ""}
            FROM {ids} AS ids
            {not_stored}
            {"ORDER BY " + ", ".join(order) if need_sort else ""}
        """
        params = {
            "source": mapping.source,
            "dataset": report.dataset,
            "batch": report.batch,
            "seq": seq,
            "file": report.file,
        }
        reader = engine.reader(sql, params)
        writer = TableWriter(
            lake.settings.data_dir, spec.table, report.batch, fsync=lake.settings.fsync
        )
        expected = [c for c, _ in PROVENANCE]
        for rb in reader:
            assert rb.schema.names[: len(expected)] == expected
            writer.write(rb)
        return writer.close()
    finally:
        engine.close()


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
