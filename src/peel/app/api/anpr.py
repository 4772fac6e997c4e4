"""ANPR access authorisations (the policy's access tiers; the ANPR pages come later)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import AwareDatetime, BaseModel, Field

from peel.app.deps import Permit, StateDep
from peel.governance import anpr
from peel.governance.access import Caller

router = APIRouter(prefix="/api/anpr", tags=["anpr"])


class AuthorisationCreate(BaseModel):
    requester: str = Field(min_length=1, max_length=64)
    investigation_reference: str = Field(min_length=1, max_length=64)
    offence_category: str = Field(min_length=1, max_length=100)
    reason: str = Field(min_length=1, max_length=2000)
    days: int = Field(ge=1, le=366)


class AccessQuestion(BaseModel):
    read_time: AwareDatetime
    authorisation_id: int | None = None


@router.post("/authorisations", status_code=201)
def grant(
    body: AuthorisationCreate,
    state: StateDep,
    caller: Annotated[Caller, Depends(Permit("anpr.authorise"))],
) -> dict[str, Any]:
    return anpr.grant(
        state.store,
        state.policy,
        caller,
        requester=body.requester,
        investigation_reference=body.investigation_reference,
        offence_category=body.offence_category,
        reason=body.reason,
        days=body.days,
        wall=state.clock,
    )


@router.get("/authorisations")
def mine(
    state: StateDep, caller: Annotated[Caller, Depends(Permit("anpr.read"))]
) -> list[dict[str, Any]]:
    with state.store.connect() as conn:
        return anpr.list_for(conn, caller.username)


@router.post("/access")
def may_i_see(
    body: AccessQuestion, state: StateDep, caller: Annotated[Caller, Depends(Permit("anpr.read"))]
) -> dict[str, Any]:
    """The policy's answer for a read taken at `read_time` (by the data clock)."""
    with state.store.connect() as conn:
        d = anpr.decision_for(
            conn,
            state.policy,
            caller,
            read_time=body.read_time,
            authorisation_id=body.authorisation_id,
        )
    return {"allowed": d.allowed, "tier": d.tier, "reason": d.reason}
