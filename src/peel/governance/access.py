"""Who may do what, for which purpose, and the one helper every personal-data operation goes
through: it checks the policy, runs the operation in a serving-store transaction, and writes
the audit entry in that same transaction, naming every object the operation returned.

    with operation(store, policy, caller, permission="records.read",
                   operation="consultation", object_type="crime", query={...}) as op:
        rows = read_rows(...)          # from the store (op.conn) or the lake
        op.returned(row_ids)
    return rows                        # only after the audit entry is committed

If the audit write fails, the block raises AuditError and nothing it read leaves it. A denied
request is itself audited (outcome "denied") and raises AccessDenied.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from peel.errors import AccessDenied, AuditError
from peel.governance import audit
from peel.governance.policy import Policy
from peel.serving import Store

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Caller:
    """A signed-in user or a named service identity, with the purpose of this request."""

    username: str
    roles: tuple[str, ...]
    kind: str = "person"
    purpose: str | None = None
    case_reference: str | None = None
    justification: str | None = None
    request_id: str = ""
    rank: str | None = None
    team: str | None = None

    @property
    def role_label(self) -> str:
        return ",".join(sorted(self.roles)) or "(none)"

    def with_purpose(
        self, purpose: str | None, case_reference: str | None, justification: str | None
    ) -> Caller:
        return replace(
            self, purpose=purpose, case_reference=case_reference, justification=justification
        )


def check(policy: Policy, caller: Caller, permission: str) -> None:
    """Raise AccessDenied unless one of the caller's roles grants `permission` and, for
    personal data, the caller gave a purpose their roles may use (with a case reference where
    the purpose needs one)."""
    if permission not in policy.permissions:
        raise AccessDenied(f"unknown permission {permission!r}")
    if permission not in policy.permissions_of(caller.roles):
        raise AccessDenied(f"no role of this account grants {permission}")
    if not policy.is_personal(permission):
        return
    purpose = caller.purpose
    if not purpose:
        raise AccessDenied(
            "personal data needs a lawful purpose: send the Peel-Purpose header "
            f"(one of: {', '.join(sorted(policy.purposes_of(caller.roles))) or 'none for you'})"
        )
    if purpose not in policy.purposes:
        raise AccessDenied(f"unknown purpose {purpose!r}")
    if purpose not in policy.purposes_of(caller.roles):
        raise AccessDenied(f"purpose {purpose!r} is not one this account's roles may use")
    if policy.purposes[purpose].requires_case_reference and not caller.case_reference:
        raise AccessDenied(
            f"purpose {purpose!r} needs a case reference (Peel-Case-Reference header)"
        )


@dataclass
class Operation:
    """The open transaction of one audited operation."""

    conn: Connection
    object_ids: list[str] = field(default_factory=list)
    query: dict[str, Any] = field(default_factory=dict)
    recipient: str = ""

    def returned(self, ids: Iterable[Any]) -> None:
        """Record objects the operation returned, changed or disclosed."""
        self.object_ids.extend(str(i) for i in ids)


def event_for(
    caller: Caller,
    *,
    operation: str,
    object_type: str,
    object_ids: Iterable[str] = (),
    query: Mapping[str, Any] | None = None,
    outcome: str = "ok",
    recipient: str = "",
) -> audit.AuditEvent:
    return audit.AuditEvent(
        actor=caller.username,
        actor_role=caller.role_label,
        operation=operation,
        object_type=object_type,
        object_ids=tuple(object_ids),
        query=dict(query or {}),
        purpose=caller.purpose or "",
        justification=caller.justification or "",
        case_reference=caller.case_reference or "",
        recipient=recipient,
        outcome=outcome,
        request_id=caller.request_id,
    )


def record_denial(
    store: Store,
    caller: Caller,
    *,
    operation: str,
    object_type: str,
    query: Mapping[str, Any] | None,
    clock: Callable[[], datetime],
) -> None:
    """Audit a refused attempt. If even that fails, the refusal stands."""
    try:
        with store.begin() as conn:
            audit.append(
                conn,
                event_for(
                    caller,
                    operation=operation,
                    object_type=object_type,
                    query=query,
                    outcome="denied",
                ),
                clock=clock,
            )
    except AuditError:
        logger.exception("could not audit a denied request %s", caller.request_id)


@contextmanager
def operation(
    store: Store,
    policy: Policy,
    caller: Caller,
    *,
    permission: str,
    operation: str,
    object_type: str,
    query: Mapping[str, Any] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Iterator[Operation]:
    """Check, run and audit one operation in one transaction (see the module docstring)."""
    _check_recorded(store, policy, caller, permission, operation, object_type, query, clock)
    with store.begin() as conn:
        op = Operation(conn=conn, query=dict(query or {}))
        yield op
        _audit(conn, caller, operation, object_type, op, clock)


@contextmanager
def consultation(
    store: Store,
    policy: Policy,
    caller: Caller,
    *,
    permission: str,
    object_type: str,
    query: Mapping[str, Any] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Iterator[Operation]:
    """A read-only operation: checked, run in a read transaction, then audited in a short
    write transaction of its own, before the caller returns anything (if the entry cannot be
    written, AuditError propagates and nothing is returned). Unlike `operation`, the reads
    hold no write lock: on SQLite, concurrent roadside checks in several server processes
    no longer queue behind each other for the whole of each check, only for the append, and
    the appends of concurrent checks in one process commit together (`Store.commit_grouped`)."""
    _check_recorded(store, policy, caller, permission, "consultation", object_type, query, clock)
    with store.read() as conn:
        op = Operation(conn=conn, query=dict(query or {}))
        yield op
    # The entry commits before anything is returned; concurrent reads share the commit.
    store.commit_grouped(lambda conn: _audit(conn, caller, "consultation", object_type, op, clock))


def _check_recorded(
    store: Store,
    policy: Policy,
    caller: Caller,
    permission: str,
    operation: str,
    object_type: str,
    query: Mapping[str, Any] | None,
    clock: Callable[[], datetime],
) -> None:
    """`check`, with a refusal audited as denied before it is raised."""
    try:
        check(policy, caller, permission)
    except AccessDenied:
        record_denial(
            store, caller, operation=operation, object_type=object_type, query=query, clock=clock
        )
        raise


def _audit(
    conn: Connection,
    caller: Caller,
    operation: str,
    object_type: str,
    op: Operation,
    clock: Callable[[], datetime],
) -> None:
    # One entry names at most audit.MAX_SUBJECTS objects; a bulk operation (publishing a
    # city's profiles) is written as consecutive entries, "part k of n", in the same
    # transaction, so every object is still named and found by a subject search.
    ids = list(op.object_ids)
    step = audit.MAX_SUBJECTS
    parts = max(1, -(-len(ids) // step))
    for k in range(parts):
        q = op.query if parts == 1 else {**op.query, "part": k + 1, "parts": parts}
        audit.append(
            conn,
            event_for(
                caller,
                operation=operation,
                object_type=object_type,
                object_ids=ids[k * step : (k + 1) * step],
                query=q,
                recipient=op.recipient,
            ),
            clock=clock,
        )


__all__ = [
    "Caller",
    "Operation",
    "check",
    "consultation",
    "event_for",
    "operation",
    "record_denial",
]
