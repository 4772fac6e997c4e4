"""Accounts made without an admin: the first admin of a new store, and the demo's users.

`bootstrap` makes the first admin when no account holds the admin role (even a disabled
one: disabling every admin does not reopen the door), with a TOTP secret shown once.
`seed_user` creates or updates a demo account and is refused outside development. Both are
audited like any admin action, as "system:bootstrap" and "system:demo".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, text, update

from peel.errors import AccessDenied
from peel.governance import login, sessions
from peel.governance.admin import (
    AccountError,
    account_fields,
    account_row,
    admin_action,
    admin_exists,
    known_role,
    normalise_username,
    public,
    reserved,
    system_caller,
)
from peel.governance.passwords import Passwords, new_totp_secret
from peel.governance.policy import Policy
from peel.governance.roles import grant_directly, revoke, roles_by_user
from peel.serving import Store
from peel.serving.tables import users

BOOTSTRAP_ACTOR = "system:bootstrap"
DEMO_ACTOR = "system:demo"
BOOTSTRAP_LOCK_ID = 0x5EE1_B007  # PostgreSQL advisory lock: one bootstrap at a time


def bootstrap(
    store: Store,
    policy: Policy,
    passwords: Passwords,
    *,
    username: str,
    display_name: str,
    password: str,
    rank: str | None,
    team: str | None,
    collar_number: str | None,
    clock: Callable[[], datetime],
) -> tuple[dict[str, Any], str]:
    """The first admin, with a TOTP secret (returned once); refused once an admin exists."""
    with admin_action(
        store,
        policy,
        system_caller(BOOTSTRAP_ACTOR),
        object_type="user",
        object_ids=[login.normalise_username(username)[:64]],
        query={"action": "bootstrap", "roles": ["admin"]},
        clock=clock,
        permission=None,
    ) as act:
        conn, now = act.conn, clock()
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": BOOTSTRAP_LOCK_ID})
        if admin_exists(conn):
            raise AccessDenied("an administrator exists already: ask one to add the account")
        name = normalise_username(username)
        reserved(policy, name)
        values = account_fields(
            display_name=display_name, rank=rank, team=team, collar_number=collar_number
        )
        if conn.execute(select(users.c.id).where(users.c.username == name)).first():
            raise AccountError(f"an account named {name!r} already exists")
        secret = new_totp_secret()
        conn.execute(
            insert(users).values(
                username=name,
                kind="person",
                password_hash=passwords.hash(password),
                totp_secret=secret,
                totp_enabled=True,
                disabled=False,
                failed_logins=0,
                created_at=now,
                updated_at=now,
                **values,
            )
        )
        row = account_row(conn, name)
        grant_directly(conn, row.id, "admin", granted_by=BOOTSTRAP_ACTOR, now=now)
        doc = public(row, ["admin"], [], now)
    return doc, secret


def seed_user(
    store: Store,
    policy: Policy,
    passwords: Passwords,
    *,
    username: str,
    display_name: str,
    roles: list[str],
    password: str,
    rank: str | None,
    team: str | None,
    collar_number: str | None,
    totp: bool,
    clock: Callable[[], datetime],
) -> str | None:
    """Development only: create or update a demo account with exactly `roles` (no two-person
    rule). Returns its TOTP secret if `totp`, the same one on every run. A rerun that changes
    nothing keeps the account's sessions."""
    wanted = sorted(set(roles))
    with admin_action(
        store,
        policy,
        system_caller(DEMO_ACTOR),
        object_type="user",
        object_ids=[login.normalise_username(username)[:64]],
        query={"action": "seed_user", "roles": wanted},
        clock=clock,
        permission=None,
    ) as act:
        if not store.settings.development:
            raise AccessDenied("demo accounts are made only with PEEL_ENV=development")
        name = normalise_username(username)
        reserved(policy, name)
        for role in wanted:
            known_role(policy, role)
        values = account_fields(
            display_name=display_name, rank=rank, team=team, collar_number=collar_number
        )
        conn, now = act.conn, clock()
        existing = conn.execute(select(users).where(users.c.username == name)).first()
        secret = (existing.totp_secret if existing is not None else None) or new_totp_secret()
        same_password = existing is not None and passwords.verify(existing.password_hash, password)
        account: dict[str, Any] = {
            **values,
            "kind": "person",
            "totp_secret": secret if totp else None,
            "totp_enabled": totp,
            "disabled": False,
            "failed_logins": 0,
            "locked_until": None,
            "updated_at": now,
        }
        if not same_password:
            account["password_hash"] = passwords.hash(password)
        if existing is None:
            conn.execute(insert(users).values(username=name, created_at=now, **account))
        else:
            conn.execute(update(users).where(users.c.id == existing.id).values(**account))
        row = account_row(conn, name)
        have = set(roles_by_user(conn, [row.id]).get(row.id, []))
        for role in sorted(set(wanted) - have):
            grant_directly(conn, row.id, role, granted_by=DEMO_ACTOR, now=now)
        for role in sorted(have - set(wanted)):
            revoke(conn, row, role, DEMO_ACTOR, now)
        second_factor_changed = existing is not None and (
            bool(existing.totp_enabled) != totp or (totp and existing.totp_secret != secret)
        )
        if existing is not None and (not same_password or second_factor_changed):
            sessions.revoke_user(conn, row.id)
        act.query.update(
            created=existing is None,
            roles_changed=sorted(set(wanted) ^ have),
            password_changed=not same_password,
            totp=totp,
        )
    return secret if totp else None


__all__ = ["BOOTSTRAP_ACTOR", "DEMO_ACTOR", "bootstrap", "seed_user"]
