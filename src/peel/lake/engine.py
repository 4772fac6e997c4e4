"""The engine seam: run SQL over the lake's committed files.

Job logic asks the engine for relations by table name and runs portable SQL; the DuckDB engine
below is the local implementation (Spark arrives later with the same few methods). A view per
table lists exactly the files committed manifests name, so uncommitted files are never read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from peel.lake.catalog import Catalog
from peel.schema import Registry, get_registry
from peel.settings import Settings

# Columns every lake row carries besides its entity's fields.
PROVENANCE = (
    ("row_id", "UUID"),
    ("_source", "VARCHAR"),
    ("_dataset", "VARCHAR"),
    ("_batch", "VARCHAR"),
    ("_seq", "BIGINT"),
    ("_file", "VARCHAR"),
    ("_line", "BIGINT"),
    ("_record_key", "VARCHAR"),
)


class Engine(Protocol):
    def query(self, sql: str, params: dict[str, Any] | None = None) -> pa.Table: ...

    def reader(self, sql: str, params: dict[str, Any] | None = None) -> pa.RecordBatchReader: ...

    def table_sql(self, table: str, partitions: set[str] | None = None) -> str: ...

    def temp_table(self, name: str, table: pa.Table) -> AbstractContextManager[None]: ...


def _sql_list(paths: list[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


class DuckDBEngine:
    """DuckDB in process; temp files under the data dir; memory and threads from settings."""

    def __init__(
        self, settings: Settings, catalog: Catalog, registry: Registry | None = None
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.registry = registry or get_registry()
        self.con = duckdb.connect()
        tmp = settings.data_dir / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        self.con.execute(f"SET threads = {int(settings.duckdb_threads)}")
        self.con.execute("SET memory_limit = $m", {"m": settings.duckdb_memory_limit})
        self.con.execute("SET temp_directory = $t", {"t": str(tmp)})
        self.con.execute("SET preserve_insertion_order = true")
        # stdout belongs to --json output: no progress bar from DuckDB.
        self.con.execute("SET enable_progress_bar = false")
        # UUIDs (row_id) travel to Arrow and Parquet as 16-byte UUIDs, not strings.
        self.con.execute("SET arrow_lossless_conversion = true")

    def close(self) -> None:
        self.con.close()

    def query(self, sql: str, params: dict[str, Any] | None = None) -> pa.Table:
        return self.con.sql(sql, params=params or {}).to_arrow_table()

    def reader(self, sql: str, params: dict[str, Any] | None = None) -> pa.RecordBatchReader:
        return self.con.sql(sql, params=params or {}).to_arrow_reader(65_536)

    @contextmanager
    def temp_table(self, name: str, table: pa.Table) -> Iterator[None]:
        """`table` queryable as `name` for the length of the block (a query's own small
        inputs: crime windows, a list of plates), then gone."""
        self.con.register(name, table)
        try:
            yield
        finally:
            self.con.unregister(name)

    def table_sql(self, table: str, partitions: set[str] | None = None) -> str:
        """A FROM-able SQL expression over the table's committed files (typed and empty when
        there are none, so queries on a new lake still run)."""
        files = self.catalog.table_files(table, partitions)
        if files:
            return (
                f"read_parquet({_sql_list(files)}, union_by_name = true, hive_partitioning = false)"
            )
        spec = self.registry.by_table(table)
        cols = [*PROVENANCE, *spec.physical_columns()]
        select = ", ".join(f'CAST(NULL AS {t}) AS "{c}"' for c, t in cols)
        return f"(SELECT {select} WHERE false)"

    def create_views(self) -> list[str]:
        """A view per table (all versions: the history) and `<table>_current` (the latest
        version of each keyed record, and every keyless row)."""
        names = []
        for spec in self.registry.entities.values():
            t = spec.table
            self.con.execute(f'CREATE OR REPLACE VIEW "{t}" AS SELECT * FROM {self.table_sql(t)}')
            self.con.execute(
                f'CREATE OR REPLACE VIEW "{t}_current" AS SELECT * FROM "{t}" '
                "QUALIFY _record_key IS NULL OR row_number() OVER "
                "(PARTITION BY _source, _record_key ORDER BY _seq DESC, _line DESC) = 1"
            )
            names.append(t)
        return names


__all__ = ["PROVENANCE", "DuckDBEngine", "Engine"]
