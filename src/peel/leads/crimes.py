"""The crimes a lead search is about: picked by reference or by a filter, loaded from the lake.

A crime takes part only with a projected position (the lake keeps British National Grid
easting and northing, metres) and a committed-from/to window; crimes without them are counted
and left out, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from peel.errors import InputRefused
from peel.lake.engine import Engine

# A crime whose committed window is longer than this says next to nothing about who was there
# (police.uk gives a whole month); it is refused rather than silently weighted to nothing.
MAX_WINDOW_HOURS = 24 * 14


@dataclass(frozen=True)
class Crime:
    crime_ref: str
    crime_type: str
    x: float
    y: float
    committed_from: datetime
    committed_to: datetime
    row_id: str
    dataset: str

    @property
    def window_hours(self) -> float:
        return max((self.committed_to - self.committed_from).total_seconds() / 3600.0, 0.0)


def current_sql(engine: Engine, table: str, key: str) -> str:
    """The latest version of each record of `table` by `key` (portable window function)."""
    return (
        f"(SELECT * FROM (SELECT t.*, row_number() OVER (PARTITION BY t.{key} "
        f"ORDER BY t._seq DESC, t._line DESC) AS _rn FROM {engine.table_sql(table)} t "
        f"WHERE t.{key} IS NOT NULL) v WHERE _rn = 1)"
    )


_COLUMNS = (
    "crime_ref, crime_type, location_x AS x, location_y AS y, committed_from, committed_to, "
    "CAST(row_id AS VARCHAR) AS row_id, _dataset AS dataset"
)


def _to_crimes(rows: list[dict[str, Any]]) -> tuple[list[Crime], list[str]]:
    out, skipped = [], []
    for r in rows:
        if r["x"] is None or r["y"] is None or r["committed_from"] is None:
            skipped.append(r["crime_ref"])
            continue
        t0 = r["committed_from"].astimezone(UTC)
        t1 = (r["committed_to"] or r["committed_from"]).astimezone(UTC)
        if t1 < t0:
            skipped.append(r["crime_ref"])
            continue
        out.append(
            Crime(
                crime_ref=r["crime_ref"],
                crime_type=r["crime_type"] or "",
                x=float(r["x"]),
                y=float(r["y"]),
                committed_from=t0,
                committed_to=t1,
                row_id=r["row_id"],
                dataset=r["dataset"] or "",
            )
        )
    return out, skipped


def by_refs(engine: Engine, refs: list[str]) -> tuple[list[Crime], list[str]]:
    """Crimes by reference, in the order given; an unknown reference is refused by name (a
    crime reference is not personal data)."""
    refs = [r.strip() for r in refs if r.strip()]
    if not refs:
        raise InputRefused("no crime references given")
    if len(set(refs)) != len(refs):
        raise InputRefused("a crime reference is given twice")
    import pyarrow as pa

    with engine.temp_table("peel_leads_refs", pa.table({"crime_ref": refs})):
        rows = engine.query(
            f"SELECT {_COLUMNS} FROM {current_sql(engine, 'crime', 'crime_ref')} c "
            "WHERE crime_ref IN (SELECT crime_ref FROM peel_leads_refs)"
        ).to_pylist()
    found = {r["crime_ref"]: r for r in rows}
    missing = [r for r in refs if r not in found]
    if missing:
        raise InputRefused(
            f"unknown crime reference{'s' if len(missing) > 1 else ''}: " + ", ".join(missing[:10])
        )
    crimes, skipped = _to_crimes([found[r] for r in refs])
    return crimes, skipped


def parse_day(text: str, *, flag: str) -> datetime:
    """A date (YYYY-MM-DD) or ISO date-time as UTC; refused with the flag's name otherwise."""
    try:
        if len(text.strip()) == 10:
            return datetime.combine(date.fromisoformat(text.strip()), time(0), tzinfo=UTC)
        value = datetime.fromisoformat(text.strip())
    except ValueError as e:
        raise InputRefused(f"{flag}: {text!r} is not a date (YYYY-MM-DD)") from e
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def by_filter(
    engine: Engine,
    *,
    crime_type: str,
    start: datetime,
    end: datetime,
    near: tuple[float, float] | None = None,
    km: float | None = None,
    limit: int = 40,
) -> tuple[list[Crime], list[str]]:
    """Crimes of one type committed from `start` (inclusive) to `end` (exclusive), optionally
    within `km` of a projected point (easting, northing)."""
    if end <= start:
        raise InputRefused("--to must be later than --from")
    if not crime_type.strip():
        raise InputRefused("--crime-type is empty")
    where = "crime_type = $t AND committed_from >= $a AND committed_from < $b"
    params: dict[str, Any] = {"t": crime_type.strip(), "a": start, "b": end}
    if near is not None:
        if km is None or km <= 0:
            raise InputRefused("--near needs --km greater than 0")
        where += (
            " AND (location_x - $x) * (location_x - $x) + (location_y - $y) * (location_y - $y)"
            " <= $r2"
        )
        params.update(x=near[0], y=near[1], r2=(km * 1000.0) ** 2)
    rows = engine.query(
        f"SELECT {_COLUMNS} FROM {current_sql(engine, 'crime', 'crime_ref')} c WHERE {where} "
        "ORDER BY committed_from, crime_ref",
        params,
    ).to_pylist()
    if not rows:
        raise InputRefused("no crime matches the filter")
    if len(rows) > limit:
        raise InputRefused(
            f"{len(rows)} crimes match the filter; a lead search takes at most {limit}: "
            "narrow it (--near, --km, shorter dates)"
        )
    return _to_crimes(rows)


def check_crimes(crimes: list[Crime]) -> None:
    if not crimes:
        raise InputRefused("none of the crimes has a position and a committed window")
    long = [c.crime_ref for c in crimes if c.window_hours > MAX_WINDOW_HOURS]
    if long:
        raise InputRefused(
            f"committed window longer than {MAX_WINDOW_HOURS} hours: " + ", ".join(long[:10])
        )


__all__ = ["MAX_WINDOW_HOURS", "Crime", "by_filter", "by_refs", "check_crimes", "current_sql"]
