"""Who a CLI command or batch job runs as: a named user (`--as alice`) or a service identity
the policy defines (`peel-ingest`), with the purpose it gives. The same Caller the API builds
from a session, so CLI operations write the same audit entries as the API."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, bindparam, insert, select

from peel.errors import AccessDenied
from peel.governance.access import Caller
from peel.governance.policy import Policy
from peel.serving.tables import user_roles, users

# Built once (its cache key is memoised): read on every request's session lookup.
_ROLES = select(user_roles.c.role).where(user_roles.c.user_id == bindparam("user_id"))


def roles_of(conn: Connection, user_id: int) -> tuple[str, ...]:
    rows = conn.execute(_ROLES, {"user_id": user_id})
    return tuple(sorted(r[0] for r in rows))


def ensure_service(conn: Connection, policy: Policy, name: str) -> None:
    """Create the service identity `name` if the policy defines it and it does not exist."""
    if name not in policy.services:
        return
    if conn.execute(select(users.c.id).where(users.c.username == name)).first():
        return
    now = datetime.now(UTC)
    uid = conn.execute(
        insert(users).values(
            username=name,
            display_name=f"service identity {name}",
            kind="service",
            totp_enabled=False,
            disabled=False,
            failed_logins=0,
            created_at=now,
            updated_at=now,
        )
    ).inserted_primary_key
    assert uid is not None
    conn.execute(
        insert(user_roles).values(
            user_id=uid[0], role=name, granted_by="policy:services", granted_at=now
        )
    )


def caller_for(
    conn: Connection,
    policy: Policy,
    username: str,
    *,
    purpose: str | None = None,
    case_reference: str | None = None,
    justification: str | None = None,
    request_id: str = "",
) -> Caller:
    """The Caller for a named account; refused if it does not exist or is disabled."""
    ensure_service(conn, policy, username)
    row = conn.execute(select(users).where(users.c.username == username)).first()
    if row is None or row.disabled:
        raise AccessDenied(f"no enabled account or service identity named {username!r}")
    return Caller(
        username=row.username,
        roles=roles_of(conn, row.id),
        kind=row.kind,
        purpose=purpose,
        case_reference=case_reference,
        justification=justification,
        request_id=request_id,
        rank=row.rank,
        team=row.team,
    )


__all__ = ["caller_for", "ensure_service", "roles_of"]
