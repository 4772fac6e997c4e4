"""Browsing the audit log on the oversight panel's page: newest first, filtered by actor,
operation, object, outcome and time. Like every read of the audit, itself audited (through
`access.operation`, permission audit.read), naming each entry it showed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from peel.errors import NotFound, PeelError
from peel.governance import audit
from peel.governance.access import Caller, operation
from peel.governance.policy import Policy
from peel.governance.verify import VerifyReport, verify
from peel.serving import Store
from peel.serving.tables import audit_log, audit_subjects
from peel.settings import Settings


def browse(
    store: Store,
    policy: Policy,
    caller: Caller,
    *,
    actor: str | None = None,
    op_name: str | None = None,
    subject: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Any]:
    if op_name and op_name not in audit.OPERATIONS:
        raise PeelError(f"operation: one of {', '.join(audit.OPERATIONS)}")
    if outcome and outcome not in audit.OUTCOMES:
        raise PeelError(f"outcome: one of {', '.join(audit.OUTCOMES)}")
    where = []
    if actor:
        where.append(audit_log.c.actor == actor)
    if op_name:
        where.append(audit_log.c.operation == op_name)
    if outcome:
        where.append(audit_log.c.outcome == outcome)
    if since:
        where.append(audit_log.c.ts >= audit.utc_ms(since))
    if until:
        where.append(audit_log.c.ts < audit.utc_ms(until))
    if subject:
        where.append(
            audit_log.c.seq.in_(
                select(audit_subjects.c.seq).where(audit_subjects.c.object_id == subject)
            )
        )
    filters = {
        "actor": actor,
        "operation": op_name,
        "subject": subject,
        "outcome": outcome,
        "from": audit.utc_ms(since) if since else None,
        "to": audit.utc_ms(until) if until else None,
        "limit": limit,
        "offset": offset,
    }
    with operation(
        store,
        policy,
        caller,
        permission="audit.read",
        operation="consultation",
        object_type="audit_entry",
        query={k: v for k, v in filters.items() if v is not None},
        clock=clock,
    ) as op:
        total = op.conn.execute(select(func.count()).select_from(audit_log).where(*where))
        n = int(total.scalar_one())
        rows = op.conn.execute(
            select(audit_log)
            .where(*where)
            .order_by(audit_log.c.seq.desc())
            .limit(limit)
            .offset(offset)
        ).mappings()
        entries = [audit.decode(dict(r)) for r in rows]
        op.returned(f"audit:{e['seq']}" for e in entries)
    return {"total": n, "entries": entries, "filters": filters}


def entry(
    store: Store,
    policy: Policy,
    caller: Caller,
    seq: int,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Any]:
    with operation(
        store,
        policy,
        caller,
        permission="audit.read",
        operation="consultation",
        object_type="audit_entry",
        query={"seq": seq},
        clock=clock,
    ) as op:
        row = op.conn.execute(select(audit_log).where(audit_log.c.seq == seq)).mappings().first()
        if row is None:
            raise NotFound(f"no audit entry {seq}")
        out = audit.decode(dict(row))
        out["hash_ok"] = audit.entry_hash(dict(row)) == row["hash"]
        op.returned([f"audit:{seq}"])
    return out


def verify_chain(
    store: Store,
    policy: Policy,
    caller: Caller,
    settings: Settings,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> VerifyReport:
    """Verify the chain and every checkpoint for a user: an audited consultation."""
    with operation(
        store,
        policy,
        caller,
        permission="audit.read",
        operation="consultation",
        object_type="audit_chain",
        query={"action": "verify"},
        clock=clock,
    ) as op:
        return verify(op.conn, settings)


__all__ = ["browse", "entry", "verify_chain"]
