"""The patrol page: one search box for a plate or a person, on a phone, safety first.

The purpose is "patrol check" with a stop reason from a short list, set in two taps (a reason,
then Start). A search calls the audited roadside checks (peel.resolve.check) on the server and
renders the answer. Every way a check can fail is named on the page and never reads as a
clear result: nothing published yet, a failed lookup, a timeout, a refusal, input that could
not be read; a partial search and "no match" say what was searched.

The page itself needs only a session: the check it runs asks for `vehicle.check` or
`person.check` and is authorised and audited inside `access.operation`, refusals included.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from peel.app.deps import AUTHENTICATED, Permit, StateDep, request_id
from peel.app.pages import render
from peel.errors import AccessDenied, AuditError, PeelError, PolicyRefusal
from peel.governance.access import Caller
from peel.resolve import check as checks

logger = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
Signed = Annotated[Caller, Depends(Permit(AUTHENTICATED))]

PATROL_PURPOSE = "patrol_check"
STOP_REASONS = (
    "Moving traffic offence",
    "ANPR or hotlist alert",
    "Suspicious behaviour",
    "Welfare concern",
    "Road traffic collision",
    "Other (say in the pocket book)",
)
REASON_PREFIX = "Stop reason: "
# How long the page waits for a check before it says the lookup timed out.
TIMEOUT_SECONDS = 8.0
MAX_QUERY = 200
HINT = "Type a plate (AB12 CDE), or: surname, forename, dd/mm/yyyy"
NOT_A_CLEARANCE = (
    "This is not a clearance: it says nothing about warnings, warrants or markers. "
    "Treat the person or vehicle as unchecked."
)
DOB_FORMATS = ("%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y-%m-%d")


class BadInput(ValueError):
    """The search box could not be read; the message names the part, never the value."""


@dataclass(frozen=True)
class Search:
    kind: str  # "vehicle" | "person"
    vrm: str | None = None
    surname: str | None = None
    forename: str | None = None
    date_of_birth: date | None = None


@dataclass
class Outcome:
    """What the page shows: `kind` is "result" or one of the failure modes."""

    kind: str
    heading: str = ""
    message: str = ""
    search: Search | None = None
    answer: dict[str, Any] = field(default_factory=dict)


def parse_dob(text: str) -> date:
    for fmt in DOB_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise BadInput("date of birth: use dd/mm/yyyy, for example 04/05/1995")


def parse(text: str) -> Search:
    """A plate, or "surname, forename, dd/mm/yyyy" (forename and date optional)."""
    t = text.strip()
    if not t:
        raise BadInput("the search box is empty")
    if len(t) > MAX_QUERY or any(ord(c) < 32 or ord(c) == 127 for c in t):
        raise BadInput(f"the search: at most {MAX_QUERY} characters, no control characters")
    if "," in t:
        parts = [p.strip() for p in t.split(",")]
        if len(parts) > 3:
            raise BadInput("a person: at most three parts, surname, forename, dd/mm/yyyy")
        if not parts[0]:
            raise BadInput("surname: give the surname first, before the first comma")
        forename = parts[1] if len(parts) > 1 and parts[1] else None
        dob = parse_dob(parts[2]) if len(parts) > 2 and parts[2] else None
        if dob is not None and dob > date.today():
            raise BadInput("date of birth: the date is in the future")
        return Search("person", surname=parts[0], forename=forename, date_of_birth=dob)
    compact = re.sub(r"\s+", "", t).upper()
    if re.search(r"[0-9]", compact):
        if re.fullmatch(r"[A-Z0-9]{1,8}", compact):
            return Search("vehicle", vrm=compact)
        raise BadInput(
            "a plate is 1 to 8 letters and digits; for a person use commas: "
            "surname, forename, dd/mm/yyyy"
        )
    return Search("person", surname=t)


def _with_deadline(run: Callable[[], dict[str, Any]], seconds: float) -> dict[str, Any]:
    """Run the check in a worker and wait at most `seconds` (raises FutureTimeout)."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="peel-patrol")
    try:
        return pool.submit(run).result(timeout=seconds)
    finally:
        pool.shutdown(wait=False)


def run_check(state: Any, caller: Caller, search: Search, rid: str) -> Outcome:
    def run() -> dict[str, Any]:
        if search.kind == "vehicle":
            assert search.vrm is not None
            return checks.vehicle_check(
                state.store, state.policy, caller, search.vrm, clock=state.clock
            )
        assert search.surname is not None
        return checks.person_check(
            state.store,
            state.policy,
            caller,
            surname=search.surname,
            forename=search.forename,
            date_of_birth=search.date_of_birth,
            clock=state.clock,
        )

    try:
        answer = _with_deadline(run, TIMEOUT_SECONDS)
    except FutureTimeout:
        logger.warning("patrol check timed out (request %s)", rid)
        return Outcome(
            "timeout",
            "NOT CHECKED: the lookup timed out",
            f"No answer came within {TIMEOUT_SECONDS:g} seconds, so nothing was checked. "
            "Try again, or ask the control room.",
            search,
        )
    except checks.NotPublished:
        return Outcome(
            "not_published",
            "NOT CHECKED: nothing has been published yet",
            "No profiles have been published yet, so this check searched nothing.",
            search,
        )
    except (AccessDenied, PolicyRefusal) as e:
        return Outcome("refused", "NOT CHECKED: access refused", str(e), search)
    except AuditError:
        logger.error("patrol check: the audit log could not be written (request %s)", rid)
        return Outcome(
            "failed",
            "NOT CHECKED: the lookup failed",
            "The audit log could not be written, so the check was not done and nothing is "
            f"returned (reference {rid}). Tell the system's administrators.",
            search,
        )
    except Exception as e:  # any failure of the lookup is shown, never taken as an answer
        if type(e) is PeelError:  # the check refused its input, naming the field
            return Outcome("bad_input", "NOT CHECKED: the search could not be read", str(e))
        logger.error("patrol check failed (request %s): %s", rid, type(e).__name__)
        return Outcome(
            "failed",
            "NOT CHECKED: the lookup failed",
            f"The check could not be completed (reference {rid}). Try again, or ask the "
            "control room.",
            search,
        )
    return Outcome("result", search=search, answer=answer)


def _purpose_ok(caller: Caller) -> bool:
    return caller.purpose == PATROL_PURPOSE and bool(caller.justification)


def _stop_reason(caller: Caller) -> str | None:
    j = caller.justification or ""
    return j[len(REASON_PREFIX) :] if j.startswith(REASON_PREFIX) else None


def _page(
    request: Request,
    state: Any,
    caller: Caller,
    *,
    q: str = "",
    outcome: Outcome | None = None,
    message: str | None = None,
    code: int = 200,
) -> HTMLResponse:
    perms = state.policy.permissions_of(caller.roles)
    return render(
        request,
        caller,
        "patrol.html",
        code=code,
        q=q,
        outcome=outcome,
        message=message,
        hint=HINT,
        not_a_clearance=NOT_A_CLEARANCE,
        reasons=STOP_REASONS,
        stop_reason=_stop_reason(caller),
        needs_purpose=not _purpose_ok(caller),
        may_patrol=PATROL_PURPOSE in state.policy.purposes_of(caller.roles),
        may_profile="person.profile" in perms,
        may_vehicle="vehicle.profile" in perms,
        safety=safety_items(outcome) if outcome and outcome.kind == "result" else [],
    )


STATUS = {"refused": 403, "bad_input": 400, "not_published": 503, "failed": 503, "timeout": 504}


@router.get("/patrol")
def patrol_page(request: Request, state: StateDep, caller: Signed, q: str = "") -> HTMLResponse:
    if not q:
        return _page(request, state, caller)
    q = q[: MAX_QUERY + 1]
    try:
        search = parse(q)
    except BadInput as e:
        out = Outcome("bad_input", "NOT CHECKED: the search could not be read", str(e))
    else:
        out = run_check(state, caller, search, request_id(request))
    return _page(request, state, caller, q=q, outcome=out, code=STATUS.get(out.kind, 200))


@router.post("/patrol/purpose")
def patrol_purpose(
    request: Request,
    state: StateDep,
    caller: Signed,
    reason: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Two taps: a stop reason, then Start. The purpose is "patrol check"."""
    if reason not in STOP_REASONS:
        return _page(request, state, caller, message="Choose the reason for the stop.", code=400)
    try:
        state.accounts.set_purpose(
            request.state.session_token, PATROL_PURPOSE, None, REASON_PREFIX + reason
        )
    except AccessDenied as e:
        return _page(request, state, caller, message=str(e), code=400)
    return RedirectResponse("/patrol", status_code=303)


def safety_items(outcome: Outcome) -> list[dict[str, Any]]:
    """Every officer-safety item of the answer, for the block at the top of the page: which
    candidate or plate it belongs to, and what it is, with its source and as-of day."""
    a = outcome.answer
    items: list[dict[str, Any]] = []
    if "candidates" in a:
        for n, c in enumerate(a["candidates"], 1):
            who = f"Person {n} of {len(a['candidates'])} ({c['profile_id']})"
            for w in c["warrants"]:
                items.append(
                    {
                        "who": who,
                        "what": f"WANTED: {w['warrant_type']} warrant outstanding",
                        "detail": f"{w['warrant_ref']}, issued {w['issued_date']}, "
                        f"{w['court_name']}",
                        "record": w["record"],
                        "as_of": w["as_of"],
                    }
                )
            for m in c["warnings"]:
                items.append(
                    {
                        "who": who,
                        "what": f"WARNING: {m['label']}",
                        "detail": m["safety_advice"],
                        "record": m["record"],
                        "as_of": m["as_of"],
                        "source": m["source"],
                    }
                )
        return items
    plates = [("exact plate", a.get("exact"))] + [
        ("POSSIBLE MISREAD, a different plate", v) for v in a.get("possible_misread", [])
    ]
    for label, v in plates:
        if not v:
            continue
        for w in v["warnings"]:
            items.append(
                {
                    "who": f"{v['vrm']} ({label})",
                    "what": w["reason"].replace("-", " ").upper(),
                    "detail": f"action: {w['required_action']}; expires {w['expiry_date']}",
                    "record": w["record"],
                    "as_of": w["as_of"],
                    "source": w["source"],
                }
            )
    return items


__all__ = ["STOP_REASONS", "BadInput", "Outcome", "Search", "parse", "router", "run_check"]
