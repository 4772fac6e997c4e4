"""ANPR leads for investigators: crimes to choose from, and a lead search over chosen crimes
with each lead's sightings (its reads during the crimes' windows, near and far) for a timeline
and a map.

Every route needs `anpr.read` (the policy's ANPR permission) with a lawful purpose. Listing
crimes is an audited consultation of the crimes returned; a search runs
`peel.leads.find.authorised_find` (the ANPR access rules for the oldest read it touches, then
an audited consultation naming the crimes and the plates returned) and the sightings run under
the same rules as a second audited consultation, of the reads returned. A refusal by the
access rules answers 403 with its reason; a crime reference that does not exist answers 400
naming it.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, StringConstraints, model_validator

from peel.app.api.common import PageDep
from peel.app.deps import Permit, StateDep
from peel.app.state import AppState
from peel.errors import InputRefused
from peel.governance.access import Caller, operation
from peel.lake import Lake
from peel.leads.catalogue import CrimeQuery, camera_positions, crime_types, list_crimes
from peel.leads.crimes import MAX_WINDOW_HOURS, Crime, by_filter, by_refs, check_crimes
from peel.leads.find import authorised_find
from peel.leads.score import Params
from peel.leads.sightings import authorised_sightings

router = APIRouter(prefix="/api/leads", tags=["leads"])
ANPR = "anpr.read"
MAX_CRIMES = 50
# A crime reference as recording systems write them (CRIS "5214105/24", police.uk's 64-hex
# Crime ID): letters, digits and / _ . : - only, so nothing hostile reaches a query or a page.
REF_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9/_.:-]{0,79}$"
TYPE_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
CrimeRef = Annotated[str, StringConstraints(strip_whitespace=True, pattern=REF_PATTERN)]
CrimeType = Annotated[str, StringConstraints(strip_whitespace=True, pattern=TYPE_PATTERN)]
Coordinate = Annotated[float, Field(ge=-10_000_000, le=10_000_000)]


class CrimeFilter(BaseModel):
    """Crimes of one type committed from `committed_from` to `committed_to` (both days
    included), optionally within `km` of a projected point (the lake's grid, metres)."""

    crime_type: CrimeType
    committed_from: date
    committed_to: date
    near_easting: Coordinate | None = None
    near_northing: Coordinate | None = None
    km: float | None = Field(None, gt=0, le=100)

    @model_validator(mode="after")
    def _dates(self) -> CrimeFilter:
        if self.committed_to < self.committed_from:
            raise ValueError("committed_to is before committed_from")
        return self


class SearchCreate(BaseModel):
    crimes: list[CrimeRef] | None = Field(
        None, min_length=1, max_length=MAX_CRIMES, description="crime references"
    )
    filter: CrimeFilter | None = None
    radius_m: float = Field(500.0, gt=0, le=5000, description="camera radius around a scene")
    margin_min: float = Field(30.0, ge=0, le=24 * 60, description="minutes added to a window")
    authorisation_id: int | None = Field(
        None, ge=1, le=2**31 - 1, description="ANPR authorisation, for reads past the recent tier"
    )

    @model_validator(mode="after")
    def _one_way(self) -> SearchCreate:
        if (self.crimes is None) == (self.filter is None):
            raise ValueError("give either crimes (a list of references) or filter")
        return self


def day_range(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """Days as UTC instants: `start` inclusive, the day after `end` exclusive."""
    a = datetime.combine(start, dtime(0), tzinfo=UTC) if start else None
    b = datetime.combine(end + timedelta(days=1), dtime(0), tzinfo=UTC) if end else None
    return a, b


def _near(e: float | None, n: float | None) -> tuple[float, float] | None:
    if (e is None) != (n is None):
        raise InputRefused("near_easting and near_northing go together")
    return None if e is None or n is None else (e, n)


def crime_page(
    state: AppState, caller: Caller, q: CrimeQuery, *, limit: int, offset: int
) -> dict[str, Any]:
    """One page of crimes to choose from, with the types and cameras (audited)."""
    q.check()
    with operation(
        state.store,
        state.policy,
        caller,
        permission=ANPR,
        operation="consultation",
        object_type="crime",
        query={
            "crime_type": q.crime_type,
            "from": q.start.isoformat() if q.start else None,
            "to": q.end.isoformat() if q.end else None,
            "near": list(q.near) if q.near else None,
            "km": q.km,
            "limit": limit,
            "offset": offset,
        },
        clock=state.clock,
    ) as op:
        engine = Lake(state.settings).engine()
        try:
            rows, total = list_crimes(engine, q, limit=limit, offset=offset)
            types = crime_types(engine)
            cams = camera_positions(engine)
        finally:
            engine.close()
        op.returned(f"crime:{r['row_id']}" for r in rows)
    return {
        "total": total,
        "limit": limit,
        "offset": offset,
        "crimes": rows,
        "crime_types": types,
        "cameras": cams,
    }


def crime_dict(c: Crime) -> dict[str, Any]:
    return {
        "crime_ref": c.crime_ref,
        "crime_type": c.crime_type,
        "committed_from": c.committed_from.isoformat(),
        "committed_to": c.committed_to.isoformat(),
        "window_hours": round(c.window_hours, 2),
        "easting": c.x,
        "northing": c.y,
        "row": f"crime:{c.row_id}",
    }


def pick_crimes(
    state: AppState, refs: list[str] | None, flt: CrimeFilter | None
) -> tuple[list[Crime], list[str]]:
    """The crimes of a search from the lake, by reference or by filter (at most MAX_CRIMES);
    refused, naming the reference or the field, when they cannot take part."""
    engine = Lake(state.settings).engine()
    try:
        if refs is not None:
            if len(refs) > MAX_CRIMES:
                raise InputRefused(f"crimes: at most {MAX_CRIMES} crime references")
            crimes, skipped = by_refs(engine, refs)
        else:
            assert flt is not None
            start, end = day_range(flt.committed_from, flt.committed_to)
            assert start is not None and end is not None
            crimes, skipped = by_filter(
                engine,
                crime_type=flt.crime_type,
                start=start,
                end=end,
                near=_near(flt.near_easting, flt.near_northing),
                km=flt.km,
                limit=MAX_CRIMES,
            )
    finally:
        engine.close()
    if refs is not None and skipped:
        raise InputRefused(
            "no position or committed window, so a lead search cannot use: "
            + ", ".join(skipped[:10])
        )
    if refs is None:  # a filter: leave out what cannot take part, and say so
        skipped += [c.crime_ref for c in crimes if c.window_hours > MAX_WINDOW_HOURS]
        crimes = [c for c in crimes if c.window_hours <= MAX_WINDOW_HOURS]
    check_crimes(crimes)
    return crimes, skipped


def run_search(
    state: AppState,
    caller: Caller,
    crimes: list[Crime],
    *,
    params: Params,
    authorisation_id: int | None,
) -> dict[str, Any]:
    """The lead search and each lead's sightings, both under the ANPR access rules and
    audited; with the crimes' details and the cameras near them, for the maps."""
    t0 = time.perf_counter()
    lake = Lake(state.settings)
    out = authorised_find(
        lake,
        state.store,
        state.policy,
        caller,
        crimes,
        authorisation_id=authorisation_id,
        params=params,
        clock=state.clock,
    )
    plates = [lead["vrm"] for lead in out["leads"]]
    seen = authorised_sightings(
        lake,
        state.store,
        state.policy,
        caller,
        crimes,
        plates,
        authorisation_id=authorisation_id,
        params=params,
        clock=state.clock,
    )
    for lead in out["leads"]:
        lead["sightings"] = seen.get(lead["vrm"], [])
        lead.setdefault("product_id", None)
    engine = lake.engine()
    try:
        cams = camera_positions(engine)
    finally:
        engine.close()
    reach = params.radius_m + 2000.0
    out["crime_details"] = [crime_dict(c) for c in crimes]
    out["cameras"] = [
        cam
        for cam in cams
        if any(
            (cam["easting"] - c.x) ** 2 + (cam["northing"] - c.y) ** 2 <= reach**2 for c in crimes
        )
    ]
    out["seconds"]["with_sightings"] = round(time.perf_counter() - t0, 3)
    return out


@router.get("/crimes")
def crimes_to_choose(
    state: StateDep,
    caller: Annotated[Caller, Depends(Permit(ANPR))],
    page: PageDep,
    crime_type: Annotated[CrimeType | None, Query(description="crime type")] = None,
    committed_from: Annotated[date | None, Query(description="first day (inclusive)")] = None,
    committed_to: Annotated[date | None, Query(description="last day (inclusive)")] = None,
    near_easting: Annotated[Coordinate | None, Query()] = None,
    near_northing: Annotated[Coordinate | None, Query()] = None,
    km: Annotated[float | None, Query(gt=0, le=100)] = None,
    searchable_only: Annotated[bool, Query(description="only crimes a lead search can use")] = True,
) -> dict[str, Any]:
    """Crimes to choose for a lead search (oldest first), paged; audited."""
    start, end = day_range(committed_from, committed_to)
    q = CrimeQuery(
        crime_type=crime_type,
        start=start,
        end=end,
        near=_near(near_easting, near_northing),
        km=km,
        searchable_only=searchable_only,
    )
    return crime_page(state, caller, q, limit=page.limit, offset=page.offset)


@router.post("/search")
def search(
    body: SearchCreate, state: StateDep, caller: Annotated[Caller, Depends(Permit(ANPR))]
) -> dict[str, Any]:
    """Ranked leads for the crimes, each with its explanation and sightings. Under the ANPR
    access rules (403 with the reason when refused) and audited. Takes seconds; the first
    search of a crime type on a new lake also calibrates its chance figure (minutes on a
    large city; cached after)."""
    crimes, skipped = pick_crimes(state, body.crimes, body.filter)
    out = run_search(
        state,
        caller,
        crimes,
        params=Params(radius_m=body.radius_m, margin_min=body.margin_min),
        authorisation_id=body.authorisation_id,
    )
    out["crimes_skipped"] = skipped
    return out


__all__ = ["MAX_CRIMES", "REF_PATTERN", "crime_page", "pick_crimes", "router", "run_search"]
