"""Granting and revoking roles, with the two-admin rule.

A role the policy lists in `two_person_grant` (admin, oversight_panel by default) is granted
in two steps by two different admins: the first admin's grant records a pending request, a
different admin's grant of the same role approves it (the first is `granted_by`, the second
`approved_by`). No one can grant a role to their own account, in either step. The one
exception: while there is a single enabled admin, their grant of the admin role takes effect
at once when they grant it explicitly (`grant_role`; `add_user` still only requests it),
so that a new store can reach two admins (see `sole_admin`). Any change to
an account's roles ends its sessions, so the next request runs with the roles as they are.

These functions run inside the caller's transaction; `Accounts` checks the actor's
permission and writes the audit entry.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update

from peel.errors import AccessDenied
from peel.governance.policy import Policy
from peel.governance.sessions import revoke_user
from peel.serving.tables import role_requests, user_roles, users

PENDING = "pending"
ADMIN = "admin"


def sole_admin(conn: Connection) -> bool:
    """Is there at most one enabled admin? Then the admin role itself cannot wait for a
    second admin (there is none, and no other way to get one): the one admin's grant of it
    takes effect at once, and the audit entry says so. Every other two-person role, and the
    admin role once there are two admins, waits for a second admin."""
    q = (
        select(func.count())
        .select_from(user_roles.join(users, users.c.id == user_roles.c.user_id))
        .where(user_roles.c.role == ADMIN, users.c.disabled.is_(False))
    )
    return int(conn.execute(q).scalar_one()) <= 1


def roles_by_user(conn: Connection, user_ids: Sequence[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = defaultdict(list)
    if user_ids:
        rows = conn.execute(
            select(user_roles.c.user_id, user_roles.c.role)
            .where(user_roles.c.user_id.in_(list(user_ids)))
            .order_by(user_roles.c.role)
        )
        for uid, role in rows:
            out[uid].append(role)
    return out


def pending_of(conn: Connection, user_ids: Sequence[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = defaultdict(list)
    if user_ids:
        rows = conn.execute(
            select(role_requests.c.user_id, role_requests.c.role)
            .where(role_requests.c.user_id.in_(list(user_ids)), role_requests.c.status == PENDING)
            .order_by(role_requests.c.role)
        )
        for uid, role in rows:
            if role not in out[uid]:
                out[uid].append(role)
    return out


def holds(conn: Connection, user_id: int, role: str) -> bool:
    q = select(user_roles.c.role).where(user_roles.c.user_id == user_id, user_roles.c.role == role)
    return conn.execute(q).first() is not None


def grant_directly(
    conn: Connection,
    user_id: int,
    role: str,
    *,
    granted_by: str,
    now: datetime,
    approved_by: str | None = None,
) -> None:
    """Insert the grant and close any pending request for it (no checks: the bootstrap,
    the demo and the approval step use it). Ends the account's sessions."""
    conn.execute(
        update(role_requests)
        .where(
            role_requests.c.user_id == user_id,
            role_requests.c.role == role,
            role_requests.c.status == PENDING,
        )
        .values(status="approved", decided_by=approved_by or granted_by, decided_at=now)
    )
    if holds(conn, user_id, role):
        return
    conn.execute(
        insert(user_roles).values(
            user_id=user_id,
            role=role,
            granted_by=granted_by,
            approved_by=approved_by,
            granted_at=now,
        )
    )
    revoke_user(conn, user_id)


def grant(
    conn: Connection,
    policy: Policy,
    user: Row[Any],
    role: str,
    actor: str,
    now: datetime,
    *,
    sole_admin_may_grant: bool = False,
) -> str:
    """Grant `role` to `user` as `actor`: "granted", or "pending" until a second admin
    grants it too. The role is known to the policy (the caller checked). With
    `sole_admin_may_grant` (an explicit grant_role, not add_user), a single enabled admin's
    grant of the admin role takes effect at once."""
    actor = actor.strip().lower()  # usernames are stored lower-case
    if user.username == actor:
        raise AccessDenied("an administrator cannot grant a role to their own account")
    if user.kind != "person":
        raise AccessDenied("a service identity's roles come from the policy, not from a grant")
    if holds(conn, user.id, role):
        return "granted"
    if role not in policy.two_person_grant or (
        sole_admin_may_grant and role == ADMIN and sole_admin(conn)
    ):
        grant_directly(conn, user.id, role, granted_by=actor, now=now)
        return "granted"
    waiting = conn.execute(
        select(role_requests)
        .where(
            role_requests.c.user_id == user.id,
            role_requests.c.role == role,
            role_requests.c.status == PENDING,
        )
        .order_by(role_requests.c.id)
        .with_for_update()
    ).all()
    other = [r for r in waiting if r.requested_by != actor]
    if other:
        first = other[0]
        grant_directly(
            conn, user.id, role, granted_by=first.requested_by, approved_by=actor, now=now
        )
        return "granted"
    if not waiting:
        conn.execute(
            insert(role_requests).values(
                user_id=user.id, role=role, requested_by=actor, requested_at=now, status=PENDING
            )
        )
    return PENDING


def revoke(
    conn: Connection, user: Row[Any], role: str, actor: str, now: datetime
) -> dict[str, Any]:
    """Take `role` away (and cancel a pending request for it); ends the account's sessions."""
    held = conn.execute(
        delete(user_roles).where(user_roles.c.user_id == user.id, user_roles.c.role == role)
    ).rowcount
    cancelled = conn.execute(
        update(role_requests)
        .where(
            role_requests.c.user_id == user.id,
            role_requests.c.role == role,
            role_requests.c.status == PENDING,
        )
        .values(status="cancelled", decided_by=actor, decided_at=now)
    ).rowcount
    ended = revoke_user(conn, user.id)
    return {"held": bool(held), "requests_cancelled": int(cancelled or 0), "sessions_ended": ended}


__all__ = [
    "PENDING",
    "grant",
    "grant_directly",
    "holds",
    "pending_of",
    "revoke",
    "roles_by_user",
    "sole_admin",
]
