"""Published person and vehicle profiles, the why of a link, and analysts' corrections."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from peel.app.deps import Permit, StateDep
from peel.governance.access import Caller
from peel.lake import Lake
from peel.resolve import served

router = APIRouter(tags=["profiles"])
RecordId = Annotated[str, Query(min_length=1, max_length=300)]


class SplitCreate(BaseModel):
    records: list[Annotated[str, Field(min_length=1, max_length=300)]] = Field(
        min_length=1, max_length=200
    )
    reason: str = Field(min_length=1, max_length=2000)


class MergeCreate(BaseModel):
    profile_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=2, max_length=2
    )
    reason: str = Field(min_length=1, max_length=2000)


@router.get("/api/profiles/{profile_id}")
def get_profile(
    profile_id: str,
    state: StateDep,
    caller: Annotated[Caller, Depends(Permit("person.profile"))],
) -> dict[str, Any]:
    return served.read_profile(
        state.store, state.policy, caller, profile_id[:100], clock=state.clock
    )


@router.get("/api/profiles/{profile_id}/why")
def why(
    profile_id: str,
    a: RecordId,
    b: RecordId,
    state: StateDep,
    caller: Annotated[Caller, Depends(Permit("person.profile"))],
) -> dict[str, Any]:
    """Splink's match weight per field for two records of the profile (no record values)."""
    return served.why(
        state.store,
        state.policy,
        state.settings,
        caller,
        profile_id[:100],
        a,
        b,
        clock=state.clock,
    )


@router.post("/api/profiles/{profile_id}/split", status_code=201)
def split(
    profile_id: str,
    body: SplitCreate,
    state: StateDep,
    caller: Annotated[Caller, Depends(Permit("resolve.run"))],
) -> dict[str, Any]:
    """Say the listed records are not the same person as the profile's other records."""
    return served.split(
        state.store,
        state.policy,
        caller,
        profile_id[:100],
        body.records,
        body.reason,
        clock=state.clock,
    )


@router.post("/api/profiles/merge", status_code=201)
def merge(
    body: MergeCreate,
    state: StateDep,
    caller: Annotated[Caller, Depends(Permit("resolve.run"))],
) -> dict[str, Any]:
    """Say two profiles are one person."""
    return served.merge(
        state.store, state.policy, caller, body.profile_ids, body.reason, clock=state.clock
    )


@router.get("/api/vehicles/{vrm}")
def get_vehicle(
    vrm: str,
    state: StateDep,
    caller: Annotated[Caller, Depends(Permit("vehicle.profile"))],
) -> dict[str, Any]:
    """The published vehicle profile, and its ANPR reads within the recent tier (live)."""
    return served.read_vehicle(
        state.store,
        state.policy,
        caller,
        vrm[:100],
        lake=Lake(state.settings),
        clock=state.clock,
    )
