"""Cases and their members. A case reference is what an investigation or a disclosure
purpose names (Peel-Case-Reference); case-scoped data (a case's evidence, its products) is
for the case's members.

Creating a case and adding or removing a member need `cases.manage`, and each writes one
audit entry (operation "admin", object type "case"). Whoever creates a case becomes a member
of it if their roles may read cases. No one adds themselves to a case: someone else with
`cases.manage` does, so joining a case is always a second person's decision.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from peel.errors import AccessDenied, PeelError
from peel.governance.access import Caller
from peel.governance.admin import admin_action, wall_clock
from peel.governance.login import normalise_username
from peel.governance.policy import Policy
from peel.serving import Store
from peel.serving.tables import case_members, cases, users

REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9/_.:-]{0,63}")
MAX_TITLE = 200


class CaseError(PeelError):
    """No such case, a case that exists already, or a reference that cannot be one."""


def _reference(reference: str) -> str:
    ref = reference.strip()
    if not REFERENCE.fullmatch(ref):
        raise CaseError(
            "a case reference has 1 to 64 characters: letters, digits and / _ . : -, "
            "starting with a letter or digit"
        )
    return ref


def _case(conn: Connection, reference: str) -> dict[str, Any]:
    row = conn.execute(select(cases).where(cases.c.reference == reference)).first()
    if row is None:
        raise CaseError(f"no case with reference {reference!r}")
    return dict(row._mapping)


def _user_id(conn: Connection, username: str) -> int:
    row = conn.execute(
        select(users.c.id, users.c.kind).where(users.c.username == normalise_username(username))
    ).first()
    if row is None:
        raise CaseError(f"no account named {username!r}")
    if row.kind != "person":
        raise CaseError(f"{username!r} is a service identity: only people are case members")
    return int(row.id)


def _add(conn: Connection, reference: str, user_id: int, added_by: str, now: datetime) -> bool:
    exists = conn.execute(
        select(case_members.c.user_id).where(
            case_members.c.case_reference == reference, case_members.c.user_id == user_id
        )
    ).first()
    if exists:
        return False
    conn.execute(
        insert(case_members).values(
            case_reference=reference, user_id=user_id, added_by=added_by, added_at=now
        )
    )
    return True


def create_case(
    store: Store,
    policy: Policy,
    actor: Caller,
    *,
    reference: str,
    title: str,
    clock: Callable[[], datetime] = wall_clock,
) -> dict[str, Any]:
    """Open a case; its creator becomes a member if their roles may read cases."""
    with admin_action(
        store,
        policy,
        actor,
        object_type="case",
        object_ids=[reference.strip()[:64]],
        query={"action": "create_case"},
        clock=clock,
        permission="cases.manage",
    ) as act:
        ref = _reference(reference)
        title = title.strip()
        if not title or len(title) > MAX_TITLE:
            raise CaseError(f"a case title has 1 to {MAX_TITLE} characters")
        conn, now = act.conn, clock()
        if conn.execute(select(cases.c.reference).where(cases.c.reference == ref)).first():
            raise CaseError(f"a case with reference {ref!r} exists already")
        conn.execute(
            insert(cases).values(
                reference=ref, title=title, status="open", created_by=actor.username, created_at=now
            )
        )
        added: list[str] = []
        if actor.kind == "person" and "cases.read" in policy.permissions_of(actor.roles):
            uid = conn.execute(
                select(users.c.id).where(users.c.username == actor.username)
            ).scalar_one_or_none()
            if uid is not None and _add(conn, ref, uid, actor.username, now):
                added.append(actor.username)
        act.query["members_added"] = added
        doc = _case(conn, ref)
    doc["members"] = added
    return doc


def add_member(
    store: Store,
    policy: Policy,
    actor: Caller,
    *,
    reference: str,
    username: str,
    clock: Callable[[], datetime] = wall_clock,
) -> None:
    """Make `username` a member of the case (a no-op if they are one already)."""
    name = normalise_username(username)
    with admin_action(
        store,
        policy,
        actor,
        object_type="case",
        object_ids=[reference.strip()[:64], name[:64]],
        query={"action": "add_member"},
        clock=clock,
        permission="cases.manage",
    ) as act:
        if name == normalise_username(actor.username):
            raise AccessDenied(
                "no one adds themselves to a case: ask a colleague with cases.manage"
            )
        ref = _reference(reference)
        _case(act.conn, ref)
        act.query["added"] = _add(act.conn, ref, _user_id(act.conn, name), actor.username, clock())


def remove_member(
    store: Store,
    policy: Policy,
    actor: Caller,
    *,
    reference: str,
    username: str,
    clock: Callable[[], datetime] = wall_clock,
) -> None:
    name = normalise_username(username)
    with admin_action(
        store,
        policy,
        actor,
        object_type="case",
        object_ids=[reference.strip()[:64], name[:64]],
        query={"action": "remove_member"},
        clock=clock,
        permission="cases.manage",
    ) as act:
        ref = _reference(reference)
        _case(act.conn, ref)
        uid = _user_id(act.conn, name)
        gone = act.conn.execute(
            delete(case_members).where(
                case_members.c.case_reference == ref, case_members.c.user_id == uid
            )
        ).rowcount
        act.query["removed"] = bool(gone)


# -- questions the app asks ---------------------------------------------------------------------
def members(conn: Connection, reference: str) -> list[str]:
    rows = conn.execute(
        select(users.c.username)
        .join(case_members, case_members.c.user_id == users.c.id)
        .where(case_members.c.case_reference == reference)
        .order_by(users.c.username)
    )
    return [r[0] for r in rows]


def cases_of(conn: Connection, username: str) -> list[dict[str, Any]]:
    """The cases `username` is a member of, newest first."""
    rows = conn.execute(
        select(cases)
        .join(case_members, case_members.c.case_reference == cases.c.reference)
        .join(users, users.c.id == case_members.c.user_id)
        .where(users.c.username == normalise_username(username))
        .order_by(cases.c.created_at.desc(), cases.c.reference)
    ).mappings()
    return [dict(r) for r in rows]


def is_member(conn: Connection, username: str, reference: str) -> bool:
    row = conn.execute(
        select(case_members.c.user_id)
        .join(users, users.c.id == case_members.c.user_id)
        .where(
            case_members.c.case_reference == reference,
            users.c.username == normalise_username(username),
            users.c.disabled.is_(False),
        )
    ).first()
    return row is not None


def get_case(conn: Connection, reference: str) -> dict[str, Any] | None:
    row = conn.execute(select(cases).where(cases.c.reference == reference)).first()
    return None if row is None else dict(row._mapping)


__all__ = [
    "CaseError",
    "add_member",
    "cases_of",
    "create_case",
    "get_case",
    "is_member",
    "members",
    "remove_member",
]
