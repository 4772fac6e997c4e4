"""The audit log for the oversight panel and the data protection officer: browse, inspect,
report by user or subject, verify the chain, draw samples and record verdicts. Every read of
the audit is itself audited."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, Field

from peel.app.api.common import PageDep
from peel.app.deps import Permit, StateDep
from peel.governance import auditbrowse, auditlog
from peel.governance.access import Caller

router = APIRouter(prefix="/api/audit", tags=["audit"])
Reader = Annotated[Caller, Depends(Permit("audit.read"))]
Reviewer = Annotated[Caller, Depends(Permit("audit.review"))]


class SampleCreate(BaseModel):
    n: int = Field(ge=1, le=200)
    seed: int | None = Field(default=None, ge=0, lt=2**63)


class VerdictCreate(BaseModel):
    verdict: Literal["appropriate", "inappropriate", "unclear"]
    note: str = Field(default="", max_length=4000)


@router.get("")
def browse(
    state: StateDep,
    caller: Reader,
    page: PageDep,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    operation_name: Annotated[str | None, Query(alias="operation", max_length=32)] = None,
    subject: Annotated[str | None, Query(max_length=200)] = None,
    outcome: Annotated[str | None, Query(max_length=16)] = None,
    since: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    until: Annotated[AwareDatetime | None, Query(alias="to")] = None,
) -> dict[str, Any]:
    """Entries newest first, filtered."""
    return auditbrowse.browse(
        state.store,
        state.policy,
        caller,
        actor=actor,
        op_name=operation_name,
        subject=subject,
        outcome=outcome,
        since=since,
        until=until,
        limit=page.limit,
        offset=page.offset,
        clock=state.clock,
    )


@router.get("/entries/{seq}")
def entry(seq: int, state: StateDep, caller: Reader) -> dict[str, Any]:
    return auditbrowse.entry(state.store, state.policy, caller, seq, clock=state.clock)


@router.get("/report")
def report(
    state: StateDep,
    caller: Reader,
    user: Annotated[str | None, Query(max_length=64)] = None,
    subject: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    until: Annotated[AwareDatetime | None, Query(alias="to")] = None,
    after: Annotated[int | None, Query(ge=0)] = None,
) -> dict[str, Any]:
    """What a user consulted or disclosed, or who consulted a subject."""
    return auditlog.report(
        state.store,
        state.policy,
        caller,
        user=user,
        subject=subject,
        from_=since,
        to=until,
        after=after,
        clock=state.clock,
    ).to_dict()


@router.post("/verify")
def verify_chain(state: StateDep, caller: Reader) -> dict[str, Any]:
    """Recompute the hash chain and check every signed checkpoint."""
    result = auditbrowse.verify_chain(
        state.store, state.policy, caller, state.settings, clock=state.clock
    )
    return result.to_dict()


@router.post("/samples", status_code=201)
def draw_sample(body: SampleCreate, state: StateDep, caller: Reviewer) -> dict[str, Any]:
    """A random sample of entries for the caller to review."""
    return auditlog.sample(
        state.store, state.policy, caller, body.n, body.seed, clock=state.clock
    ).to_dict()


@router.get("/samples/{sample_id}")
def get_sample(sample_id: str, state: StateDep, caller: Reader) -> dict[str, Any]:
    return auditlog.get_sample(
        state.store, state.policy, caller, sample_id[:64], clock=state.clock
    ).to_dict()


@router.post("/samples/{sample_id}/{seq}")
def record_verdict(
    sample_id: str, seq: int, body: VerdictCreate, state: StateDep, caller: Reviewer
) -> dict[str, Any]:
    return auditlog.record_verdict(
        state.store,
        state.policy,
        caller,
        sample_id[:64],
        seq,
        body.verdict,
        body.note,
        clock=state.clock,
    )
