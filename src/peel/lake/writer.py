"""Writes a sorted Arrow stream to Parquet files of one table, split by day partition.

Files get new unique names (batch id and a counter) and are fsynced before the batch's
manifest is committed; nothing is ever overwritten.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from peel.lake.catalog import FileEntry, crash_point, fsync_dir, fsync_file

PARTITION_COLUMN = "_day"
RUN_COLUMN = "_run"  # rows of one sorted run (a staged block); a new run starts a new file
ROW_GROUP = 122_880
FILE_ROWS = 8_000_000


def _dictionary_columns(batch: pa.RecordBatch) -> list[str]:
    """Columns worth dictionary encoding, judged on the file's first batch: those with at most
    one distinct value in four rows (plates, cameras, codes, provenance). Trying a dictionary on
    unique columns (ids, times, image references) costs a third of the write time for nothing."""
    n = max(batch.num_rows, 1)
    out = []
    for name, col in zip(batch.schema.names, batch.columns, strict=True):
        if isinstance(col.type, pa.BaseExtensionType) or pa.types.is_nested(col.type):
            continue  # UUIDs are unique; lists keep the default
        if pc.count_distinct(col, mode="all").as_py() * 4 <= n:
            out.append(name)
    return out


class TableWriter:
    """Consumes record batches sorted by `_day` (when partitioned) and writes Parquet files."""

    def __init__(self, data_dir: Path, table: str, batch: str, *, fsync: bool) -> None:
        self.data_dir = data_dir
        self.table = table
        self.batch = batch
        self.fsync = fsync
        self.entries: list[FileEntry] = []
        self._writer: pq.ParquetWriter | None = None
        self._path: Path | None = None
        self._partition: str | None = None
        self._rows = 0
        self._counter = 0
        self._run: int | None = None
        self._dict_cols: list[str] | None = None
        self._dirs: set[Path] = set()

    def write(self, batch: pa.RecordBatch) -> None:
        """Rows in order; a change of `_day` or of `_run` starts a new file."""
        if batch.num_rows == 0:
            return
        names = batch.schema.names
        runs = batch.column(names.index(RUN_COLUMN)).to_numpy() if RUN_COLUMN in names else None
        days = (
            pc.cast(batch.column(names.index(PARTITION_COLUMN)), pa.string()).to_numpy(
                zero_copy_only=False
            )
            if PARTITION_COLUMN in names
            else None
        )
        body = batch.drop_columns([c for c in (PARTITION_COLUMN, RUN_COLUMN) if c in names])
        change = np.zeros(batch.num_rows - 1, dtype=bool)
        if days is not None:
            change |= days[1:] != days[:-1]
        if runs is not None:
            change |= runs[1:] != runs[:-1]
        cuts = (np.flatnonzero(change) + 1).tolist()
        for a, b in zip([0, *cuts], [*cuts, batch.num_rows], strict=True):
            if runs is not None and int(runs[a]) != self._run:
                self._close()
                self._run = int(runs[a])
            self._write_part(body.slice(a, b - a), None if days is None else str(days[a]))

    def _write_part(self, batch: pa.RecordBatch, partition: str | None) -> None:
        if self._writer is not None and (partition != self._partition or self._rows >= FILE_ROWS):
            self._close()
        if self._writer is None:
            folder = self.data_dir / "lake" / self.table
            if partition is not None:
                folder = folder / f"day={partition}"
            folder.mkdir(parents=True, exist_ok=True)
            self._dirs.add(folder)
            self._counter += 1
            self._path = folder / f"{self.batch}-{self._counter:05d}.parquet"
            self._writer = pq.ParquetWriter(
                self._path,
                batch.schema,
                compression="zstd",
                write_statistics=True,
                use_dictionary=self._dictionary(batch),
            )
            self._partition = partition
            self._rows = 0
        self._writer.write_batch(batch, row_group_size=ROW_GROUP)
        self._rows += batch.num_rows

    def _dictionary(self, batch: pa.RecordBatch) -> list[str]:
        """Chosen on the batch's first file and kept for the rest: the columns' cardinality
        does not change from block to block, and counting it costs."""
        if self._dict_cols is None:
            self._dict_cols = _dictionary_columns(batch)
        return self._dict_cols

    def _close(self) -> None:
        if self._writer is None or self._path is None:
            return
        self._writer.close()
        crash_point("data-written")
        if self.fsync:
            fsync_file(self._path)
        crash_point("data-fsynced")
        self.entries.append(
            FileEntry(
                path=str(self._path.relative_to(self.data_dir)),
                rows=self._rows,
                bytes=self._path.stat().st_size,
                partition=self._partition,
            )
        )
        self._writer = None
        self._path = None

    def close(self) -> list[FileEntry]:
        self._close()
        if self.fsync:
            for d in self._dirs:
                fsync_dir(d)
                fsync_dir(d.parent)
        return self.entries


__all__ = ["PARTITION_COLUMN", "RUN_COLUMN", "TableWriter"]
