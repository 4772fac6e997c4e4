"""Roadside checks of a vehicle and a person: safety first, always saying what was searched
and whether the search was complete."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from peel.app.deps import Permit, StateDep
from peel.governance.access import Caller
from peel.resolve import check

router = APIRouter(prefix="/api/check", tags=["check"])


@router.get("/vehicle/{vrm}")
def check_vehicle(
    vrm: str,
    state: StateDep,
    caller: Annotated[Caller, Depends(Permit("vehicle.check"))],
) -> dict[str, Any]:
    return check.vehicle_check(state.store, state.policy, caller, vrm[:100], clock=state.clock)


@router.get("/person")
def check_person(
    state: StateDep,
    caller: Annotated[Caller, Depends(Permit("person.check"))],
    surname: Annotated[str, Query(min_length=1, max_length=100)],
    forename: Annotated[str | None, Query(max_length=100)] = None,
    date_of_birth: Annotated[date | None, Query()] = None,
) -> dict[str, Any]:
    return check.person_check(
        state.store,
        state.policy,
        caller,
        surname=surname,
        forename=forename or None,
        date_of_birth=date_of_birth,
        clock=state.clock,
    )
