"""ANPR access authorisations (the policy's access tiers; the ANPR pages come later)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import AwareDatetime, BaseModel, Field

from peel.app.deps import Permit, StateDep
from peel.governance import anpr
from peel.governance.access import Caller, operation

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
    """Authorisations the caller holds or gave (audited: they name investigations)."""
    with operation(
        state.store,
        state.policy,
        caller,
        permission="anpr.read",
        operation="consultation",
        object_type="anpr_authorisation",
        clock=state.clock,
    ) as op:
        rows = anpr.list_for(op.conn, caller.username)
        op.returned(f"anpr_authorisation:{r['id']}" for r in rows)
    return rows


@router.post("/access")
def may_i_see(
    body: AccessQuestion, state: StateDep, caller: Annotated[Caller, Depends(Permit("anpr.read"))]
) -> dict[str, Any]:
    """The policy's answer for a read taken at `read_time` (by the data clock)."""
    with operation(
        state.store,
        state.policy,
        caller,
        permission="anpr.read",
        operation="consultation",
        object_type="anpr_access",
        query={"read_time": body.read_time.isoformat(), "authorisation": body.authorisation_id},
        clock=state.clock,
    ) as op:
        d = anpr.decision_for(
            op.conn,
            state.policy,
            caller,
            read_time=body.read_time,
            authorisation_id=body.authorisation_id,
        )
        if body.authorisation_id is not None:
            op.returned([f"anpr_authorisation:{body.authorisation_id}"])
    return {"allowed": d.allowed, "tier": d.tier, "reason": d.reason}
