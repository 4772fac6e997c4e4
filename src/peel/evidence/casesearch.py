"""A reviewer's search of a case: ranked (BM25), audited with its terms, every item shown
counted as seen, and counts only when a search matches more than the policy allows
(`limits.search_count_only_over`) until it is narrowed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from peel.errors import InputRefused
from peel.evidence.ingest import PERMISSION, open_case
from peel.evidence.items import KINDS
from peel.evidence.review import authorise, now_utc, record_views
from peel.evidence.search import CaseIndex
from peel.governance.access import Caller, operation
from peel.governance.policy import Policy
from peel.serving import Store
from peel.serving.tables import evidence_searches

MAX_TERMS = 1_000


def search_case(
    store: Store,
    policy: Policy,
    caller: Caller,
    *,
    data_dir: Path,
    reference: str,
    terms: str,
    participant: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    kinds: Sequence[str] = (),
    limit: int = 20,
    offset: int = 0,
    clock: Callable[[], datetime] = now_utc,
) -> dict[str, Any]:
    """Search the case (see the module docstring). Returns the count and, when it is within
    the policy's limit, the page of hits with snippets; each hit shown is recorded as seen."""
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise InputRefused(f"unknown item kind(s) {', '.join(bad)}: one of {', '.join(KINDS)}")
    limit = max(1, min(int(limit), policy.limits.page_size))
    offset = max(0, int(offset))
    authorise(store, policy, caller, reference, "search")
    cs = open_case(store, data_dir, reference)
    ix = CaseIndex(cs.root)
    q = ix.query(terms, participant=participant, since=since, until=until, kinds=kinds)
    over = policy.limits.search_count_only_over
    found = ix.search(q, limit=0)
    counts_only = found.count > over
    hits = [] if counts_only else ix.search(q, limit=limit, offset=offset).hits
    usable = set(cs.recorded_only([i for i, _ in hits]))
    hits = [(i, score) for i, score in hits if i in usable]
    stored = {s.id: s for s in cs.items([i for i, _ in hits])}  # checked on read
    filters = {
        "participant": participant,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "kinds": list(kinds),
    }
    shown: list[dict[str, Any]] = []
    for iid, score in hits:
        s = stored.get(iid)
        if s is None:
            continue
        it = s.item
        shown.append(
            {
                "id": iid,
                "score": round(score, 4),
                "kind": it.kind,
                "sent_at": it.sent_at.isoformat() if it.sent_at else None,
                "sender": it.sender,
                "conversation": it.conversation,
                "subject": it.subject,
                "snippet": [[t, hl] for t, hl in ix.snippet(q, it.text).segments],
                "duplicate_of": s.duplicate_of,
            }
        )
    at = clock()
    with operation(
        store,
        policy,
        caller,
        permission=PERMISSION,
        operation="consultation",
        object_type="evidence_search",
        query={
            "case": reference,
            "terms": terms[:MAX_TERMS],
            "filters": filters,
            "matched": found.count,
            "shown": len(shown),
            "counts_only": counts_only,
        },
        clock=clock,
    ) as op:
        op.conn.execute(
            insert(evidence_searches).values(
                case_reference=reference,
                username=caller.username,
                terms=terms[:MAX_TERMS],
                filters=filters,
                matched=found.count,
                shown=len(shown),
                searched_at=at,
            )
        )
        record_views(op.conn, reference, caller.username, [h["id"] for h in shown], "search", at)
        op.returned([f"{reference}#{h['id']}" for h in shown])
    out: dict[str, Any] = {
        "case": reference,
        "terms": terms,
        "filters": filters,
        "count": found.count,
        "counts_only": counts_only,
        "offset": offset,
        "hits": shown,
    }
    if counts_only:
        out["message"] = (
            f"{found.count:,} items match, more than the {over:,} the policy lets a search "
            "show: narrow it (more words, a participant, dates or kinds)"
        )
    return out


__all__ = ["search_case"]
