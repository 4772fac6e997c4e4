"""The disclosure officer's review of a case's digital evidence (issue 7): the queue (the item
served, a link to its conversation, the coding form), search with highlighted snippets, an
item with the messages either side of it, the review record, and the disclosure schedules
(MG6C, MG6D, MG6E) with their downloads (CSV, PDF; the review record as JSON and PDF).

Every item on these pages comes from the same audited functions as the JSON API
(`peel.app.api.evidence`, over `peel.evidence.review` and `peel.evidence.casesearch`), so
each is checked against its hash, audited and counted as seen by the reader; every text is
redacted for display there. Forms are plain HTML posts (no script needed). Case references
may hold `/`: the pages live under `/cases/<reference>/evidence`.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from peel.app.api.evidence import (
    MAX_TERMS,
    SCHEDULE_FILES,
    code,
    context_doc,
    next_doc,
    schedule_file,
    schedules_doc,
    search_doc,
    status_doc,
)
from peel.app.api.leads import day_range
from peel.app.deps import AUTHENTICATED, Permit, StateDep
from peel.app.pages import render
from peel.errors import InputRefused
from peel.evidence.ingest import PERMISSION
from peel.evidence.items import KINDS
from peel.evidence.review import MAX_REASON, RELEVANCE
from peel.evidence.schedule import MG6C_COLUMNS, MG6D_COLUMNS, MG6E_COLUMNS
from peel.governance.access import Caller

logger = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
Reviewer = Annotated[Caller, Depends(Permit(PERMISSION))]
PAGE = 20
STAGES = {
    "ranked": "next by the model's ranking",
    "second": "a second review of another reviewer's 'not relevant'",
    "elusion": "the random check sample of unreviewed items (stopping rule)",
    "search": "found by a search",
    "duplicate": "an exact duplicate, coded with its first copy",
}
RELEVANCE_LABELS = {
    "relevant": "Relevant",
    "not_relevant": "Not relevant",
    "sensitive": "Sensitive",
}
# The schedules as the page shows them: key in the built document, form, title, what it
# holds, columns.
SCHEDULES = [
    (
        "mg6c",
        "MG6C",
        "Schedule of relevant non-sensitive unused material",
        "Each item coded relevant and not sensitive on its own line; the items coded not "
        "relevant, and those the review did not reach, block-listed by conversation and run "
        "of days.",
        MG6C_COLUMNS,
    ),
    (
        "mg6d",
        "MG6D",
        "Schedule of relevant sensitive unused material",
        "Each item coded sensitive, with the reviewer's reason for its sensitivity. This "
        "schedule goes to the prosecutor, not to the defence.",
        MG6D_COLUMNS,
    ),
    (
        "mg6e",
        "MG6E",
        "Disclosure officer's report",
        "Each item that meets the disclosure test: it might reasonably be considered capable "
        "of undermining the case for the prosecution or of assisting the case for the accused "
        "(CPIA 1996 s.3), with how it meets it.",
        MG6E_COLUMNS,
    ),
]
COLUMN_LABELS = {
    "item_no": "No.",
    "description": "Description",
    "location": "Location",
    "items": "Items",
    "reviewed": "Reviewed",
    "cps_comment": "CPS comment",
    "reason_for_sensitivity": "Reason for sensitivity",
    "how_it_meets_the_test": "How it meets the test",
}


def base(reference: str) -> str:
    return f"/cases/{quote(reference.strip(), safe='/')}/evidence"


def _page(request: Request, caller: Caller, template: str, ref: str, **extra: Any) -> HTMLResponse:
    return render(
        request,
        caller,
        template,
        ref=ref.strip(),
        base=base(ref),
        stages=STAGES,
        relevance=[(r, RELEVANCE_LABELS[r]) for r in RELEVANCE],
        max_reason=MAX_REASON,
        **extra,
    )


@router.get("/evidence")
def evidence_home(caller: Annotated[Caller, Depends(Permit(AUTHENTICATED))]) -> Response:
    """The review of the case named in the caller's purpose (or the purpose page first)."""
    if caller.case_reference:
        return RedirectResponse(base(caller.case_reference), status_code=303)
    return RedirectResponse("/purpose", status_code=303)


@router.get("/cases/{reference:path}/evidence")
def queue_page(reference: str, request: Request, state: StateDep, caller: Reviewer) -> Response:
    served = next_doc(state, caller, reference)
    return _page(request, caller, "evidence_queue.html", reference, served=served)


@router.get("/cases/{reference:path}/evidence/items/{item_id}")
def item_page(
    reference: str,
    item_id: int,
    request: Request,
    state: StateDep,
    caller: Reviewer,
    k: Annotated[int, Query(ge=0, le=10)] = 3,
) -> Response:
    return _item(request, state, caller, reference, item_id, k)


def _item(
    request: Request,
    state: Any,
    caller: Caller,
    reference: str,
    item_id: int,
    k: int,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    ctx = context_doc(state, caller, reference, item_id, k)
    focus = next((it for it in ctx["items"] if it["focus"]), None)
    return _page(
        request,
        caller,
        "evidence_item.html",
        reference,
        code=status,
        ctx=ctx,
        focus=focus,
        error=error,
        form=form or {},
    )


@router.post("/cases/{reference:path}/evidence/items/{item_id}/code")
def code_submit(
    reference: str,
    item_id: int,
    request: Request,
    state: StateDep,
    caller: Reviewer,
    relevance: Annotated[str, Form(max_length=32)] = "",
    meets_test: Annotated[str, Form(max_length=8)] = "",
    reason: Annotated[str, Form(max_length=MAX_REASON)] = "",
) -> Response:
    form = {"relevance": relevance, "meets_test": meets_test, "reason": reason}
    try:
        if relevance not in RELEVANCE:
            raise InputRefused("relevance: choose relevant, not relevant or sensitive")
        code(
            state,
            caller,
            reference,
            item_id,
            relevance=relevance,
            meets_test=bool(meets_test),
            reason=reason,
        )
    except InputRefused as e:
        # The item and its neighbours again, with the message and what was typed.
        return _item(
            request, state, caller, reference, item_id, 3, error=str(e), form=form, status=400
        )
    return RedirectResponse(base(reference), status_code=303)


def _day(text: str, name: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as e:
        raise InputRefused(f"{name}: not a date (YYYY-MM-DD)") from e


@router.get("/cases/{reference:path}/evidence/search")
def search_page(
    reference: str,
    request: Request,
    state: StateDep,
    caller: Reviewer,
    q: Annotated[str, Query(max_length=MAX_TERMS)] = "",
    participant: Annotated[str, Query(max_length=200)] = "",
    since: Annotated[str, Query(max_length=32)] = "",
    until: Annotated[str, Query(max_length=32)] = "",
    kind: Annotated[list[str], Query(max_length=len(KINDS))] = [],  # noqa: B006
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    form = {"q": q, "participant": participant, "since": since, "until": until}
    kinds = [k for k in kind if k in KINDS]
    asked = bool(q.strip() or participant.strip() or since or until or kinds)
    out: dict[str, Any] | None = None
    error = None
    status = 200
    if asked:
        try:
            start, _ = day_range(_day(since, "from"), None)
            _, end = day_range(None, _day(until, "to"))
            out = search_doc(
                state,
                caller,
                reference,
                terms=q,
                participant=participant.strip() or None,
                since=start,
                until=end,
                kinds=kinds,
                limit=PAGE,
                offset=offset,
            )
        except InputRefused as e:
            error, status = str(e), 400
    pager = None
    if out is not None and not out["counts_only"]:
        params = {**form, "kind": kinds}
        prev = (
            "?" + urlencode({**params, "offset": max(0, offset - PAGE)}, doseq=True)
            if offset > 0
            else None
        )
        more = offset + len(out["hits"]) < out["count"]
        nxt = "?" + urlencode({**params, "offset": offset + PAGE}, doseq=True) if more else None
        pager = {"prev": prev, "next": nxt}
    return _page(
        request,
        caller,
        "evidence_search.html",
        reference,
        code=status,
        form=form,
        kinds=KINDS,
        chosen_kinds=kinds,
        out=out,
        error=error,
        pager=pager,
    )


@router.get("/cases/{reference:path}/evidence/record")
def record_page(reference: str, request: Request, state: StateDep, caller: Reviewer) -> Response:
    st = status_doc(state, caller, reference)
    rows = [
        (stage, STAGES.get(stage, stage), counts)
        for stage, counts in sorted(st["decisions"].items())
    ]
    return _page(request, caller, "evidence_record.html", reference, st=st, rows=rows)


@router.get("/cases/{reference:path}/evidence/schedules")
def schedules_page(reference: str, request: Request, state: StateDep, caller: Reviewer) -> Response:
    # Building the schedules is audited by the back end as a disclosure, and the items they
    # describe are recorded as seen by the reader ("export"): every view of this page is one
    # such entry, as it should be (the page shows the descriptions). Built once per request.
    doc = schedules_doc(state, caller, reference)
    return _page(
        request,
        caller,
        "evidence_schedules.html",
        reference,
        doc=doc,
        rec=doc["record"],
        schedules=SCHEDULES,
        labels=COLUMN_LABELS,
        files=list(SCHEDULE_FILES),
    )


@router.get("/cases/{reference:path}/evidence/schedules/{name}")
def schedule_download(reference: str, name: str, state: StateDep, caller: Reviewer) -> Response:
    """One file of the schedules (MG6C.csv, ..., review-record.pdf) as an attachment; built
    afresh, so audited as a disclosure like the page."""
    return schedule_file(state, caller, reference, name)


__all__ = ["base", "router"]
