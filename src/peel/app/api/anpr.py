"""ANPR access authorisations (the policy's access tiers): request, withdraw, grant, refuse,
revoke, list, and the access question. The pages are in pages_anpr.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import AwareDatetime, BaseModel, Field

from peel.app.deps import Permit, StateDep
from peel.governance import anpr
from peel.governance.access import Caller, operation

router = APIRouter(prefix="/api/anpr", tags=["anpr"])
Reader = Annotated[Caller, Depends(Permit("anpr.read"))]
Authoriser = Annotated[Caller, Depends(Permit("anpr.authorise"))]
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class AuthorisationCreate(BaseModel):
    requester: str = Field(min_length=1, max_length=64)
    investigation_reference: str = Field(min_length=1, max_length=64)
    offence_category: str = Field(min_length=1, max_length=100)
    reason: str = Field(min_length=1, max_length=2000)
    days: int = Field(ge=1, le=366)


class RequestCreate(BaseModel):
    investigation_reference: str = Field(min_length=1, max_length=64)
    offence_category: str = Field(min_length=1, max_length=100)
    reason: str = Field(min_length=1, max_length=2000)
    days: int = Field(ge=1, le=366, description="at most the policy's anpr.max_authorisation_days")


class RequestGrant(BaseModel):
    days: int | None = Field(
        default=None, ge=1, le=366, description="default: as asked (never longer)"
    )


class RequestRefuse(BaseModel):
    note: str = Field(min_length=1, max_length=2000)


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


@router.post("/authorisations/{authorisation_id}/revoke")
def revoke(authorisation_id: RowId, state: StateDep, caller: Authoriser) -> dict[str, Any]:
    return anpr.revoke(state.store, state.policy, caller, authorisation_id, wall=state.clock)


@router.post("/requests", status_code=201)
def ask(body: RequestCreate, state: StateDep, caller: Reader) -> dict[str, Any]:
    """Ask an authoriser for access to reads older than the recent tier (pending until
    granted, refused or withdrawn)."""
    return anpr.request(
        state.store,
        state.policy,
        caller,
        investigation_reference=body.investigation_reference,
        offence_category=body.offence_category,
        reason=body.reason,
        days=body.days,
        wall=state.clock,
    )


@router.get("/requests")
def my_requests(state: StateDep, caller: Reader) -> list[dict[str, Any]]:
    """The caller's own requests, newest first (audited)."""
    with operation(
        state.store,
        state.policy,
        caller,
        permission="anpr.read",
        operation="consultation",
        object_type="anpr_authorisation_request",
        clock=state.clock,
    ) as op:
        rows = anpr.requests_of(op.conn, caller.username)
        op.returned(f"anpr_authorisation_request:{r['id']}" for r in rows)
    return rows


@router.get("/requests/pending")
def pending(state: StateDep, caller: Authoriser) -> list[dict[str, Any]]:
    """Requests waiting for an authoriser, oldest first (audited)."""
    with operation(
        state.store,
        state.policy,
        caller,
        permission="anpr.authorise",
        operation="consultation",
        object_type="anpr_authorisation_request",
        clock=state.clock,
    ) as op:
        rows = anpr.pending(op.conn)
        op.returned(f"anpr_authorisation_request:{r['id']}" for r in rows)
    return rows


@router.post("/requests/{request_id}/withdraw")
def withdraw(request_id: RowId, state: StateDep, caller: Reader) -> dict[str, Any]:
    return anpr.withdraw(state.store, state.policy, caller, request_id, wall=state.clock)


@router.post("/requests/{request_id}/grant", status_code=201)
def grant_request(
    request_id: RowId, body: RequestGrant, state: StateDep, caller: Authoriser
) -> dict[str, Any]:
    """Grant a pending request: creates the authorisation (201) and marks the request."""
    return anpr.grant_request(
        state.store, state.policy, caller, request_id, days=body.days, wall=state.clock
    )


@router.post("/requests/{request_id}/refuse")
def refuse(
    request_id: RowId, body: RequestRefuse, state: StateDep, caller: Authoriser
) -> dict[str, Any]:
    return anpr.refuse(
        state.store, state.policy, caller, request_id, note=body.note, wall=state.clock
    )
