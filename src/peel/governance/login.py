"""Checking who someone is: password, second factor, lockout, and the audit of every attempt.

Every failure gives the same answer, "invalid username, password or code": a wrong password,
a wrong or missing TOTP code, a locked, disabled or missing account, a service identity. A
missing account is checked against a dummy hash so it takes as long as a wrong password.
`policy.lockout.failures` failures in a row lock an account for `policy.lockout.minutes`;
while locked even the right password is refused (and the attempts do not extend the lock).
A successful login clears the count.

The hash is checked outside the write transaction (argon2 is slow on purpose, and on SQLite
a write transaction holds the database lock); the counters, the audit entry and the new
session are then written in one transaction that re-reads the account, so concurrent
attempts neither lose a failure nor slip past a lock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, select, update

from peel.errors import AuthError
from peel.governance import audit
from peel.governance.access import Caller
from peel.governance.identity import roles_of
from peel.governance.passwords import Passwords, totp_step
from peel.governance.policy import Policy
from peel.governance.sessions import NewSession, open_session
from peel.serving import Store
from peel.serving.tables import users

logger = logging.getLogger(__name__)

FAILED = "invalid username, password or code"
MAX_NAME = 64


def normalise_username(username: str) -> str:
    return username.strip().lower()


@dataclass(frozen=True)
class Attempt:
    username: str
    password: str
    totp_code: str | None
    request_id: str
    open_session: bool


def _account(conn: Connection, username: str, *, lock: bool = False) -> Row[Any] | None:
    if not username or len(username) > MAX_NAME:
        return None
    q = select(users).where(users.c.username == username)
    return conn.execute(q.with_for_update() if lock else q).first()


def _refusal(row: Row[Any] | None, now: datetime) -> str | None:
    """Why an account may not log in whatever the password, or None."""
    if row is None:
        return "unknown_account"
    if row.kind != "person":
        return "service_identity"
    if row.disabled:
        return "disabled"
    if row.locked_until is not None and row.locked_until > now:
        return "locked"
    return None


def _second_factor(
    policy: Policy, row: Row[Any], roles: tuple[str, ...], code: str | None, now: datetime
) -> tuple[int | None, str | None]:
    """(the TOTP step the code matched, or None when no code was needed; why it failed)."""
    needed = bool(row.totp_enabled) or policy.needs_totp(roles)
    if not needed:
        return None, None
    if not row.totp_secret:
        return -1, "totp_not_enrolled"
    if not code:
        return -1, "totp_missing"
    step = totp_step(row.totp_secret, code, now)
    if step is None:
        return -1, "totp_wrong"
    return step, None


def authenticate(
    store: Store,
    policy: Policy,
    passwords: Passwords,
    attempt: Attempt,
    *,
    now: datetime,
) -> tuple[Caller, NewSession | None]:
    """Check one login attempt, audit it, and open a session if asked. Raises AuthError
    with the one message for every failure (the audit entry records the real reason)."""
    typed = normalise_username(attempt.username)
    name = typed[:MAX_NAME]  # as audited; a longer name matches no account
    with store.connect() as conn:
        row = _account(conn, typed)
        roles = roles_of(conn, row.id) if row is not None else ()
    usable = row is not None and row.kind == "person"
    password_ok = passwords.verify(row.password_hash if usable and row else None, attempt.password)
    reason = _refusal(row, now)
    step: int | None = None
    if reason is None and row is not None:
        if not password_ok:
            reason = "bad_password"
        else:
            step, reason = _second_factor(policy, row, roles, attempt.totp_code, now)

    caller: Caller | None = None
    new: NewSession | None = None
    with store.begin() as conn:
        fresh = _account(conn, typed, lock=True)
        # Re-check what may have changed while the hash was being checked.
        if reason is None:
            reason = _refusal(fresh, now)
        changed = fresh is not None and row is not None and fresh.password_hash != row.password_hash
        if reason is None and changed:
            reason = "password_changed"
        if (
            reason is None
            and fresh is not None
            and step is not None
            and fresh.totp_last_step is not None
            and step <= fresh.totp_last_step
        ):
            reason = "totp_replayed"
        query: dict[str, Any]
        if reason is None and fresh is not None:
            query = _succeeded(conn, passwords, fresh, attempt.password, now, totp_step=step)
            query["second_factor"] = step is not None
            query["session"] = attempt.open_session
            roles = roles_of(conn, fresh.id)
            caller = Caller(
                username=fresh.username,
                roles=roles,
                kind=fresh.kind,
                request_id=attempt.request_id,
                rank=fresh.rank,
                team=fresh.team,
            )
            if attempt.open_session:
                new = open_session(conn, policy, user_id=fresh.id, now=now)
        else:
            query = {"reason": reason or "refused"}
            counted = reason in ("bad_password", "totp_missing", "totp_wrong", "totp_replayed")
            if fresh is not None and counted and _refusal(fresh, now) is None:
                query.update(_failed(conn, policy, fresh, now))
        audit.append(
            conn,
            audit.AuditEvent(
                actor=name or "(empty)",
                actor_role=",".join(roles) or "(none)",
                operation="login",
                object_type="user",
                object_ids=(name,),
                query=query,
                outcome="ok" if caller is not None else "denied",
                request_id=attempt.request_id,
            ),
            clock=lambda: now,
        )
    if caller is None:
        logger.info("login refused (request %s)", attempt.request_id or "-")
        raise AuthError(FAILED)
    return caller, new


def _succeeded(
    conn: Connection,
    passwords: Passwords,
    row: Row[Any],
    password: str,
    now: datetime,
    *,
    totp_step: int | None,
) -> dict[str, Any]:
    values: dict[str, Any] = {"failed_logins": 0, "locked_until": None}
    if totp_step is not None:
        values["totp_last_step"] = totp_step
    query: dict[str, Any] = {}
    if row.password_hash and passwords.needs_rehash(row.password_hash):
        values["password_hash"] = passwords.hasher.hash(password)
        values["updated_at"] = now
        query["rehashed"] = True
    conn.execute(update(users).where(users.c.id == row.id).values(**values))
    return query


def _failed(conn: Connection, policy: Policy, row: Row[Any], now: datetime) -> dict[str, Any]:
    """Count a failure; the one that reaches the limit locks the account and restarts the
    count, so after the lock the account has the full number of tries again."""
    failures = int(row.failed_logins or 0) + 1
    if failures >= policy.lockout.failures:
        until = now + timedelta(minutes=policy.lockout.minutes)
        conn.execute(
            update(users).where(users.c.id == row.id).values(failed_logins=0, locked_until=until)
        )
        return {"failures": failures, "locked_minutes": policy.lockout.minutes}
    conn.execute(update(users).where(users.c.id == row.id).values(failed_logins=failures))
    return {"failures": failures}


__all__ = ["FAILED", "Attempt", "authenticate", "normalise_username"]
