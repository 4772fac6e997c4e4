"""Crimes to choose from for a lead search: a page of the lake's crimes by type, committed
dates and distance from a projected point, each marked with whether a lead search can use it
(a position and a committed window no longer than `crimes.MAX_WINDOW_HOURS`); the crime types
present; the cameras (for maps).

Reads only; the app wraps each read in the audited access step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from peel.errors import InputRefused
from peel.lake.engine import Engine
from peel.leads.crimes import MAX_WINDOW_HOURS, current_sql
from peel.leads.window import cameras

_COLUMNS = (
    "crime_ref, crime_type, location_x AS x, location_y AS y, committed_from, committed_to, "
    "location_text, CAST(row_id AS VARCHAR) AS row_id"
)


@dataclass(frozen=True)
class CrimeQuery:
    """A filter over the lake's crimes; every part optional. `start` inclusive, `end`
    exclusive (committed_from); `near` a projected point (easting, northing) with `km`."""

    crime_type: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    near: tuple[float, float] | None = None
    km: float | None = None
    searchable_only: bool = False  # only crimes a lead search can use
    refs: tuple[str, ...] | None = None  # only these references

    def check(self) -> None:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise InputRefused("committed_to must be later than committed_from")
        if (self.near is None) != (self.km is None):
            raise InputRefused("near_easting, near_northing and km go together")
        if self.km is not None and self.km <= 0:
            raise InputRefused("km must be greater than 0")


def _where(q: CrimeQuery) -> tuple[str, dict[str, Any]]:
    parts: list[str] = ["crime_ref IS NOT NULL"]
    params: dict[str, Any] = {}
    if q.refs is not None:
        parts.append("crime_ref IN (SELECT crime_ref FROM peel_catalogue_refs)")
    if q.crime_type:
        parts.append("crime_type = $t")
        params["t"] = q.crime_type
    if q.start is not None:
        parts.append("committed_from >= $a")
        params["a"] = q.start
    if q.end is not None:
        parts.append("committed_from < $b")
        params["b"] = q.end
    if q.near is not None and q.km is not None:
        parts.append(
            "(location_x - $x) * (location_x - $x) + (location_y - $y) * (location_y - $y) <= $r2"
        )
        params.update(x=q.near[0], y=q.near[1], r2=(q.km * 1000.0) ** 2)
    if q.searchable_only:
        parts.append(
            "location_x IS NOT NULL AND location_y IS NOT NULL AND committed_from IS NOT NULL "
            "AND (committed_to IS NULL OR (committed_to >= committed_from AND committed_to <= "
            f"committed_from + INTERVAL '{int(MAX_WINDOW_HOURS)}' HOUR))"
        )
    return " AND ".join(parts), params


def _usable(r: dict[str, Any]) -> str | None:
    """Why a lead search cannot use this crime, or None."""
    if r["x"] is None or r["y"] is None:
        return "no position"
    if r["committed_from"] is None:
        return "no committed time"
    t1 = r["committed_to"] or r["committed_from"]
    hours = (t1 - r["committed_from"]).total_seconds() / 3600.0
    if hours < 0:
        return "committed window ends before it starts"
    if hours > MAX_WINDOW_HOURS:
        return f"committed window longer than {MAX_WINDOW_HOURS} hours"
    return None


def _iso(v: datetime | None) -> str | None:
    return v.astimezone(UTC).isoformat() if v is not None else None


def list_crimes(
    engine: Engine, q: CrimeQuery, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of crimes matching `q` (oldest first) and how many match in all."""
    q.check()
    where, params = _where(q)
    table = current_sql(engine, "crime", "crime_ref")
    refs = pa.table({"crime_ref": pa.array(list(q.refs or ()), pa.string())})
    with engine.temp_table("peel_catalogue_refs", refs):
        total = engine.query(f"SELECT count(*) AS n FROM {table} c WHERE {where}", params)
        rows = engine.query(
            f"SELECT {_COLUMNS} FROM {table} c WHERE {where} "
            "ORDER BY committed_from, crime_ref LIMIT $lim OFFSET $off",
            {**params, "lim": int(limit), "off": int(offset)},
        ).to_pylist()
    out = []
    for r in rows:
        why = _usable(r)
        t1 = r["committed_to"] or r["committed_from"]
        out.append(
            {
                "crime_ref": r["crime_ref"],
                "crime_type": r["crime_type"] or "",
                "committed_from": _iso(r["committed_from"]),
                "committed_to": _iso(t1),
                "easting": r["x"],
                "northing": r["y"],
                "location_text": r["location_text"],
                "row_id": r["row_id"],
                "searchable": why is None,
                "not_searchable_because": why,
            }
        )
    return out, int(total.column("n")[0].as_py())


def crime_types(engine: Engine) -> list[str]:
    """The crime types present in the lake, for the filter's choices."""
    rows = engine.query(
        f"SELECT DISTINCT crime_type FROM {current_sql(engine, 'crime', 'crime_ref')} c "
        "WHERE crime_type IS NOT NULL ORDER BY crime_type"
    ).to_pylist()
    return [r["crime_type"] for r in rows]


def camera_positions(engine: Engine) -> list[dict[str, Any]]:
    """Every camera with a projected position (not personal data)."""
    return [
        {"camera_id": r["camera_id"], "easting": r["x"], "northing": r["y"]}
        for r in cameras(engine).to_pylist()
    ]


__all__ = ["CrimeQuery", "camera_positions", "crime_types", "list_crimes"]
