"""Writes sorted Arrow tables to Parquet files of one table, one file per call.

Files get new unique names (batch id and a counter) and are fsynced before the batch's
manifest is committed; nothing is ever overwritten. A file the batch wrote and then replaced
(before any commit, so no reader ever saw it) is deleted by `remove`.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from peel.lake.catalog import FileEntry, crash_point, fsync_dir, fsync_file

ROW_GROUP = 122_880


def _dictionary_columns(table: pa.Table) -> list[str]:
    """Columns worth dictionary encoding, judged on the batch's first file: those with at most
    one distinct value in four rows (plates, cameras, codes, provenance). Trying a dictionary on
    unique columns (ids, times, image references) costs a third of the write time for nothing."""
    n = max(table.num_rows, 1)
    sample = table.slice(0, 65_536)
    m = max(sample.num_rows, 1)
    out = []
    for name, col in zip(table.schema.names, sample.columns, strict=True):
        if pa.types.is_dictionary(col.type):
            out.append(name)  # already a dictionary (provenance): written as it is
            continue
        if isinstance(col.type, pa.BaseExtensionType) or pa.types.is_nested(col.type):
            continue  # UUIDs are unique; lists keep the default
        if pc.count_distinct(col, mode="all").as_py() * 4 <= min(m, n):
            out.append(name)
    return out


class TableWriter:
    """Writes the files of one table for one batch. Safe to call from one thread at a time;
    `entries` lists what was written, in order."""

    def __init__(self, data_dir: Path, table: str, batch: str, *, fsync: bool) -> None:
        self.data_dir = data_dir
        self.table = table
        self.batch = batch
        self.fsync = fsync
        self.entries: list[FileEntry] = []
        self._counter = 0
        self._dict_cols: list[str] | None = None
        self._dirs: set[Path] = set()
        self._lock = threading.Lock()

    def plan_dictionary(self, table: pa.Table) -> None:
        """Choose the dictionary columns from `table` (the batch's first block) unless chosen.
        Chosen once per batch: the columns' cardinality does not change from block to block,
        and counting it costs."""
        with self._lock:
            if self._dict_cols is None:
                self._dict_cols = _dictionary_columns(table)

    def write_file(self, table: pa.Table, partition: str | None) -> FileEntry | None:
        """One new file holding `table`, in its order, under `partition` (a day or None)."""
        if table.num_rows == 0:
            return None
        folder = self.data_dir / "lake" / self.table
        if partition is not None:
            folder = folder / f"day={partition}"
        with self._lock:
            self._counter += 1
            counter = self._counter
            if self._dict_cols is None:
                self._dict_cols = _dictionary_columns(table)
        if folder not in self._dirs:
            folder.mkdir(parents=True, exist_ok=True)
            self._dirs.add(folder)
        path = folder / f"{self.batch}-{counter:05d}.parquet"
        pq.write_table(
            table,
            path,
            row_group_size=ROW_GROUP,
            compression="zstd",
            write_statistics=True,
            use_dictionary=self._dict_cols,
        )
        crash_point("data-written")
        if self.fsync:
            fsync_file(path)
        crash_point("data-fsynced")
        entry = FileEntry(
            path=str(path.relative_to(self.data_dir)),
            rows=table.num_rows,
            bytes=path.stat().st_size,
            partition=partition,
        )
        self.entries.append(entry)
        return entry

    def remove(self, entry: FileEntry) -> None:
        """Forget and delete a file this batch wrote (never committed, so never read)."""
        self.entries.remove(entry)
        (self.data_dir / entry.path).unlink(missing_ok=True)

    def close(self) -> list[FileEntry]:
        if self.fsync:
            for d in self._dirs:
                fsync_dir(d)
                fsync_dir(d.parent)
        return self.entries


__all__ = ["ROW_GROUP", "TableWriter"]
