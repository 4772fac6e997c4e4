"""One batch's rejected rows on their way to quarantine: staged on disk block by block, so a
file of millions of bad rows needs no more memory than a file of good ones, then written as one
Parquet file in the batch's commit.

A rejected row is quarantined with file, line, field, reason and its raw values: a JSON object
of column -> text for a row that failed validation ("fields"), or the record's text for one that
could not be split ("record"). Its identity (source, file, line, raw text) lets a rerun of the
same file report the row again without storing it twice.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from peel.ingest.framing import Reject
from peel.lake import DuckDBEngine, Lake
from peel.lake.catalog import FileEntry, fsync_file

QUARANTINE_SCHEMA = pa.schema(
    [
        ("quarantine_id", pa.string()),
        ("identity", pa.string()),
        ("batch", pa.string()),
        ("source", pa.string()),
        ("dataset", pa.string()),
        ("file", pa.string()),
        ("line", pa.int64()),
        ("field", pa.string()),
        ("reason", pa.string()),
        ("raw", pa.string()),
        ("raw_kind", pa.string()),  # "fields": JSON object of column -> text; "record": text
        ("input_format", pa.string()),
    ]
)
_STAGED = pa.schema(
    [
        ("line", pa.int64()),
        ("field", pa.string()),
        ("reason", pa.string()),
        ("raw", pa.string()),
        ("raw_kind", pa.string()),
    ]
)


class BatchRejects:
    """Collects a batch's rejected rows in staging files and counts them by reason."""

    def __init__(self, staging: Path) -> None:
        self.staging = staging
        self.count = 0
        self.reasons: Counter[str] = Counter()
        self._parts = 0

    def add_records(self, rejects: list[Reject]) -> None:
        """Records that could not be read as rows (framing, encoding, JSON)."""
        if rejects:
            self._stage(
                pa.table(
                    {
                        "line": pa.array([r.line for r in rejects], pa.int64()),
                        "field": pa.nulls(len(rejects), pa.string()),
                        "reason": pa.array([r.reason for r in rejects], pa.string()),
                        "raw": pa.array([r.raw for r in rejects], pa.string()),
                        "raw_kind": pa.array(["record"] * len(rejects), pa.string()),
                    },
                    schema=_STAGED,
                )
            )

    def add_rows(self, bad: pa.Table) -> None:
        """Rows that failed validation: `_line, _error_field, _errors, _raw` from validate."""
        if bad.num_rows:
            self._stage(
                pa.table(
                    {
                        "line": bad["_line"],
                        "field": bad["_error_field"],
                        "reason": bad["_errors"],
                        "raw": bad["_raw"],
                        "raw_kind": pa.array(["fields"] * bad.num_rows, pa.string()),
                    },
                    schema=_STAGED,
                )
            )

    def _stage(self, table: pa.Table) -> None:
        self._parts += 1
        pq.write_table(table, self.staging / f"rejects-{self._parts:06d}.parquet")
        self.count += table.num_rows
        for item in pc.value_counts(table["reason"]).to_pylist():
            self.reasons[item["values"]] += item["counts"]

    def write(
        self,
        lake: Lake,
        engine: DuckDBEngine,
        *,
        batch: str,
        source: str,
        dataset: str,
        file: str,
        input_format: str,
        resolving: set[str],
    ) -> tuple[list[FileEntry], int]:
        """Write the quarantine file of the batch, leaving out rows already open in quarantine
        from an earlier run of the same file (entries a retry is resolving do not count as
        open). Returns the file entries and how many entries were written."""
        if not self.count:
            return [], 0
        con = engine.con
        staged = f"read_parquet('{(self.staging / 'rejects-*.parquet').as_posix()}')"
        open_ids = _open_identities(lake, engine, resolving)
        folder = lake.settings.quarantine_dir
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{batch}.parquet"
        target = str(path).replace("'", "''")
        con.execute(
            f"""COPY (
                SELECT CAST(uuid() AS VARCHAR) AS quarantine_id, identity, $batch AS batch,
                       $source AS source, $dataset AS dataset, $file AS file, line, field,
                       reason, raw, raw_kind, $fmt AS input_format
                FROM (SELECT *, md5(concat_ws(chr(31), $source, $file, CAST(line AS VARCHAR),
                                              md5(coalesce(raw, '')))) AS identity
                      FROM {staged})
                WHERE identity NOT IN (SELECT identity FROM {open_ids})
                ORDER BY line
            ) TO '{target}' (FORMAT parquet, COMPRESSION zstd)""",
            {
                "batch": batch,
                "source": source,
                "dataset": dataset,
                "file": file,
                "fmt": input_format,
            },
        )
        written = pq.ParquetFile(path).metadata.num_rows
        if written == 0:
            path.unlink()
            return [], 0
        if lake.settings.fsync:
            fsync_file(path)
        entry = FileEntry(
            path=str(path.relative_to(lake.settings.data_dir)),
            rows=written,
            bytes=path.stat().st_size,
        )
        return [entry], written


def _open_identities(lake: Lake, engine: DuckDBEngine, resolving: set[str]) -> str:
    """A FROM-able relation of the identities of open quarantine entries of the source."""
    manifests = lake.catalog.manifests()
    closed = {q for m in manifests for q in m.resolves} | resolving
    files = [lake.settings.data_dir / f.path for m in manifests for f in m.quarantine]
    if not files:
        return "(SELECT CAST(NULL AS VARCHAR) AS identity WHERE false)"
    engine.con.register(
        "closed_quarantine", pa.table({"qid": pa.array(sorted(closed), pa.string())})
    )
    listed = ", ".join("'" + str(p).replace("'", "''") + "'" for p in files)
    return (  # $source is bound by the statement this relation is used in
        f"(SELECT identity FROM read_parquet([{listed}]) WHERE source = $source "
        "AND quarantine_id NOT IN (SELECT qid FROM closed_quarantine))"
    )


__all__ = ["QUARANTINE_SCHEMA", "BatchRejects"]
