"""The investigator's ANPR leads workbench: choose crimes (a filter, a list with check boxes
and a map of them), run a lead search, and read the ranked leads, each with its claim, the
arithmetic, the keeper and history, a possible-clone warning, a link to its product, and the
vehicle's reads on a timeline and a map (inline SVG drawn on the server: no tiles, no script).

Every read goes through the same audited functions as the JSON API (peel.app.api.leads): the
crime list is an audited consultation, the search runs under the ANPR access rules and is
audited, and so are the sightings. Refusals and bad input are shown on the page, naming the
field or the reason.
"""

from __future__ import annotations

import logging
import re
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse

from peel import clock as data_clock
from peel.app import leads_drawing as draw
from peel.app.api.common import PageDep
from peel.app.api.leads import (
    MAX_CRIMES,
    REF_PATTERN,
    crime_page,
    day_range,
    pick_crimes,
    run_search,
)
from peel.app.deps import Permit, StateDep
from peel.app.pages import render
from peel.app.state import AppState
from peel.errors import AccessDenied, AuditError, PeelError, PolicyRefusal
from peel.governance.access import Caller
from peel.leads.catalogue import CrimeQuery
from peel.leads.score import Params

logger = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
Investigator = Annotated[Caller, Depends(Permit("anpr.read"))]
REF = re.compile(REF_PATTERN)
TYPE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class FieldError(PeelError):
    """A form field could not be read; the message names the field, never the value."""


def _day(text: str, name: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as e:
        raise FieldError(f"{name}: not a date (YYYY-MM-DD)") from e


def _number(text: str, name: str, lo: float, hi: float) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError as e:
        raise FieldError(f"{name}: not a number") from e
    if not lo <= value <= hi:
        raise FieldError(f"{name}: must be from {lo:g} to {hi:g}")
    return value


def parse_refs(values: list[str]) -> list[str]:
    """Crime references from check boxes or a comma-separated list, checked one by one."""
    refs = [r.strip() for v in values for r in v.split(",") if r.strip()]
    bad = sum(1 for r in refs if not REF.match(r))
    if bad:
        raise FieldError(
            f"crimes: {bad} reference(s) are not crime references (letters, digits, / _ . : -)"
        )
    if len(refs) > MAX_CRIMES:
        raise FieldError(f"crimes: at most {MAX_CRIMES} crimes in one search ({len(refs)} chosen)")
    return list(dict.fromkeys(refs))


def _defaults() -> dict[str, str]:
    today = data_clock.now().date()
    return {"date_from": (today - timedelta(days=30)).isoformat(), "date_to": today.isoformat()}


def _chooser(
    request: Request,
    state: AppState,
    caller: Caller,
    form: dict[str, str],
    chosen: list[str],
    page: Any,
    *,
    error: str | None = None,
    code: int = 200,
) -> HTMLResponse:
    """The chooser page: filter, chosen crimes, matching crimes, the map, the search form."""
    listing: dict[str, Any] | None = None
    picked: dict[str, Any] | None = None
    filtered = any(form.get(k) for k in ("crime_type", "date_from", "date_to", "km"))
    try:
        if filtered:
            start, end = day_range(
                _day(form.get("date_from", ""), "from"), _day(form.get("date_to", ""), "to")
            )
            km = _number(form.get("km", ""), "km", 0.01, 100)
            e = _number(form.get("near_easting", ""), "easting", -1e7, 1e7)
            n = _number(form.get("near_northing", ""), "northing", -1e7, 1e7)
            crime_type = form.get("crime_type", "").strip() or None
            if crime_type is not None and not TYPE.match(crime_type):
                raise FieldError("crime type: not one of the lake's crime types")
            q = CrimeQuery(
                crime_type=crime_type,
                start=start,
                end=end,
                near=(e, n) if e is not None and n is not None else None,
                km=km,
                searchable_only=True,
            )
            listing = crime_page(state, caller, q, limit=page.limit, offset=page.offset)
        if chosen:
            picked = crime_page(
                state, caller, CrimeQuery(refs=tuple(chosen)), limit=MAX_CRIMES, offset=0
            )
            missing = set(chosen) - {c["crime_ref"] for c in picked["crimes"]}
            if missing:
                error = error or f"unknown crime reference(s): {', '.join(sorted(missing)[:10])}"
                code = 400 if code == 200 else code
    except (AccessDenied, PolicyRefusal) as e:
        return _refused(request, state, caller, form, chosen, str(e))
    except AuditError:
        raise
    except PeelError as e:
        error, code = str(e), 400
    source = listing or picked or {"crime_types": [], "cameras": []}
    shown = (listing or {}).get("crimes", []) + [
        c
        for c in (picked or {}).get("crimes", [])
        if c["crime_ref"] not in {x["crime_ref"] for x in (listing or {}).get("crimes", [])}
    ]
    return render(
        request,
        caller,
        "leads.html",
        code=code,
        form=form,
        chosen=chosen,
        listing=listing,
        picked=picked,
        types=source["crime_types"],
        drawing=draw.crimes_map(shown, source["cameras"], set(chosen)),
        error=error,
        page=page,
        max_crimes=MAX_CRIMES,
        filtered=filtered,
    )


def _refused(
    request: Request,
    state: AppState,
    caller: Caller,
    form: dict[str, str],
    chosen: list[str],
    reason: str,
) -> HTMLResponse:
    return render(
        request,
        caller,
        "leads.html",
        code=403,
        form=form,
        chosen=chosen,
        listing=None,
        picked=None,
        types=[],
        drawing=None,
        error=f"Access refused: {reason}",
        refused=True,
        page=None,
        max_crimes=MAX_CRIMES,
        filtered=False,
    )


@router.get("/leads")
def leads_page(
    request: Request,
    state: StateDep,
    caller: Investigator,
    page: PageDep,
    crime_type: str = "",
    date_from: str = "",
    date_to: str = "",
    near_easting: str = "",
    near_northing: str = "",
    km: str = "",
    crimes: str = "",
    authorisation_id: str = "",
) -> HTMLResponse:
    form = {
        "crime_type": crime_type[:64],
        "date_from": date_from[:32],
        "date_to": date_to[:32],
        "near_easting": near_easting[:32],
        "near_northing": near_northing[:32],
        "km": km[:16],
        "authorisation_id": authorisation_id[:12],
        "radius_m": "500",
        "margin_min": "30",
    }
    try:
        chosen = parse_refs([crimes[:10_000]])
    except FieldError as e:
        return _chooser(request, state, caller, form, [], page, error=str(e), code=400)
    if not any(form[k] for k in ("crime_type", "date_from", "date_to")) and not chosen:
        form.update(_defaults())  # a first visit: the last 30 days by the data clock
    return _chooser(request, state, caller, form, chosen, page)


@router.post("/leads/search")
def leads_search(
    request: Request,
    state: StateDep,
    caller: Investigator,
    page: PageDep,
    crimes: Annotated[list[str], Form(max_length=MAX_CRIMES * 2)] = [],  # noqa: B006
    radius_m: Annotated[str, Form(max_length=16)] = "500",
    margin_min: Annotated[str, Form(max_length=16)] = "30",
    authorisation_id: Annotated[str, Form(max_length=12)] = "",
) -> HTMLResponse:
    form = {
        "radius_m": radius_m,
        "margin_min": margin_min,
        "authorisation_id": authorisation_id,
        "crime_type": "",
        "date_from": "",
        "date_to": "",
        "near_easting": "",
        "near_northing": "",
        "km": "",
    }
    chosen: list[str] = []
    try:
        chosen = parse_refs([c[:200] for c in crimes])
        if not chosen:
            raise FieldError("crimes: choose at least one crime")
        radius = _number(radius_m, "radius", 1, 5000) or 500.0
        margin = _number(margin_min, "margin", 0, 1440)
        auth = _number(authorisation_id, "authorisation", 1, 2**31 - 1)
        if auth is not None and auth != int(auth):
            raise FieldError("authorisation: a whole number")
        params = Params(radius_m=radius, margin_min=30.0 if margin is None else margin)
        picked, _ = pick_crimes(state, chosen, None)
        out = run_search(
            state,
            caller,
            picked,
            params=params,
            authorisation_id=None if auth is None else int(auth),
        )
    except (AccessDenied, PolicyRefusal) as e:
        error = f"Access refused: {e}"
        return _chooser(request, state, caller, form, chosen, page, error=error, code=403)
    except AuditError:
        raise
    except PeelError as e:
        return _chooser(request, state, caller, form, chosen, page, error=str(e), code=400)
    return render(
        request,
        caller,
        "leads_results.html",
        out=out,
        leads=[_lead_view(lead, out, params) for lead in out["leads"]],
        params=params,
        chosen=chosen,
        refs=",".join(chosen),
        authorisation_id=form["authorisation_id"],
        may_profile="person.profile" in state.policy.permissions_of(caller.roles),
        may_records="records.read" in state.policy.permissions_of(caller.roles),
    )


def _lead_view(lead: dict[str, Any], out: dict[str, Any], params: Params) -> dict[str, Any]:
    crimes = out["crime_details"]
    sights = lead.get("sightings", [])
    near = sum(1 for s in sights if s["kind"] == "near")
    far = sum(1 for s in sights if s["kind"] == "far")
    return {
        "lead": lead,
        "timeline": draw.timeline(crimes, sights, params.margin_min),
        "map": draw.lead_map(crimes, sights, out["cameras"], params.radius_m),
        "near": near,
        "far": far,
        "keepers": [_keeper_text(k) for k in lead.get("keepers", [])],
    }


def _keeper_text(k: dict[str, Any]) -> dict[str, Any]:
    h = k.get("history") or {}
    counts = {name: len(h.get(name) or []) for name in ("convictions", "crimes", "intelligence")}
    since = f"from {k['start']}" if k.get("start") else ""
    until = f" to {k['end']}" if k.get("end") else ""
    return {
        "kind": k.get("kind"),
        "profile_id": k.get("profile_id"),
        "record": k.get("record"),
        "period": (since + until).strip() or "dates not recorded",
        "counts": counts,
    }


__all__ = ["parse_refs", "router"]
