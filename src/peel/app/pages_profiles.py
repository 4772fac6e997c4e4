"""The person profile page (with "why are these one person": the Splink waterfall of two of
its records, drawn as SVG on the server) and the vehicle page.

Every read goes through the audited functions of peel.resolve.served, as the API does: the
profile read, the why of a link and the vehicle read are each one audited consultation.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from peel.app.deps import Permit, StateDep, request_id
from peel.app.pages import render
from peel.errors import AuditError, PeelError
from peel.governance.access import Caller
from peel.lake import Lake
from peel.resolve import served

logger = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

Col = tuple[str, str]
# (part of the document, heading, columns): every row also shows its source record and as-of.
PERSON_PARTS: tuple[tuple[str, str, tuple[Col, ...]], ...] = (
    (
        "warning_markers",
        "Warning markers",
        (
            ("label", "Marker"),
            ("marker_code", "Code"),
            ("safety_advice", "Safety advice"),
            ("marker_detail", "Detail"),
            ("marker_date", "Date"),
            ("marker_source", "From"),
        ),
    ),
    (
        "warrants",
        "Warrants",
        (
            ("warrant_ref", "Warrant"),
            ("warrant_type", "Type"),
            ("warrant_status", "Status"),
            ("active", "Active"),
            ("issued_date", "Issued"),
            ("executed_date", "Executed"),
            ("court_name", "Court"),
        ),
    ),
    (
        "identities",
        "Identities",
        (
            ("surname", "Surname"),
            ("forenames", "Forenames"),
            ("date_of_birth", "Born"),
            ("sex", "Sex"),
            ("pnc_id", "PNC ID"),
            ("cro_number", "CRO"),
        ),
    ),
    (
        "crimes",
        "Crimes",
        (
            ("crime_ref", "Crime"),
            ("role", "Role"),
            ("crime_type", "Type"),
            ("committed_from", "When"),
            ("location_text", "Where"),
            ("last_outcome", "Outcome"),
        ),
    ),
    (
        "convictions",
        "Convictions",
        (
            ("conviction_date", "Convicted"),
            ("offence_description", "Offence"),
            ("court_name", "Court"),
            ("disposal", "Disposal"),
        ),
    ),
    (
        "custody",
        "Custody",
        (
            ("custody_ref", "Custody"),
            ("custody_suite", "Suite"),
            ("arrived_at", "Arrived"),
            ("released_at", "Released"),
            ("offence_description", "Offence"),
            ("custody_outcome", "Outcome"),
        ),
    ),
    (
        "intelligence",
        "Intelligence",
        (
            ("intel_ref", "Report"),
            ("submitted_at", "Submitted"),
            ("grading", "Grading"),
            ("fact_or_assessment", "Fact or assessment"),
            ("intel_text", "Text"),
        ),
    ),
    (
        "vehicles",
        "Vehicles kept",
        (("vrm", "Plate"), ("start_date", "From"), ("end_date", "To")),
    ),
    (
        "associates",
        "Associates",
        (
            ("profile_id", "Profile"),
            ("kind", "Link"),
            ("basis", "Basis"),
            ("crime_ref", "Crime"),
            ("postcode", "Postcode"),
        ),
    ),
    (
        "addresses",
        "Addresses",
        (
            ("address_text", "Address"),
            ("postcode", "Postcode"),
            ("kind", "Kind"),
            ("start_date", "From"),
            ("end_date", "To"),
        ),
    ),
    (
        "special_category",
        "Special-category detail",
        (("field", "Field"), ("category", "Category"), ("value", "Detail")),
    ),
)
VEHICLE_PARTS: tuple[tuple[str, str, tuple[Col, ...]], ...] = (
    (
        "vehicle_of_interest",
        "Hotlist entries",
        (
            ("reason", "Reason"),
            ("required_action", "Action"),
            ("source", "From"),
            ("created_at", "Created"),
            ("expiry_date", "Expires"),
        ),
    ),
    (
        "register",
        "Register",
        (
            ("make", "Make"),
            ("model", "Model"),
            ("colour", "Colour"),
            ("body_type", "Body"),
            ("first_registered", "First registered"),
        ),
    ),
    (
        "keepers",
        "Keepers",
        (
            ("keeper", "Keeper"),
            ("profile_id", "Profile"),
            ("start_date", "From"),
            ("end_date", "To"),
        ),
    ),
    (
        "intelligence",
        "Intelligence",
        (
            ("intel_ref", "Report"),
            ("submitted_at", "Submitted"),
            ("fact_or_assessment", "Fact or assessment"),
            ("crime_ref", "Crime"),
        ),
    ),
    (
        "linked_crimes",
        "Linked crimes",
        (
            ("crime_ref", "Crime"),
            ("crime_type", "Type"),
            ("committed_from", "When"),
            ("via", "Via"),
        ),
    ),
)
# The waterfall drawing, in SVG user units.
SVG_WIDTH, LABEL_WIDTH, ROW_HEIGHT = 600, 190, 22


def _grade(row: dict[str, Any]) -> dict[str, Any]:
    parts = ("grading_scheme", "source_evaluation", "intelligence_assessment", "handling_code")
    grading = " ".join(str(row[p]) for p in parts if row.get(p))
    return {**row, "grading": grading or None}


def waterfall_drawing(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Bars of a waterfall: each comparison's match weight added to the running total (the
    prior first), then the final score from zero. Geometry only; the template draws it."""
    spans: list[tuple[dict[str, Any], float, float, str]] = []
    total = 0.0
    for s in steps:
        w = float(s.get("match_weight") or 0.0)
        if s["field"] == "Final score":
            spans.append((s, 0.0, w, "total"))
        else:
            spans.append((s, total, total + w, "pos" if w >= 0 else "neg"))
            total += w
    ends = [0.0] + [x for _, a, b, _ in spans for x in (a, b)]
    lo, hi = min(ends), max(ends)
    scale = (SVG_WIDTH - LABEL_WIDTH - 50) / ((hi - lo) or 1.0)
    bars = []
    for i, (s, a, b, kind) in enumerate(spans):
        x = LABEL_WIDTH + (min(a, b) - lo) * scale
        width = max(1.0, abs(b - a) * scale)
        bars.append(
            {
                "y": 8 + i * ROW_HEIGHT,
                "x": round(x, 1),
                "width": round(width, 1),
                "text_x": round(x + width + 4, 1),
                "kind": kind,
                "field": s["field"],
                "weight": float(s.get("match_weight") or 0.0),
            }
        )
    return {
        "width": SVG_WIDTH,
        "height": 16 + len(spans) * ROW_HEIGHT,
        "zero": round(LABEL_WIDTH + (0 - lo) * scale, 1),
        "label_x": LABEL_WIDTH - 6,
        "bars": bars,
    }


@router.get("/profiles/{profile_id}")
def profile_page(
    profile_id: str,
    request: Request,
    state: StateDep,
    caller: Annotated[Caller, Depends(Permit("person.profile"))],
    a: Annotated[str, Query(max_length=300)] = "",
    b: Annotated[str, Query(max_length=300)] = "",
) -> HTMLResponse:
    doc = served.read_profile(
        state.store, state.policy, caller, profile_id[:100], clock=state.clock
    )
    records: list[str] = doc["records"]
    a = a or (records[0] if records else "")
    b = b or (records[1] if len(records) > 1 else "")
    why: dict[str, Any] | None = None
    why_error = None
    if a and b:
        try:
            why = served.why(
                state.store,
                state.policy,
                state.settings,
                caller,
                doc["profile_id"],
                a,
                b,
                clock=state.clock,
            )
        except AuditError:
            raise
        except PeelError as e:  # refused input or a record not in the run: say which
            why_error = str(e)
        except Exception as e:  # the model could not score the pair: the page still shows
            logger.error("why failed (request %s): %s", request_id(request), type(e).__name__)
            why_error = "the match weights could not be computed for these two records"
    elif len(records) < 2:
        why_error = "this profile has one record: there is no link to explain"
    parts = {k: [_grade(r) for r in doc.get(k, [])] for k in ("intelligence",)}
    perms = state.policy.permissions_of(caller.roles)
    return render(
        request,
        caller,
        "profile.html",
        doc={**doc, **parts},
        sections=PERSON_PARTS,
        a=a,
        b=b,
        why=why,
        why_error=why_error,
        drawing=waterfall_drawing(why["waterfall"]) if why else None,
        may_profile=True,
        may_vehicle="vehicle.profile" in perms,
    )


@router.get("/vehicles/{vrm}")
def vehicle_page(
    vrm: str,
    request: Request,
    state: StateDep,
    caller: Annotated[Caller, Depends(Permit("vehicle.profile"))],
) -> HTMLResponse:
    doc = served.read_vehicle(
        state.store,
        state.policy,
        caller,
        vrm[:100],
        lake=Lake(state.settings),
        clock=state.clock,
    )
    perms = state.policy.permissions_of(caller.roles)
    return render(
        request,
        caller,
        "vehicle.html",
        doc=doc,
        sections=VEHICLE_PARTS,
        may_profile="person.profile" in perms,
        may_vehicle=True,
    )


__all__ = ["router", "waterfall_drawing"]
