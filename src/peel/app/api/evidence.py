"""A case's digital evidence review for disclosure (issue 7): the next item of the queue, an
item's conversation context, coding, search, the review record, and the disclosure
schedules (MG6C, MG6D, MG6E) with the review record as data.

Every route needs `evidence.review` with the disclosure purpose, and the caller's case
reference (Peel-Case-Reference) must be the case in the path; only members of the case get
anything. The work is done by `peel.evidence.review` and `peel.evidence.casesearch`, which
check access again, audit each call and count every item they return as seen by the caller:
nothing here reads an item any other way.

Case references may hold `/` (`OP/DISC/7`), so the reference is a path parameter that spans
segments: `/api/cases/OP/DISC/7/evidence/next`.

Text shown is always redacted for display (phone numbers, e-mail addresses, postcodes, and
the names in the case's contact lists: `peel.evidence.redact`); the policy has no setting
that lets a reader see unredacted text, so there is no switch for it here. Errors: a case
that does not exist answers 404; no material ingested or no such item 404; stored material
that fails its hash check (`EvidenceTampered`) 409 naming the item; a refusal 403 (audited).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from peel.app.api.common import PageDep
from peel.app.deps import Permit, StateDep
from peel.app.state import AppState
from peel.errors import NotFound
from peel.evidence import review, schedule
from peel.evidence.casesearch import search_case
from peel.evidence.ingest import PERMISSION, open_case
from peel.evidence.items import KINDS
from peel.evidence.redact import MARKERS, Redactor
from peel.evidence.store import EvidenceError, StoredItem
from peel.governance import cases
from peel.governance.access import Caller, consultation

router = APIRouter(prefix="/api/cases", tags=["evidence"])
Reviewer = Annotated[Caller, Depends(Permit(PERMISSION))]
# How coding retrains the model: in a background thread, so a decision never waits for it
# (tests that need it finished set "sync").
TRAIN = "background"
MAX_TERMS = 1_000
Kind = Literal["chat", "sms", "call", "email", "record"]
assert set(KINDS) == set(get_args(Kind))  # the item kinds the back end knows
# The files `schedule.write` makes, each with the type it is served as.
SCHEDULE_FILES = {
    "MG6C.csv": "text/csv; charset=utf-8",
    "MG6D.csv": "text/csv; charset=utf-8",
    "MG6E.csv": "text/csv; charset=utf-8",
    "MG6C.pdf": "application/pdf",
    "MG6D.pdf": "application/pdf",
    "MG6E.pdf": "application/pdf",
    "review-record.json": "application/json",
    "review-record.pdf": "application/pdf",
}


class CodeCreate(BaseModel):
    """A reviewer's decision on an item they were served or shown by a search."""

    relevance: Literal["relevant", "not_relevant", "sensitive"]
    meets_test: bool = Field(
        description="whether the item meets the disclosure test (CPIA 1996 s.3)"
    )
    reason: str = Field(min_length=1, max_length=review.MAX_REASON)


# -- the case -------------------------------------------------------------------------------------
def the_case(state: AppState, caller: Caller, reference: str) -> str:
    """The case in the path, when the caller's purpose names it and it exists (404 if not).
    A purpose naming another case is left to the back end, which refuses it and audits the
    refusal."""
    reference = reference.strip()
    if caller.case_reference == reference:
        if not cases.REFERENCE.fullmatch(reference):
            raise NotFound("no case with that reference")
        with state.store.read() as conn:
            if cases.get_case(conn, reference) is None:
                raise NotFound(f"no case with reference {reference!r}")
    return reference


def data_dir(state: AppState) -> Path:
    return state.settings.data_dir


# -- redaction for display ------------------------------------------------------------------------
def display_redactor(state: AppState, reference: str) -> Redactor:
    """THE redaction hook for everything the review shows: phone numbers, e-mail addresses,
    postcodes and the names of the case's contact lists. Call it only after the back end
    has authorised the caller for the case."""
    try:
        contacts = open_case(state.store, data_dir(state), reference).contacts()
    except EvidenceError:
        contacts = []
    return Redactor(contact_names=[name for name, _, _ in contacts])


def _shown(r: Redactor, text: str | None) -> str | None:
    return None if text is None else r.redact(text)


def item_doc(s: StoredItem, r: Redactor) -> dict[str, Any]:
    """An item as shown: every text field redacted; where it was found (file and line)."""
    it = s.item
    return {
        "id": s.id,
        "kind": it.kind,
        "sender": _shown(r, it.sender),
        "recipients": [r.redact(x) for x in it.recipients],
        "sent_at": it.sent_at.isoformat() if it.sent_at else None,
        "sent_text": it.sent_text,
        "conversation": r.redact(it.conversation),
        "subject": r.redact(it.subject),
        "text": r.redact(it.text),
        "attachments": len(it.attachments),
        "duplicate_of": s.duplicate_of,
        "file": r.redact(s.file),
        "line": s.line,
    }


# A snippet is a window of the text: a number or address cut by its edge is no longer whole,
# so the redactor cannot know it. Words at either edge holding a digit or "@" are dropped.
_WORDS = re.compile(r"(\s+)")
_RISKY = re.compile(r"[\d@]")


def _trim_edges(text: str, *, start: bool) -> str:
    parts = _WORDS.split(text)  # words at even positions, spaces at odd ones
    if not start:
        parts.reverse()
    dropped = 0
    while dropped < len(parts) and (
        dropped % 2 == 1 or not parts[dropped] or _RISKY.search(parts[dropped])
    ):
        dropped += 1
    if not any(_RISKY.search(p) for p in parts[:dropped]):
        return text
    kept = parts[dropped:]
    if not start:
        kept.reverse()
        return "".join(kept) + " …" if kept else "…"
    return "… " + "".join(kept) if kept else "…"


def redact_segments(r: Redactor, segments: Sequence[Sequence[Any]]) -> list[tuple[str, bool]]:
    """A search snippet's (text, matched?) segments, redacted as one text (so a number split
    by a highlight is still found); a redacted span that overlaps a match is shown matched."""
    parts = [(str(t), bool(hl)) for t, hl in segments]
    text = "".join(t for t, _ in parts)
    marks = bytearray(len(text))
    at = 0
    for t, hl in parts:
        if hl:
            marks[at : at + len(t)] = b"\x01" * len(t)
        at += len(t)
    out: list[tuple[str, bool]] = []

    def add(t: str, hl: bool) -> None:
        if not t:
            return
        if out and out[-1][1] == hl:
            out[-1] = (out[-1][0] + t, hl)
        else:
            out.append((t, hl))

    at = 0
    for span in r.find(text):
        for i in range(at, span.start):
            add(text[i], bool(marks[i]))
        add(MARKERS[span.kind], marks.find(1, span.start, span.end) != -1)
        at = span.end
    for i in range(at, len(text)):
        add(text[i], bool(marks[i]))
    if out and not out[0][1]:
        out[0] = (_trim_edges(out[0][0], start=True), False)
    if out and not out[-1][1]:
        out[-1] = (_trim_edges(out[-1][0], start=False), False)
    return out


# -- the work, shared with the pages --------------------------------------------------------------
def next_doc(state: AppState, caller: Caller, reference: str) -> dict[str, Any]:
    """Lease and show the caller's next item (audited, counted as seen); `item` None when
    every item has its decisions."""
    reference = the_case(state, caller, reference)
    served = review.next_item(
        state.store,
        state.policy,
        caller,
        data_dir=data_dir(state),
        reference=reference,
        clock=state.clock,
    )
    if served is None:
        return {
            "case": reference,
            "stage": None,
            "lease_expires_at": None,
            "item": None,
            "message": "every item has its decisions",
        }
    r = display_redactor(state, reference)
    return {
        "case": reference,
        "stage": served.stage,
        "lease_expires_at": served.expires_at.isoformat(),
        "item": item_doc(served.item, r),
    }


def context_doc(
    state: AppState, caller: Caller, reference: str, item_id: int, k: int
) -> dict[str, Any]:
    """At most k items either side of an item the caller was shown (audited, counted)."""
    reference = the_case(state, caller, reference)
    got = review.show_context(
        state.store,
        state.policy,
        caller,
        data_dir=data_dir(state),
        reference=reference,
        item_id=item_id,
        k=k,
        clock=state.clock,
    )
    r = display_redactor(state, reference)
    return {
        "case": reference,
        "item": item_id,
        "k": max(0, min(k, 10)),
        "items": [item_doc(s, r) | {"focus": s.id == item_id} for s in got],
    }


def code(
    state: AppState,
    caller: Caller,
    reference: str,
    item_id: int,
    *,
    relevance: str,
    meets_test: bool,
    reason: str,
) -> dict[str, Any]:
    """Record the caller's decision on an item (audited); its exact duplicates with it."""
    reference = the_case(state, caller, reference)
    out = review.code_item(
        state.store,
        state.policy,
        caller,
        data_dir=data_dir(state),
        reference=reference,
        item_id=item_id,
        relevance=relevance,
        meets_test=meets_test,
        reason=reason,
        clock=state.clock,
        train=TRAIN,
    )
    return {"case": reference, **out}


def search_doc(
    state: AppState,
    caller: Caller,
    reference: str,
    *,
    terms: str,
    participant: str | None,
    since: datetime | None,
    until: datetime | None,
    kinds: Sequence[str],
    limit: int,
    offset: int,
) -> dict[str, Any]:
    """The case searched (audited; hits shown counted as seen), snippets redacted."""
    reference = the_case(state, caller, reference)
    out = search_case(
        state.store,
        state.policy,
        caller,
        data_dir=data_dir(state),
        reference=reference,
        terms=terms,
        participant=participant,
        since=since,
        until=until,
        kinds=kinds,
        limit=limit,
        offset=offset,
        clock=state.clock,
    )
    if out["hits"]:
        r = display_redactor(state, reference)
        for h in out["hits"]:
            h["sender"] = _shown(r, h["sender"])
            h["conversation"] = _shown(r, h["conversation"])
            h["subject"] = _shown(r, h["subject"])
            h["snippet"] = [list(seg) for seg in redact_segments(r, h["snippet"])]
    return out


def status_doc(state: AppState, caller: Caller, reference: str) -> dict[str, Any]:
    """The review record's figures (no item content): authorised like the rest of the
    review and audited as a consultation of the case's review."""
    reference = the_case(state, caller, reference)
    review.authorise(state.store, state.policy, caller, reference, "status")
    try:
        items = open_case(state.store, data_dir(state), reference).count()
    except EvidenceError:
        items = 0
    with consultation(
        state.store,
        state.policy,
        caller,
        permission=PERMISSION,
        object_type="evidence_review",
        query={"case": reference, "action": "status"},
        clock=state.clock,
    ) as op:
        out = review.status(state.store, reference, items)
        op.returned([f"case:{reference}"])
    return {"case": reference, "target_recall": review.target_recall(state.policy), **out}


def schedules_doc(state: AppState, caller: Caller, reference: str) -> dict[str, Any]:
    """The schedules MG6C, MG6D, MG6E and the review record, descriptions always redacted.
    The back end authorises the caller, reads every item described through the case store
    (hash checked), counts it as seen by the caller ("export") and audits the whole as a
    disclosure: each call is one such entry, so call it once per request."""
    reference = the_case(state, caller, reference)
    return schedule.build(
        state.store,
        state.policy,
        caller,
        data_dir=data_dir(state),
        reference=reference,
        redacted=True,
        clock=state.clock,
    )


def schedule_file(state: AppState, caller: Caller, reference: str, name: str) -> Response:
    """One file of the schedules (`SCHEDULE_FILES`) as a download: built (audited, see
    `schedules_doc`) and written in a temporary directory that is gone when this returns.
    A name not in the list is 404 before anything is built."""
    media_type = SCHEDULE_FILES.get(name)
    if media_type is None:
        # The name is not echoed: what is typed in a path is not fit to show.
        raise NotFound("no such schedule file; the files are " + ", ".join(SCHEDULE_FILES))
    doc = schedules_doc(state, caller, reference)
    with tempfile.TemporaryDirectory(prefix="peel-schedules-") as tmp:
        written = {p.name: p for p in schedule.write(doc, Path(tmp))}
        body = written[name].read_bytes()
    case = re.sub(r"[^A-Za-z0-9_.-]+", "-", doc["record"]["case"]).strip("-.") or "case"
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{case}-{name}"'},
    )


# -- routes ---------------------------------------------------------------------------------------
@router.get("/{reference:path}/evidence/next")
def next_item(reference: str, state: StateDep, caller: Reviewer) -> dict[str, Any]:
    """Your next item to review: one you hold; else an elusion-sample item; else one due a
    second review; else the unreviewed item the model ranks highest. It is leased to you
    (30 minutes) and counted as seen; text is redacted."""
    return next_doc(state, caller, reference)


@router.get("/{reference:path}/evidence/items/{item_id}/context")
def item_context(
    reference: str,
    item_id: int,
    state: StateDep,
    caller: Reviewer,
    k: Annotated[int, Query(ge=0, le=10, description="items either side")] = 3,
) -> dict[str, Any]:
    """The item (one you were shown) with up to k items either side in its conversation,
    each counted as seen; text is redacted."""
    return context_doc(state, caller, reference, item_id, k)


@router.post("/{reference:path}/evidence/items/{item_id}/code", status_code=201)
def code_item(
    reference: str, item_id: int, body: CodeCreate, state: StateDep, caller: Reviewer
) -> dict[str, Any]:
    """Record your decision on an item you hold or found by a search; its exact duplicates
    are coded with it."""
    return code(
        state,
        caller,
        reference,
        item_id,
        relevance=body.relevance,
        meets_test=body.meets_test,
        reason=body.reason,
    )


@router.get("/{reference:path}/evidence/search")
def search(
    reference: str,
    state: StateDep,
    caller: Reviewer,
    page: PageDep,
    q: Annotated[str, Query(max_length=MAX_TERMS, description="words, phrases, AND OR NOT")] = "",
    participant: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[datetime | None, Query(description="sent at or after")] = None,
    until: Annotated[datetime | None, Query(description="sent before")] = None,
    kind: Annotated[list[Kind] | None, Query(description="item kinds (repeat)")] = None,
) -> dict[str, Any]:
    """Search the case (BM25). Over the policy's limit only the count is given until the
    search is narrowed; hits shown are counted as seen; snippets are redacted."""
    return search_doc(
        state,
        caller,
        reference,
        terms=q,
        participant=participant or None,
        since=since,
        until=until,
        kinds=list(kind or ()),
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/{reference:path}/evidence/status")
def review_status(reference: str, state: StateDep, caller: Reviewer) -> dict[str, Any]:
    """The review record: items, decisions by stage, share of the material seen, second
    reviews and their overturn rate, stopping-rule checks and the recall estimate."""
    return status_doc(state, caller, reference)


@router.get("/{reference:path}/evidence/schedules")
def schedules(reference: str, state: StateDep, caller: Reviewer) -> dict[str, Any]:
    """The disclosure schedules as data: `mg6c` (relevant non-sensitive unused material, the
    items not relevant or not reached block-listed), `mg6d` (sensitive), `mg6e` (the items
    that meet the disclosure test) and `record` (the review record). Descriptions are
    redacted; the items described are counted as seen; audited as a disclosure."""
    return schedules_doc(state, caller, reference)


__all__ = [
    "SCHEDULE_FILES",
    "CodeCreate",
    "code",
    "context_doc",
    "display_redactor",
    "item_doc",
    "next_doc",
    "redact_segments",
    "router",
    "schedule_file",
    "schedules_doc",
    "search_doc",
    "status_doc",
]
