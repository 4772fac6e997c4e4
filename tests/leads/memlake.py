"""A tiny in-memory lake for the leads tests: an engine with the seam's methods over DuckDB
tables the test fills (cameras, reads, crimes), so edges can be placed to the metre and
second."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


class MemoryEngine:
    def __init__(self) -> None:
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")

    def query(self, sql: str, params: dict[str, Any] | None = None) -> pa.Table:
        return self.con.sql(sql, params=params or {}).to_arrow_table()

    def reader(self, sql: str, params: dict[str, Any] | None = None) -> pa.RecordBatchReader:
        return self.con.sql(sql, params=params or {}).to_arrow_reader(65_536)

    def table_sql(self, table: str, partitions: set[str] | None = None) -> str:
        # As the lake: anpr_read is partitioned by the UTC day of read_at, and a query given
        # partitions sees those days' reads only (so a wrong day set loses reads here too).
        if partitions is None or table != "anpr_read":
            return f'"{table}"'
        days = ", ".join(f"'{d}'" for d in sorted(partitions)) or "NULL"
        return (
            f"(SELECT * FROM \"{table}\" WHERE strftime(timezone('UTC', read_at), '%Y-%m-%d') "
            f"IN ({days}))"
        )

    @contextmanager
    def temp_table(self, name: str, table: pa.Table) -> Iterator[None]:
        self.con.register(name, table)
        try:
            yield
        finally:
            self.con.unregister(name)

    def close(self) -> None:
        self.con.close()

    def cameras(self, rows: list[tuple[str, float, float]]) -> None:
        self.con.execute(
            "CREATE OR REPLACE TABLE anpr_camera (camera_id VARCHAR, location_x DOUBLE, "
            "location_y DOUBLE, _seq BIGINT, _line BIGINT)"
        )
        for cid, x, y in rows:
            self.con.execute("INSERT INTO anpr_camera VALUES (?, ?, ?, 1, 1)", [cid, x, y])

    def reads(self, rows: list[tuple[str, str, str, datetime]]) -> None:
        self.con.execute(
            "CREATE OR REPLACE TABLE anpr_read (row_id VARCHAR, vrm VARCHAR, camera_id VARCHAR, "
            "read_at TIMESTAMPTZ)"
        )
        for rid, vrm, cam, at in rows:
            self.con.execute("INSERT INTO anpr_read VALUES (?, ?, ?, ?)", [rid, vrm, cam, at])

    def crimes(self, rows: list[tuple[str, str, float, float, datetime, datetime]]) -> None:
        self.con.execute(
            "CREATE OR REPLACE TABLE crime (crime_ref VARCHAR, crime_type VARCHAR, "
            "location_x DOUBLE, location_y DOUBLE, committed_from TIMESTAMPTZ, "
            "committed_to TIMESTAMPTZ, row_id VARCHAR, _dataset VARCHAR, _seq BIGINT, "
            "_line BIGINT)"
        )
        for ref, t, x, y, a, b in rows:
            self.con.execute(
                "INSERT INTO crime VALUES (?, ?, ?, ?, ?, ?, ?, 'test', 1, 1)",
                [ref, t, x, y, a, b, f"row-{ref}"],
            )
