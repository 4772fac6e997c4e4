"""Cases and their members."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from peel.app.deps import Permit, StateDep
from peel.governance import cases
from peel.governance.access import Caller

router = APIRouter(prefix="/api/cases", tags=["cases"])


class CaseCreate(BaseModel):
    reference: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9/._-]*$")
    title: str = Field(min_length=1, max_length=200)


class MemberCreate(BaseModel):
    username: str = Field(min_length=1, max_length=64)


@router.get("")
def my_cases(
    state: StateDep, caller: Annotated[Caller, Depends(Permit("cases.read"))]
) -> list[dict[str, Any]]:
    with state.store.connect() as conn:
        return cases.cases_of(conn, caller.username)


@router.post("", status_code=201)
def create_case(
    body: CaseCreate, state: StateDep, caller: Annotated[Caller, Depends(Permit("cases.manage"))]
) -> dict[str, Any]:
    return cases.create_case(
        state.store, state.policy, caller, reference=body.reference, title=body.title
    )


@router.post("/{reference}/members", status_code=204)
def add_member(
    reference: str,
    body: MemberCreate,
    state: StateDep,
    caller: Annotated[Caller, Depends(Permit("cases.manage"))],
) -> None:
    cases.add_member(
        state.store, state.policy, caller, reference=reference[:64], username=body.username
    )
