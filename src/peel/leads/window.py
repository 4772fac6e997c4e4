"""The window query: reads by cameras within a radius of each crime, inside its committed
window widened by a margin. Portable SQL through the engine seam; positions are the projected
ones (metres), so a radius is plain geometry, and edges are inclusive (a read exactly at the
radius or exactly at the widened edge counts)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from peel.lake.engine import Engine
from peel.leads.crimes import Crime, current_sql

PLATE = "upper(replace({c}, ' ', ''))"


def read_days(spans: Iterable[tuple[datetime, datetime]]) -> set[str]:
    """The lake's day partitions of `anpr_read` (UTC days of read_at, `YYYY-MM-DD`) that hold
    reads taken from lo to hi of any span: the only files a query over those spans opens."""
    days: set[str] = set()
    for lo, hi in spans:
        d, end = lo.astimezone(UTC).date(), hi.astimezone(UTC).date()
        while d <= end:
            days.add(d.isoformat())
            d += timedelta(days=1)
    return days


def _windows_days(windows: pa.Table) -> set[str]:
    return read_days(
        zip(windows.column("lo").to_pylist(), windows.column("hi").to_pylist(), strict=True)
    )


def cameras(engine: Engine) -> pa.Table:
    """Every camera with a projected position: camera_id, x, y."""
    return engine.query(
        f"SELECT camera_id, location_x AS x, location_y AS y FROM "
        f"{current_sql(engine, 'anpr_camera', 'camera_id')} c "
        "WHERE location_x IS NOT NULL AND location_y IS NOT NULL ORDER BY camera_id"
    )


def windows_table(
    crimes: Sequence[Crime], *, margin_min: float, set_ids: Sequence[int] | None = None
) -> pa.Table:
    """One row per crime: query set, index in the set, position and the widened window."""
    m = timedelta(minutes=margin_min)
    return pa.table(
        {
            "qid": pa.array(
                list(set_ids) if set_ids is not None else [0] * len(crimes), pa.int64()
            ),
            "ci": pa.array(range(len(crimes)), pa.int64()),
            "x": pa.array([c.x for c in crimes], pa.float64()),
            "y": pa.array([c.y for c in crimes], pa.float64()),
            "lo": pa.array([c.committed_from - m for c in crimes], pa.timestamp("us", tz="UTC")),
            "hi": pa.array([c.committed_to + m for c in crimes], pa.timestamp("us", tz="UTC")),
        }
    )


def window_hits(engine: Engine, windows: pa.Table, *, radius_m: float) -> pa.Table:
    """(qid, ci, plate, camera_id, read_at, read_id) for every read at a camera within
    `radius_m` of a crime and inside its widened window. `windows` as `windows_table` makes.
    The reads are joined on camera and time range (an interval join written as plain SQL)
    over the day partitions the windows touch only: a search opens those days' files, not the
    year's."""
    reads = engine.table_sql("anpr_read", _windows_days(windows))
    with engine.temp_table("peel_leads_windows", windows):
        return engine.query(
            f"""
            WITH cams AS (
              SELECT camera_id, location_x AS cx, location_y AS cy
              FROM {current_sql(engine, "anpr_camera", "camera_id")} c
              WHERE location_x IS NOT NULL AND location_y IS NOT NULL
            ), near AS (
              SELECT w.qid, w.ci, c.camera_id, w.lo, w.hi
              FROM peel_leads_windows w JOIN cams c
                ON (c.cx - w.x) * (c.cx - w.x) + (c.cy - w.y) * (c.cy - w.y) <= $r2
            )
            SELECT n.qid, n.ci, {PLATE.format(c="r.vrm")} AS plate, r.camera_id, r.read_at,
                   CAST(r.row_id AS VARCHAR) AS read_id
            FROM {reads} r
            JOIN near n ON r.camera_id = n.camera_id AND r.read_at >= n.lo AND r.read_at <= n.hi
            WHERE r.vrm IS NOT NULL
            ORDER BY n.qid, n.ci, r.read_at, read_id
            """,
            {"r2": radius_m * radius_m},
        )


# Bounds for "any time" (a query given day partitions needs no time bounds).
ALL_TIME = (datetime(1900, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC))
NO_SPELLINGS = pa.table({"vrm": pa.array([], pa.string()), "plate": pa.array([], pa.string())})


def plate_filter(column: str, spellings: pa.Table | None) -> str:
    """SQL for "the read's plate is one of peel_leads_plates": on the raw column when the
    plates' raw spellings are known (`spellings`, loaded into peel_leads_spellings by
    `plates_tables`), which costs a third of normalising every read scanned."""
    if spellings is not None:
        return f"{column} IN (SELECT vrm FROM peel_leads_spellings)"
    return f"{PLATE.format(c=column)} IN (SELECT plate FROM peel_leads_plates)"


def plate_reads(
    engine: Engine,
    plates: Sequence[str],
    start: datetime,
    end: datetime,
    days: set[str] | None = None,
    *,
    spellings: pa.Table | None = None,
) -> pa.Table:
    """Every read of these plates from `start` to `end` (and, if `days` is given, on those
    UTC days only): plate, camera_id, read_at, read_id, and the camera's position (for
    far-away reads and impossible journeys). `spellings`: (vrm, plate), every raw spelling of
    these plates in the reads (`Background.spellings_of`), if known: the reads are then found
    by them."""
    plate_table = pa.table({"plate": pa.array(plates, pa.string())})
    spell_table = spellings if spellings is not None else NO_SPELLINGS
    with (
        engine.temp_table("peel_leads_plates", plate_table),
        engine.temp_table("peel_leads_spellings", spell_table),
    ):
        return engine.query(
            f"""
            SELECT {PLATE.format(c="r.vrm")} AS plate, r.camera_id, r.read_at,
                   CAST(r.row_id AS VARCHAR) AS read_id, c.location_x AS x, c.location_y AS y
            FROM {engine.table_sql("anpr_read", days)} r
            JOIN {current_sql(engine, "anpr_camera", "camera_id")} c ON c.camera_id = r.camera_id
            WHERE r.read_at >= $a AND r.read_at <= $b AND r.vrm IS NOT NULL
              AND {plate_filter("r.vrm", spellings)}
            ORDER BY plate, r.read_at, read_id
            """,
            {"a": start, "b": end},
        )


__all__ = [
    "ALL_TIME",
    "NO_SPELLINGS",
    "PLATE",
    "cameras",
    "plate_filter",
    "plate_reads",
    "read_days",
    "window_hits",
    "windows_table",
]
