"""The oversight panel's audit pages: filter and inspect entries, verify the chain, draw a
random sample and record a verdict on each entry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from peel.app.api.common import PageDep
from peel.app.deps import Permit, StateDep
from peel.app.pages import render
from peel.errors import PeelError
from peel.governance import audit, auditbrowse, auditlog
from peel.governance.access import Caller

router = APIRouter(include_in_schema=False)
Reader = Annotated[Caller, Depends(Permit("audit.read"))]
Reviewer = Annotated[Caller, Depends(Permit("audit.review"))]


def _day(text: str | None, name: str, *, end: bool = False) -> datetime | None:
    if not text:
        return None
    try:
        d = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError as e:
        raise PeelError(f"{name}: a date as YYYY-MM-DD") from e
    return d.replace(hour=23, minute=59, second=59) if end else d


@router.get("/audit")
def audit_page(
    request: Request,
    state: StateDep,
    caller: Reader,
    page: PageDep,
    actor: str = "",
    subject: str = "",
    outcome: str = "",
    since: str = "",
    until: str = "",
) -> HTMLResponse:
    op_name = request.query_params.get("operation", "")
    found = auditbrowse.browse(
        state.store,
        state.policy,
        caller,
        actor=actor[:64] or None,
        op_name=op_name or None,
        subject=subject[:200] or None,
        outcome=outcome or None,
        since=_day(since, "from"),
        until=_day(until, "to", end=True),
        limit=page.limit,
        offset=page.offset,
        clock=state.clock,
    )
    query = {
        "actor": actor,
        "operation": op_name,
        "subject": subject,
        "outcome": outcome,
        "since": since,
        "until": until,
    }
    return render(
        request,
        caller,
        "audit.html",
        found=found,
        page=page,
        q=query,
        operations=audit.OPERATIONS,
        outcomes=audit.OUTCOMES,
    )


@router.get("/audit/entries/{seq}")
def audit_entry_page(seq: int, request: Request, state: StateDep, caller: Reader) -> HTMLResponse:
    item = auditbrowse.entry(state.store, state.policy, caller, seq, clock=state.clock)
    return render(request, caller, "audit_entry.html", e=item)


@router.post("/audit/verify")
def audit_verify_page(request: Request, state: StateDep, caller: Reader) -> HTMLResponse:
    result = auditbrowse.verify_chain(
        state.store, state.policy, caller, state.settings, clock=state.clock
    )
    return render(request, caller, "audit_verify.html", r=result)


@router.post("/audit/samples")
def audit_sample_submit(
    state: StateDep, caller: Reviewer, n: Annotated[int, Form(ge=1, le=200)] = 10
) -> Response:
    s = auditlog.sample(state.store, state.policy, caller, n, clock=state.clock)
    return RedirectResponse(f"/audit/samples/{s.sample_id}", status_code=303)


@router.get("/audit/samples/{sample_id}")
def audit_sample_page(
    sample_id: str, request: Request, state: StateDep, caller: Reader
) -> HTMLResponse:
    s = auditlog.get_sample(state.store, state.policy, caller, sample_id[:64], clock=state.clock)
    can_review = s.reviewer == caller.username
    return render(request, caller, "audit_sample.html", s=s, can_review=can_review)


@router.post("/audit/samples/{sample_id}/{seq}")
def audit_verdict_submit(
    sample_id: str,
    seq: int,
    state: StateDep,
    caller: Reviewer,
    verdict: Annotated[str, Form(max_length=16)],
    note: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    auditlog.record_verdict(
        state.store, state.policy, caller, sample_id[:64], seq, verdict, note, clock=state.clock
    )
    return RedirectResponse(f"/audit/samples/{sample_id[:64]}#e{seq}", status_code=303)
