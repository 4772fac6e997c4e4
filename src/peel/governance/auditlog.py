"""Reading the audit log for oversight: what a user consulted or disclosed, who consulted a
subject, and random samples of entries for a reviewer to judge.

Reading the audit is itself a personal-data operation: every function here goes through
`access.operation` (permission audit.read, or audit.review for a verdict), so the read is
audited in the same transaction, naming every entry it returned as `audit:<seq>`. The
functions return plain dataclasses; the CLI and the web app format them.
"""

from __future__ import annotations

import random
import secrets
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Select, insert, select, update

from peel.errors import AccessDenied, InputRefused
from peel.governance import access, audit
from peel.governance.access import Caller
from peel.governance.policy import Policy
from peel.serving import Store
from peel.serving.tables import audit_log, audit_reviews, audit_subjects

VERDICTS = ("appropriate", "inappropriate", "unclear")
MAX_NOTE_CHARS = 4000

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


class OversightRequestError(InputRefused):
    """An oversight request is malformed: no user or subject, a bad time window, an unknown
    verdict, a sample or entry that does not exist."""


def entry_ref(seq: int) -> str:
    """How an audit entry is named among the objects of the entry that records reading it."""
    return f"audit:{seq}"


@dataclass(frozen=True)
class AuditReport:
    """Entries matching a report's filters, oldest first. `truncated`: more match; ask again
    with `after=next_after`."""

    entries: list[dict[str, Any]]
    truncated: bool
    next_after: int | None
    filters: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AuditSample:
    """A random sample of entries drawn for one reviewer. `seed` and `population` (the number
        of entries when it was drawn) let anyone redraw it and see it was not hand-picked (None when
    read back with get_sample: they are in the audit entry of the draw). Each
        entry carries its review: `verdict`, `note`, `reviewed_at` (None until recorded)."""

    sample_id: str
    reviewer: str
    seed: int | None
    population: int | None
    drawn_at: datetime
    entries: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ts(value: datetime | None, name: str) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise OversightRequestError(f"--{name.rstrip('_')} needs a time zone (or Z for UTC)")
    return audit.utc_ms(value)


def report(
    store: Store,
    policy: Policy,
    caller: Caller,
    *,
    user: str | None = None,
    subject: str | None = None,
    from_: datetime | None = None,
    to: datetime | None = None,
    limit: int | None = None,
    after: int | None = None,
    clock: Clock = _now,
) -> AuditReport:
    """What `user` did (consulted, disclosed, changed...) and/or which entries touched
    `subject` (via the audit_subjects index), with from_ <= ts < to, oldest first. At most
    `limit` entries (default and ceiling: the policy's page size); page on with `after`."""
    if not user and not subject:
        raise OversightRequestError("name a user or a subject to report on")
    since, until = _ts(from_, "from_"), _ts(to, "to")
    if since and until and since >= until:
        raise OversightRequestError("the time window is empty: --from must be before --to")
    page = policy.limits.page_size
    limit = page if limit is None else limit
    if limit < 1:
        raise OversightRequestError("the limit must be at least 1")
    limit = min(limit, page)
    filters = {
        k: v
        for k, v in {
            "user": user,
            "subject": subject,
            "from": since,
            "to": until,
            "limit": limit,
            "after": after,
        }.items()
        if v is not None
    }
    q: Select[Any] = select(audit_log)
    if subject:
        q = q.where(
            audit_log.c.seq.in_(
                select(audit_subjects.c.seq).where(audit_subjects.c.object_id == subject)
            )
        )
    if user:
        q = q.where(audit_log.c.actor == user)
    if since:
        q = q.where(audit_log.c.ts >= since)
    if until:
        q = q.where(audit_log.c.ts < until)
    if after is not None:
        q = q.where(audit_log.c.seq > after)
    q = q.order_by(audit_log.c.seq).limit(limit + 1)
    with access.operation(
        store,
        policy,
        caller,
        permission="audit.read",
        operation="consultation",
        object_type="audit_entry",
        query=filters,
        clock=clock,
    ) as op:
        rows = [audit.decode(dict(r)) for r in op.conn.execute(q).mappings()]
        truncated = len(rows) > limit
        rows = rows[:limit]
        op.returned(entry_ref(r["seq"]) for r in rows)
    return AuditReport(
        entries=rows,
        truncated=truncated,
        next_after=rows[-1]["seq"] if truncated else None,
        filters=filters,
    )


def _entries_with_reviews(conn: Connection, sample_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(
            audit_log,
            audit_reviews.c.verdict,
            audit_reviews.c.note,
            audit_reviews.c.reviewed_at,
        )
        .join(audit_reviews, audit_reviews.c.seq == audit_log.c.seq)
        .where(audit_reviews.c.sample_id == sample_id)
        .order_by(audit_log.c.seq)
    ).mappings()
    return [audit.decode(dict(r)) for r in rows]


def sample(
    store: Store,
    policy: Policy,
    caller: Caller,
    n: int,
    seed: int | None = None,
    *,
    clock: Clock = _now,
) -> AuditSample:
    """Draw `n` distinct entries at random (at most the policy's page size) for `caller` to
    review, record them in audit_reviews, and return them. With the same seed and population
    the draw is the same: random.Random(seed).sample(range(1, population + 1), n)."""
    if n < 1:
        raise OversightRequestError("a sample needs at least one entry")
    n = min(n, policy.limits.page_size)
    seed = secrets.randbits(63) if seed is None else seed
    sample_id = uuid.uuid4().hex
    drawn_at = clock()
    with access.operation(
        store,
        policy,
        caller,
        permission="audit.read",
        operation="consultation",
        object_type="audit_entry",
        query={"sample_id": sample_id, "n": n, "seed": seed},
        clock=clock,
    ) as op:
        population, _ = audit.head(op.conn)
        seqs = sorted(random.Random(seed).sample(range(1, population + 1), min(n, population)))  # noqa: S311 (reproducible, not secret)
        op.query["population"] = population
        if seqs:
            op.conn.execute(
                insert(audit_reviews),
                [
                    {
                        "sample_id": sample_id,
                        "seq": s,
                        "reviewer": caller.username,
                        "drawn_at": drawn_at,
                    }
                    for s in seqs
                ],
            )
        entries = _entries_with_reviews(op.conn, sample_id)
        op.returned(entry_ref(s) for s in seqs)
    return AuditSample(sample_id, caller.username, seed, population, drawn_at, entries)


def get_sample(
    store: Store, policy: Policy, caller: Caller, sample_id: str, *, clock: Clock = _now
) -> AuditSample:
    """A sample drawn earlier, with the verdicts recorded so far."""
    with access.operation(
        store,
        policy,
        caller,
        permission="audit.read",
        operation="consultation",
        object_type="audit_entry",
        query={"sample_id": sample_id},
        clock=clock,
    ) as op:
        head = op.conn.execute(
            select(audit_reviews.c.reviewer, audit_reviews.c.drawn_at)
            .where(audit_reviews.c.sample_id == sample_id)
            .limit(1)
        ).first()
        if head is None:
            raise OversightRequestError("no audit sample has that id")
        entries = _entries_with_reviews(op.conn, sample_id)
        op.returned(entry_ref(e["seq"]) for e in entries)
    # The seed and population are kept in the audit entry that recorded the draw (its query),
    # not in audit_reviews.
    return AuditSample(sample_id, head.reviewer, None, None, head.drawn_at, entries)


class _NotTheReviewer(Exception):
    pass


def record_verdict(
    store: Store,
    policy: Policy,
    caller: Caller,
    sample_id: str,
    seq: int,
    verdict: str,
    note: str = "",
    *,
    clock: Clock = _now,
) -> dict[str, Any]:
    """Record the reviewer's verdict on one sampled entry (appropriate, inappropriate or
    unclear) with a note. Only the reviewer the sample was drawn for may; a later verdict
    replaces an earlier one, and the audit keeps both. Returns the review row."""
    if verdict not in VERDICTS:
        raise OversightRequestError(f"the verdict must be one of {', '.join(VERDICTS)}")
    if len(note) > MAX_NOTE_CHARS:
        raise OversightRequestError(f"the note is longer than {MAX_NOTE_CHARS} characters")
    query = {"sample_id": sample_id, "seq": seq, "verdict": verdict}
    try:
        with access.operation(
            store,
            policy,
            caller,
            permission="audit.review",
            operation="alteration",
            object_type="audit_review",
            query=query,
            clock=clock,
        ) as op:
            where = (audit_reviews.c.sample_id == sample_id, audit_reviews.c.seq == seq)
            row = op.conn.execute(select(audit_reviews.c.reviewer).where(*where)).first()
            if row is None:
                raise OversightRequestError("that entry is not in that audit sample")
            if row.reviewer != caller.username:
                raise _NotTheReviewer
            op.conn.execute(
                update(audit_reviews)
                .where(*where)
                .values(verdict=verdict, note=note, reviewed_at=clock())
            )
            out = op.conn.execute(select(audit_reviews).where(*where)).mappings().one()
            op.returned([entry_ref(seq)])
    except _NotTheReviewer:
        access.record_denial(
            store,
            caller,
            operation="alteration",
            object_type="audit_review",
            query=query,
            clock=clock,
        )
        raise AccessDenied(
            "only the reviewer the sample was drawn for may record its verdicts"
        ) from None
    return dict(out)


__all__ = [
    "VERDICTS",
    "AuditReport",
    "AuditSample",
    "OversightRequestError",
    "entry_ref",
    "get_sample",
    "record_verdict",
    "report",
    "sample",
]
