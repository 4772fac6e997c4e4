"""The ANPR access page: an officer with the ANPR permission requests an authorisation for
reads older than the recent tier, sees their requests and authorisations (status and expiry by
the data clock) and may withdraw a pending request; an authoriser sees the pending requests,
grants (for some days) or refuses (with a note) each, and revokes the live authorisations they
gave. The forms post with the session's CSRF token; a refused step is shown on the page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from peel import clock as data_clock
from peel.app.deps import Permit, StateDep
from peel.app.pages import render
from peel.errors import AccessDenied, AuditError, NotFound, PeelError
from peel.governance import anpr
from peel.governance.access import Caller, check, consultation

router = APIRouter(include_in_schema=False)
PAGE = "/anpr/authorisations"
Either = Annotated[Caller, Depends(Permit("anpr.read", "anpr.authorise"))]
Reader = Annotated[Caller, Depends(Permit("anpr.read"))]
Authoriser = Annotated[Caller, Depends(Permit("anpr.authorise"))]
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]
DONE = {
    "requested": "Request sent. An authoriser will grant or refuse it.",
    "withdrawn": "Request withdrawn.",
    "granted": "Authorisation granted.",
    "refused": "Request refused.",
    "revoked": "Authorisation revoked.",
}


def _may(state: Any, caller: Caller, permission: str) -> bool:
    try:
        check(state.policy, caller, permission)
    except AccessDenied:
        return False
    return True


def _page(
    request: Request,
    state: Any,
    caller: Caller,
    *,
    message: str | None = None,
    error: str | None = None,
    status: int = 200,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    policy = state.policy
    reader = policy.anpr.permission
    can_request = _may(state, caller, reader)
    can_authorise = _may(state, caller, "anpr.authorise")
    now = data_clock.now()
    with consultation(
        state.store,
        policy,
        caller,
        permission=reader if can_request else "anpr.authorise",
        object_type="anpr_authorisation",
        clock=state.clock,
    ) as op:
        mine = anpr.requests_of(op.conn, caller.username) if can_request else []
        auths = anpr.list_for(op.conn, caller.username, now=now)
        waiting = anpr.pending(op.conn) if can_authorise else []
        op.returned(f"anpr_authorisation_request:{r['id']}" for r in mine + waiting)
        op.returned(f"anpr_authorisation:{a['id']}" for a in auths)
    held = [a for a in auths if a["requester"] == caller.username]
    given = [a for a in auths if a["authoriser"] == caller.username and a["status"] == "live"]
    return render(
        request,
        caller,
        "anpr_authorisations.html",
        code=status,
        message=message,
        error=error,
        form=form or {},
        can_request=can_request,
        holds_read=reader in policy.permissions_of(caller.roles),
        can_authorise=can_authorise,
        mine=mine,
        held=held,
        waiting=waiting,
        given=given,
        now=now.strftime("%Y-%m-%d %H:%M UTC"),
        rules=policy.anpr,
        kept_days=policy.retention.anpr_reads_days,
    )


def _status(e: PeelError) -> int:
    if isinstance(e, AccessDenied):
        return 403
    return 404 if isinstance(e, NotFound) else 400


def _step(
    request: Request,
    state: Any,
    caller: Caller,
    step: Callable[[], object],
    *,
    done: str,
    form: dict[str, str] | None = None,
) -> Response:
    """Run one workflow step; on success back to the page (303), on a refusal the page again
    with the reason. An audit failure is not a refusal: it stays a 503."""
    try:
        step()
    except AuditError:
        raise
    except PeelError as e:
        return _page(request, state, caller, error=str(e), status=_status(e), form=form)
    return RedirectResponse(f"{PAGE}?done={done}", status_code=303)


def _whole(text: str, field: str) -> int:
    try:
        return int(text.strip())
    except ValueError as e:
        raise PeelError(f"{field}: a whole number of days") from e


@router.get(PAGE)
def authorisations_page(
    request: Request, state: StateDep, caller: Either, done: str = ""
) -> HTMLResponse:
    return _page(request, state, caller, message=DONE.get(done))


@router.post(f"{PAGE}/requests")
def request_submit(
    request: Request,
    state: StateDep,
    caller: Reader,
    investigation_reference: Annotated[str, Form(max_length=64)] = "",
    offence_category: Annotated[str, Form(max_length=100)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    days: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    form = {
        "investigation_reference": investigation_reference,
        "offence_category": offence_category,
        "reason": reason,
        "days": days,
    }
    return _step(
        request,
        state,
        caller,
        lambda: anpr.request(
            state.store,
            state.policy,
            caller,
            investigation_reference=investigation_reference,
            offence_category=offence_category,
            reason=reason,
            days=_whole(days, "days"),
            wall=state.clock,
        ),
        done="requested",
        form=form,
    )


@router.post(f"{PAGE}/requests/{{request_id}}/withdraw")
def withdraw_submit(
    request_id: RowId, request: Request, state: StateDep, caller: Reader
) -> Response:
    return _step(
        request,
        state,
        caller,
        lambda: anpr.withdraw(state.store, state.policy, caller, request_id, wall=state.clock),
        done="withdrawn",
    )


@router.post(f"{PAGE}/requests/{{request_id}}/grant")
def grant_submit(
    request_id: RowId,
    request: Request,
    state: StateDep,
    caller: Authoriser,
    days: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    return _step(
        request,
        state,
        caller,
        lambda: anpr.grant_request(
            state.store,
            state.policy,
            caller,
            request_id,
            days=_whole(days, "days") if days.strip() else None,
            wall=state.clock,
        ),
        done="granted",
    )


@router.post(f"{PAGE}/requests/{{request_id}}/refuse")
def refuse_submit(
    request_id: RowId,
    request: Request,
    state: StateDep,
    caller: Authoriser,
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    return _step(
        request,
        state,
        caller,
        lambda: anpr.refuse(
            state.store, state.policy, caller, request_id, note=note, wall=state.clock
        ),
        done="refused",
    )


@router.post(f"{PAGE}/{{authorisation_id}}/revoke")
def revoke_submit(
    authorisation_id: RowId, request: Request, state: StateDep, caller: Authoriser
) -> Response:
    return _step(
        request,
        state,
        caller,
        lambda: anpr.revoke(state.store, state.policy, caller, authorisation_id, wall=state.clock),
        done="revoked",
    )


__all__ = ["router"]
