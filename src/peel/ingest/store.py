"""The second half of a batch: validated blocks become the lake's final files while the next
block is still being read and validated.

A background thread takes each validated block, enriches it, puts it in order (the partition's
day, then the table's sort fields), drops the rows whose identity the day partition already
stores, and writes one zstd Parquet file per block and day. Nothing is visible until the batch's
manifest commits, so the files can be written before the whole batch is known:

- Every row is first given its identity as its `row_id`. That is right for all rows except a
  second or later copy of identical content within the same file, whose id also carries its
  ordinal (`md5(<identity> || '#' || ordinal)`, as text). Those copies are found at the end by
  one query over the identities and lines the thread spilled block by block (16 + 12 bytes a
  row on disk, so memory stays bounded however large the file). Usually there are none; when
  there are, only the files holding them are written again, and copies that were dropped as
  already stored under their identity come back if their ordinal id is not stored.
- The rows dropped as already stored are kept in staging (a few, normally) for that case.

The main thread only validates (DuckDB, which releases the GIL), so reading, validating and
writing overlap on two cores.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from peel.ingest.dedupe import CACHE_IDS, StoredIds, id_words
from peel.ingest.readers import LINE
from peel.lake.catalog import FileEntry, Manifest
from peel.lake.writer import TableWriter
from peel.schema import EntitySpec

IDENTITY = "_identity"
UNKNOWN_DAY = "unknown"  # the partition of rows whose partition field is empty
_NO_DAY = np.iinfo(np.int32).min  # stands for a null day in numpy
_DONE = object()


@dataclass
class Provenance:
    source: str
    dataset: str
    batch: str
    seq: int
    file: str


@dataclass
class _Written:
    entry: FileEntry
    first_line: int
    last_line: int


def as_uuid(ids: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The identity column as an Arrow UUID array. DuckDB's `md5_number` arrives as 16 opaque
    bytes that are exactly the MD5 digest, as `CAST(md5(...) AS UUID)` would give them."""
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks() if ids.num_chunks != 1 else ids.chunk(0)
    if isinstance(ids, pa.ExtensionArray):
        ids = ids.storage
    return pa.ExtensionArray.from_storage(pa.uuid(), ids.cast(pa.binary(16)))


class _Constants:
    """String columns holding one value in every row, as slices of one array per value."""

    def __init__(self) -> None:
        self._arrays: dict[str, pa.Array] = {}

    def __call__(self, value: str, n: int) -> pa.Array:
        have = self._arrays.get(value)
        if have is None or len(have) < n:
            size = max(n, 1 << 16)
            raw = value.encode()
            offsets = np.arange(0, (size + 1) * len(raw), len(raw) or 1, dtype=np.int64)
            if not raw:
                offsets = np.zeros(size + 1, dtype=np.int64)
            have = pa.LargeStringArray.from_buffers(
                size, pa.py_buffer(offsets), pa.py_buffer(raw * size)
            ).cast(pa.string())
            self._arrays[value] = have
        return have.slice(0, n)


def without_rows(table: pa.Table, drop: np.ndarray) -> pa.Table:
    """The table without the rows at `drop` (sorted), as zero-copy slices of the runs between
    them: bad rows are few, and copying every good row to lose them costs the main thread
    (the store thread combines the slices if there are many)."""
    pieces = []
    start = 0
    for i in drop.tolist():
        if i > start:
            pieces.append(table.slice(start, i - start))
        start = i + 1
    if start < table.num_rows:
        pieces.append(table.slice(start))
    return pa.concat_tables(pieces) if pieces else table.slice(0, 0)


def day_name(day: int) -> str:
    return UNKNOWN_DAY if day == _NO_DAY else str(np.datetime64(int(day), "D"))


def stored_files(
    manifests: list[Manifest], data_dir: Path, table: str, *, partitioned: bool
) -> tuple[dict[str | None, list[Path]], dict[str | None, int]]:
    files: dict[str | None, list[Path]] = {}
    rows: dict[str | None, int] = {}
    for m in manifests:
        for f in m.tables.get(table, []):
            key = f.partition if partitioned else None
            files.setdefault(key, []).append(data_dir / f.path)
            rows[key] = rows.get(key, 0) + f.rows
    return files, rows


class BatchStore:
    """Turns validated blocks into the batch's files on a thread of its own."""

    def __init__(
        self,
        *,
        spec: EntitySpec,
        writer: TableWriter,
        stored: StoredIds,
        provenance: Provenance,
        staging: Path,
        prepare: Callable[[pa.Table], pa.Table],
        key_field: str | None = None,
    ) -> None:
        self.spec = spec
        self.writer = writer
        self.stored = stored
        self.prov = provenance
        self.staging = staging
        self.prepare = prepare
        self.key_field = key_field  # the column that is also the record key, if any
        self.staged_rows = 0
        self._written: list[_Written] = []
        self._dropped: list[tuple[Path, str | None]] = []
        self._ids = 0
        self._const = _Constants()
        self._queue: queue.Queue[object] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="peel-store", daemon=True)
        self._thread.start()

    # --- the main thread's side ------------------------------------------------------------

    def put(self, table: pa.Table) -> None:
        """Hand over a validated block (good rows only). Blocks while the thread is busy with
        the previous one, so at most two blocks are in memory here."""
        while True:
            self._raise()
            try:
                self._queue.put(table, timeout=0.1)
                return
            except queue.Full:
                continue

    def finish(self, con: duckdb.DuckDBPyConnection) -> list[FileEntry]:
        """Wait for the thread, give repeated content its ordinal ids, and return the files."""
        self.put(_DONE)
        self._thread.join()
        self._raise()
        if self._ids:
            self._fix_repeats(con)
        return self.writer.close()

    def abort(self) -> None:
        """Stop the thread (after an error elsewhere, or once finished); waits for the block
        it is working on."""
        self._error = self._error or RuntimeError("the batch was abandoned")
        while self._thread.is_alive():
            try:
                self._queue.put_nowait(_DONE)
            except queue.Full:  # a block is waiting: take it away, then say stop
                with contextlib.suppress(queue.Empty):
                    self._queue.get_nowait()
                continue
            self._thread.join(timeout=0.1)

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    # --- the thread ------------------------------------------------------------------------

    def _loop(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is _DONE or self._error is not None:
                    return
                assert isinstance(item, pa.Table)
                self._store(item)
        except BaseException as e:  # handed to the main thread, which re-raises it
            self._error = e

    def _store(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        if table[LINE].num_chunks > 64:  # many slices (bad rows left out): one copy here
            table = table.combine_chunks()
        table = self.prepare(table)
        n = table.num_rows
        layout = self.spec.layout
        days = (
            pc.fill_null(_days(table[layout.partition_field]), _NO_DAY).to_numpy()
            if layout.partition_field
            else None
        )
        ids = as_uuid(table[IDENTITY])
        self.staged_rows += n
        self._ids += 1
        spill = {IDENTITY: ids, LINE: table[LINE]}
        if days is not None:
            spill["_day"] = pa.array(days, mask=days == _NO_DAY)
        pq.write_table(
            pa.table(spill),
            self.staging / f"ids-{self._ids:06d}.parquet",
            compression="none",
            use_dictionary=False,
            write_statistics=False,
        )
        # Rows the lake already stores, looked up in their day's stored ids.
        words = id_words(ids)
        known = np.zeros(n, dtype=bool)
        for day in [None] if days is None else np.unique(days).tolist():
            part = None if day is None else day_name(day)
            sel = slice(None) if days is None else days == day
            known[sel] = self.stored.contains(part, words[sel])
        if known.any():
            gone = np.flatnonzero(known)
            dropped = self._final_columns(table.take(gone), ids.take(gone))
            gone_days = None if days is None else days[gone]
            for part, a, b in _runs(gone_days, len(gone)):
                self._drop(dropped.slice(a, b - a), part)
        # The rest in storage order, taken once: the sort and the drop in one copy (none when
        # the block is in order and nothing is dropped).
        order = self._order(table, days)
        if known.any():
            keep = np.flatnonzero(~known) if order is None else order[~known[order]]
        else:
            keep = order
        if keep is not None:
            table, ids = table.take(keep), ids.take(keep)
            days = None if days is None else days[keep]
        body = self._final_columns(table.drop_columns([IDENTITY]), ids)
        self.writer.plan_dictionary(body)
        for part, a, b in _runs(days, body.num_rows):
            self._write(body.slice(a, b - a), part)

    def _order(self, table: pa.Table, days: np.ndarray | None) -> np.ndarray | None:
        """Row numbers in storage order (day, then the table's sort fields; stable, so equal
        rows keep their line order), or None when the block is in that order already."""
        layout = self.spec.layout
        keys = list(layout.sort)
        if days is not None and (not keys or keys[0] != layout.partition_field):
            keys.insert(0, "_day")
            table = table.append_column("_day", pa.array(days))
        if not keys or _is_sorted(table, keys):
            return None
        if len(keys) == 1:
            return np.asarray(pc.sort_indices(table[keys[0]]))
        return np.asarray(pc.sort_indices(table, sort_keys=[(k, "ascending") for k in keys]))

    def _final_columns(self, table: pa.Table, ids: pa.Array) -> pa.Table:
        n = table.num_rows
        p = self.prov
        cols: dict[str, Any] = {
            "row_id": ids,
            "_source": self._const(p.source, n),
            "_dataset": self._const(p.dataset, n),
            "_batch": self._const(p.batch, n),
            "_seq": pa.array(np.full(n, p.seq, dtype=np.int64)),
            "_file": self._const(p.file, n),
            LINE: table[LINE],
            "_record_key": table[self.key_field or "_record_key"],
        }
        for name, _ in self.spec.physical_columns():
            cols[name] = table[name]
        return pa.table(cols)

    def _write(self, piece: pa.Table, part: str | None) -> None:
        entry = self.writer.write_file(piece, part)
        if entry is not None:
            lines = piece[LINE]
            lo, hi = pc.min_max(lines).values()
            self._written.append(_Written(entry, int(lo.as_py()), int(hi.as_py())))

    def _drop(self, rows: pa.Table, part: str | None) -> None:
        path = self.staging / f"dropped-{len(self._dropped):06d}.parquet"
        pq.write_table(rows, path, compression="none", use_dictionary=False)
        self._dropped.append((path, part))

    # --- after the last block --------------------------------------------------------------

    def _fix_repeats(self, con: duckdb.DuckDBPyConnection) -> None:
        spill = f"read_parquet('{(self.staging / 'ids-*.parquet').as_posix()}')"
        day = "st._day" if self.spec.layout.partition_field else "CAST(NULL AS INTEGER) AS _day"
        repeats = con.sql(
            f"""WITH rep AS (
                    SELECT {IDENTITY} FROM {spill} GROUP BY {IDENTITY} HAVING count(*) > 1
                ), numbered AS (
                    SELECT st.{LINE}, {day}, st.{IDENTITY}, row_number() OVER (
                        PARTITION BY st.{IDENTITY} ORDER BY st.{LINE}) AS _ordinal
                    FROM {spill} AS st SEMI JOIN rep ON st.{IDENTITY} = rep.{IDENTITY}
                )
                SELECT {LINE}, _day,
                       CAST(md5(CAST({IDENTITY} AS VARCHAR) || '#' || _ordinal) AS UUID) AS row_id
                FROM numbered WHERE _ordinal > 1 ORDER BY {LINE}"""
        ).to_arrow_table()
        if repeats.num_rows == 0:
            return
        # Which of the ordinal ids are stored already (a rerun of a file with repeats).
        rep_lines = repeats[LINE].combine_chunks()
        rep_ids = as_uuid(repeats["row_id"])
        rep_days = repeats["_day"].to_numpy(zero_copy_only=False)
        partitioned = self.spec.layout.partition_field is not None
        known = np.zeros(repeats.num_rows, dtype=bool)
        words = id_words(rep_ids)
        parts = [
            None if not partitioned else day_name(_NO_DAY if np.isnan(d) else int(d))
            for d in rep_days.astype(np.float64)
        ]
        for part in set(parts):
            idx = np.flatnonzero(np.array([p == part for p in parts]))
            known[idx] = self.stored.contains(part, words[idx])
        fix = _Fix(rep_lines, rep_ids, known)
        by_part: dict[str | None, np.ndarray] = {}
        for part in set(parts):
            by_part[part] = np.sort(
                rep_lines.to_numpy()[np.array([p == part for p in parts], dtype=bool)]
            )
        for w in list(self._written):
            lines = by_part.get(w.entry.partition)
            if lines is None:
                continue
            k = int(np.searchsorted(lines, w.first_line))
            if k >= len(lines) or lines[k] > w.last_line:
                continue
            table = pq.read_table(self.writer.data_dir / w.entry.path)
            self._written.remove(w)
            self.writer.remove(w.entry)
            self._write(fix(table), w.entry.partition)
        # Copies dropped as stored under their identity whose ordinal id is new.
        back: dict[str | None, list[pa.Table]] = {}
        for path, part in self._dropped:
            t = pq.read_table(path)
            t = fix(t, only_fixed=True)
            if t.num_rows:
                back.setdefault(part, []).append(t)
        for part, tables in back.items():
            t = pa.concat_tables(tables)
            keys = list(self.spec.layout.sort) or [LINE]
            self._write(t.sort_by([(k, "ascending") for k in keys]), part)


class _Fix:
    """Gives the listed lines their ordinal ids and drops those already stored."""

    def __init__(self, lines: pa.Array, ids: pa.Array, known: np.ndarray) -> None:
        self.lines = lines
        self.ids = ids.storage if isinstance(ids, pa.ExtensionArray) else ids
        self.known_lines = lines.filter(pa.array(known))

    def __call__(self, table: pa.Table, *, only_fixed: bool = False) -> pa.Table:
        if table.num_rows == 0:
            return table
        table = table.combine_chunks()
        idx = pc.index_in(table[LINE].chunk(0), value_set=self.lines)
        hit = pc.is_valid(idx)
        old = table["row_id"].chunk(0)
        old_storage = old.storage if isinstance(old, pa.ExtensionArray) else old
        new = pc.if_else(hit, self.ids.take(pc.fill_null(idx, 0)), old_storage)
        table = table.set_column(0, "row_id", pa.ExtensionArray.from_storage(pa.uuid(), new))
        keep = pc.invert(pc.is_in(table[LINE], value_set=self.known_lines))
        if only_fixed:
            keep = pc.and_(keep, hit)
        return table.filter(keep)


def _runs(days: np.ndarray | None, n: int) -> list[tuple[str | None, int, int]]:
    """(partition, start, stop) of each run of equal days in order (one run when unpartitioned)."""
    if n == 0:
        return []
    if days is None:
        return [(None, 0, n)]
    cuts = [0, *(np.flatnonzero(days[1:] != days[:-1]) + 1).tolist(), n]
    return [(day_name(int(days[a])), a, b) for a, b in itertools.pairwise(cuts)]


def _days(times: pa.ChunkedArray) -> pa.Array:
    """The UTC day of each time (days since 1970-01-01, int32; null where the time is)."""
    t = times.combine_chunks() if isinstance(times, pa.ChunkedArray) else times
    if pa.types.is_timestamp(t.type) and t.type.unit == "us":
        us = pc.fill_null(t.view(pa.int64()), 0).to_numpy()
        day = np.floor_divide(us, 86_400_000_000).astype(np.int32)
        mask = ~t.is_valid().to_numpy(zero_copy_only=False) if t.null_count else None
        return pa.array(day, pa.int32(), mask=mask)
    return pc.cast(pc.cast(t, pa.date32()), pa.int32())


def _is_sorted(table: pa.Table, keys: list[str]) -> bool:
    """True when one numeric or time key is already in ascending order with no nulls (the
    usual case for a block DuckDB ordered); False means "sort it"."""
    if len(keys) != 1:
        return False
    col = table[keys[0]]
    if col.null_count or not (
        pa.types.is_timestamp(col.type)
        or pa.types.is_integer(col.type)
        or pa.types.is_date(col.type)
    ):
        return False
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    values = col.view(pa.int64()) if pa.types.is_timestamp(col.type) else col.cast(pa.int64())
    v = values.to_numpy()
    return bool(np.all(v[1:] >= v[:-1]))


__all__ = [
    "CACHE_IDS",
    "IDENTITY",
    "BatchStore",
    "Provenance",
    "as_uuid",
    "stored_files",
    "without_rows",
]
