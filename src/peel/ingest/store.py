"""The second half of a batch: validated blocks become the lake's final files while the next
block is still being read and validated.

A background thread takes each validated block, enriches it, puts it in order (the partition's
day, then the table's sort fields), drops the rows whose identity the day partition already
stores and the rows that failed validation (all in one copy), and hands one table per block and
day to a second thread, which writes it as a zstd Parquet file and fsyncs it. Nothing is visible
until the batch's manifest commits, so the files can be written before the whole batch is
known:

- Every row is first given its identity as its `row_id`. That is right for all rows except a
  second or later copy of identical content within the same file, whose id also carries its
  ordinal (`md5(<identity> || '#' || ordinal)`, as text). Those copies are found at the end by
  one query over the identities and lines the thread spilled block by block (16 + 20 bytes a
  row on disk, so memory stays bounded however large the file). A Bloom filter of the
  identities seen (`SeenIds`) names the candidates, so the query looks only at them, and is
  skipped when there are none. Usually nothing repeats; when something does, only the files
  holding the copies are written again, and copies that were dropped as already stored under
  their identity come back if their ordinal id is not stored.
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

from peel.ingest.dedupe import CACHE_IDS, SeenIds, StoredIds, id_words
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
    """String columns holding one value in every row, as dictionary arrays (one value, every
    index 0): the Parquet writer stores them dictionary-encoded as they are, without hashing
    every row's value to build the dictionary. The indices are slices of one array."""

    def __init__(self) -> None:
        self._zeros = pa.array(np.zeros(1 << 16, dtype=np.int32))
        self._values: dict[str, pa.Array] = {}

    def __call__(self, value: str, n: int) -> pa.Array:
        if len(self._zeros) < n:
            self._zeros = pa.array(np.zeros(n, dtype=np.int32))
        values = self._values.get(value)
        if values is None:
            values = self._values[value] = pa.array([value], pa.string())
        return pa.DictionaryArray.from_arrays(self._zeros.slice(0, n), values)


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
        self._seen = SeenIds()
        self._const = _Constants()
        self._queue: queue.Queue[object] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="peel-store", daemon=True)
        # The Parquet files are written (compressed, fsynced) on a thread of their own, so the
        # next block is being put in order while this one is written; at most one waits.
        self._files: queue.Queue[object] = queue.Queue(maxsize=1)
        self._file_thread = threading.Thread(
            target=self._write_loop, name="peel-write", daemon=True
        )
        self._thread.start()
        self._file_thread.start()

    # --- the main thread's side ------------------------------------------------------------

    def put(self, table: pa.Table, bad: np.ndarray | None = None) -> None:
        """Hand over a validated block; `bad` lists (in order) the rows that failed, which are
        left out. Blocks while the thread is busy with the previous one, so at most two blocks
        are in memory here."""
        while True:
            self._raise()
            try:
                self._queue.put((table, bad), timeout=0.1)
                return
            except queue.Full:
                continue

    def finish(self, con: duckdb.DuckDBPyConnection) -> list[FileEntry]:
        """Wait for the thread, give repeated content its ordinal ids, and return the files."""
        while True:  # the end marker, queued behind the last block
            self._raise()
            try:
                self._queue.put(_DONE, timeout=0.1)
                break
            except queue.Full:
                continue
        self._thread.join()
        self._raise()
        while True:  # and behind the last file
            self._raise()
            try:
                self._files.put(_DONE, timeout=0.1)
                break
            except queue.Full:
                continue
        self._file_thread.join()
        self._raise()
        if self._ids and self._seen.overflowed:
            self._fix_repeats(con, None)
        elif self._ids:
            candidates = self._seen.candidates()
            if len(candidates):  # else no content repeats: nothing to look for
                self._fix_repeats(con, candidates)
        return self.writer.close()

    def abort(self) -> None:
        """Stop the thread (after an error elsewhere, or once finished); waits for the block
        it is working on."""
        self._error = self._error or RuntimeError("the batch was abandoned")
        for q, thread in ((self._queue, self._thread), (self._files, self._file_thread)):
            while thread.is_alive():
                try:
                    q.put_nowait(_DONE)
                except queue.Full:  # a block is waiting: take it away, then say stop
                    with contextlib.suppress(queue.Empty):
                        q.get_nowait()
                    continue
                thread.join(timeout=0.1)

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
                assert isinstance(item, tuple)
                self._store(*item)
        except BaseException as e:  # handed to the main thread, which re-raises it
            self._error = e

    def _write_loop(self) -> None:
        try:
            while True:
                item = self._files.get()
                if item is _DONE or self._error is not None:
                    return
                assert isinstance(item, tuple)
                self._write(*item)
        except BaseException as e:  # handed to the main thread, which re-raises it
            self._error = e

    def _hand(self, piece: pa.Table, part: str | None) -> None:
        """Queue one file for the writing thread (waits while one is already waiting)."""
        while True:
            self._raise()
            try:
                self._files.put((piece, part), timeout=0.1)
                return
            except queue.Full:
                continue

    def _store(self, table: pa.Table, bad: np.ndarray | None = None) -> None:
        if bad is not None and len(bad) == 0:
            bad = None
        if table.num_rows == 0 or (bad is not None and len(bad) == table.num_rows):
            return
        table = self.prepare(table)
        layout = self.spec.layout
        # The block's good rows (None: all of them). The narrow columns are taken at those rows
        # now; the wide ones once, below, in storage order.
        good = None if bad is None else np.delete(np.arange(table.num_rows), bad)
        days = (
            pc.fill_null(_days(table[layout.partition_field]), _NO_DAY).to_numpy()
            if layout.partition_field
            else None
        )
        ids = as_uuid(table[IDENTITY])
        lines = _one(table[LINE])
        if good is not None:
            ids, lines = ids.take(good), lines.take(good)
            days = None if days is None else days[good]
        n = len(ids)
        self.staged_rows += n
        self._ids += 1
        words = id_words(ids)
        first = np.ascontiguousarray(words[:, 0])
        # One sort of the block by the ids' first 64 bits, shared by the repeat filter and the
        # stored-id lookups (each day's ids stay in that order when picked out of it).
        by_first = np.argsort(first)
        self._seen.add(first[by_first], presorted=True)
        spill = {IDENTITY: ids, LINE: lines, "_first": pa.array(first)}
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
        known = np.zeros(n, dtype=bool)
        day_list = [None] if days is None else np.unique(days).tolist()
        for day in day_list:
            part = None if day is None else day_name(day)
            if not self.stored.holds(part):
                continue
            sel = (
                by_first if days is None or len(day_list) == 1 else by_first[days[by_first] == day]
            )
            known[sel] = self.stored.contains(part, words[sel], presorted=True)
        if known.any():
            # Two takes follow (the stored rows, then the rest): columns in pieces are joined
            # once here, not once in each.
            if any(c.num_chunks > 1 for c in table.columns):
                table = pa.Table.from_arrays([_one(c) for c in table.columns], schema=table.schema)
            gone = np.flatnonzero(known)
            rows = gone if good is None else good[gone]
            dropped = self._final_columns(table.take(rows), ids.take(gone))
            gone_days = None if days is None else days[gone]
            for part, a, b in _runs(gone_days, len(gone)):
                self._drop(dropped.slice(a, b - a), part)
        # The rest in storage order, taken once: the sort and the drop of stored and bad rows
        # in one copy (none when the block is in order and nothing is dropped).
        order = self._order(table, days, good)
        if known.any():
            keep = np.flatnonzero(~known) if order is None else order[~known[order]]
        else:
            keep = order
        if keep is not None:
            table = table.take(keep if good is None else good[keep])
            ids = ids.take(keep)
            days = None if days is None else days[keep]
        elif bad is not None:  # in order, only bad rows to leave out: zero-copy slices
            table = without_rows(table, bad)
        body = self._final_columns(table.drop_columns([IDENTITY]), ids)
        self.writer.plan_dictionary(body)
        for part, a, b in _runs(days, body.num_rows):
            self._hand(body.slice(a, b - a), part)

    def _order(
        self, table: pa.Table, days: np.ndarray | None, good: np.ndarray | None
    ) -> np.ndarray | None:
        """Positions among the `good` rows (all rows if None) in storage order (day, then
        the table's sort fields; stable, so equal rows keep their line order), or None when
        they are in that order already."""
        layout = self.spec.layout
        keys = list(layout.sort)
        if days is not None and (not keys or keys[0] != layout.partition_field):
            keys.insert(0, "_day")
        if not keys:
            return None
        if len(keys) == 1 and keys[0] != "_day":
            fast = _int_keys(table[keys[0]], good)
            if fast is not None:
                return _stable_order(fast)
        if good is not None:
            table = table.select([k for k in keys if k != "_day"]).take(pa.array(good))
        if "_day" in keys:
            table = table.append_column("_day", pa.array(days))
        if _is_sorted(table, keys):
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

    def _fix_repeats(self, con: duckdb.DuckDBPyConnection, candidates: np.ndarray | None) -> None:
        """Give the second and later copies of each repeated identity their ordinal ids.
        `candidates` holds the first 64 bits of every identity that may repeat, or is None to
        look at all of them."""
        spill = f"read_parquet('{(self.staging / 'ids-*.parquet').as_posix()}')"
        day = "st._day" if self.spec.layout.partition_field else "CAST(NULL AS INTEGER) AS _day"
        among = ""
        if candidates is not None:
            con.register("_peel_candidates", pa.table({"_first": pa.array(candidates)}))
            among = "SEMI JOIN _peel_candidates AS c ON sp._first = c._first"
        repeats = con.sql(
            f"""WITH rep AS (
                    SELECT sp.{IDENTITY} FROM {spill} AS sp {among}
                    GROUP BY sp.{IDENTITY} HAVING count(*) > 1
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


def _one(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(col, pa.ChunkedArray):
        return col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    return col


def _int_keys(col: pa.ChunkedArray, good: np.ndarray | None) -> np.ndarray | None:
    """One sort key (a time, date or integer with no nulls) as int64 at the `good` rows, or
    None for other keys."""
    if not (
        pa.types.is_timestamp(col.type)
        or pa.types.is_integer(col.type)
        or pa.types.is_date(col.type)
    ):
        return None
    a = _one(col)
    if good is not None and a.null_count:
        a = a.take(good)
    if a.null_count:
        return None
    if pa.types.is_timestamp(a.type):
        v = a.view(pa.int64()).to_numpy()
    else:
        v = a.cast(pa.int64()).to_numpy()
    return v if good is None or len(v) == len(good) else v[good]


def _stable_order(v: np.ndarray) -> np.ndarray | None:
    """Positions of int64 keys in ascending order, equal keys in position order (a stable
    sort), or None when they are in order already. Keys close together (a block's times) are
    sorted as one unique key each, (key - min) beside the position, with numpy's fast
    unstable sort; others with a stable sort."""
    if len(v) < 2 or bool(np.all(v[1:] >= v[:-1])):
        return None
    lo, hi = int(v.min()), int(v.max())
    shift = max(int(len(v) - 1).bit_length(), 1)
    if (hi - lo) < (1 << (63 - shift)):
        packed = ((v - lo).astype(np.uint64) << np.uint64(shift)) | np.arange(
            len(v), dtype=np.uint64
        )
        packed.sort()
        return (packed & np.uint64((1 << shift) - 1)).astype(np.int64)
    return np.argsort(v, kind="stable")


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
