"""Signed-in sessions: opaque tokens, only their SHA-256 stored, with an idle and an absolute
expiry from the policy, and the purpose the user declared for the task at hand.

Every login opens a new session with a new token (no session fixation). A session ends when
the user logs out, after `policy.sessions.idle_minutes` without a request, at
`policy.sessions.absolute_hours` after login whatever the activity, and at once when the
account is disabled, its password or second factor is reset, or its roles change. Times are
the wall clock (injected in tests), never the data clock.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, func, insert, select, update

from peel.errors import AccessDenied, AuthError
from peel.governance.access import Caller
from peel.governance.identity import roles_of
from peel.governance.policy import Policy
from peel.serving.tables import sessions, user_roles, users

# last_seen_at is written at most this often, so a page's burst of requests costs one write.
TOUCH_EVERY = timedelta(seconds=30)
MAX_TOKEN_CHARS = 200
MAX_CASE_REFERENCE = 64
MAX_JUSTIFICATION = 500


@dataclass(frozen=True)
class NewSession:
    """What a login hands back: the token goes in a cookie, never anywhere else."""

    token: str
    csrf_token: str
    expires_at: datetime
    username: str


@dataclass(frozen=True)
class SessionInfo:
    """A live session and who it belongs to (roles as they are now)."""

    username: str
    roles: tuple[str, ...]
    csrf_token: str
    purpose: str | None
    case_reference: str | None
    justification: str | None
    expires_at: datetime
    rank: str | None
    team: str | None
    display_name: str
    created_at: datetime | None = None
    last_seen_at: datetime | None = None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def open_session(conn: Connection, policy: Policy, *, user_id: int, now: datetime) -> NewSession:
    """A new session for `user_id`; the user's expired sessions are cleared on the way."""
    conn.execute(
        delete(sessions).where(sessions.c.user_id == user_id, sessions.c.expires_at <= now)
    )
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = now + timedelta(hours=policy.sessions.absolute_hours)
    conn.execute(
        insert(sessions).values(
            token_hash=token_hash(token),
            user_id=user_id,
            created_at=now,
            last_seen_at=now,
            expires_at=expires,
            csrf_token=csrf,
        )
    )
    username = conn.execute(select(users.c.username).where(users.c.id == user_id)).scalar_one()
    return NewSession(token=token, csrf_token=csrf, expires_at=expires, username=username)


def revoke_user(conn: Connection, user_id: int) -> int:
    """End every session of one account at once; returns how many there were."""
    return int(conn.execute(delete(sessions).where(sessions.c.user_id == user_id)).rowcount or 0)


# Built once: SQLAlchemy memoises a statement object's cache key, so every request reusing it
# skips building and keying the expression again (a fifth of a session lookup's CPU).
# The user's roles come in the same statement (one round trip fewer per request on
# PostgreSQL), joined by the unit separator, which no role name contains.
_ROLE_SEP = "\x1f"
_ROLES = (
    select(func.aggregate_strings(user_roles.c.role, _ROLE_SEP))
    .where(user_roles.c.user_id == sessions.c.user_id)
    .scalar_subquery()
)
_LIVE_ROW = (
    select(
        sessions,
        users.c.username,
        users.c.display_name,
        users.c.rank,
        users.c.team,
        users.c.kind,
        users.c.disabled,
        _ROLES.label("roles"),
    )
    .join(users, users.c.id == sessions.c.user_id)
    .where(sessions.c.token_hash == bindparam("key"))
)


def _usable_token(token: str | None) -> bool:
    return bool(token) and len(token or "") <= MAX_TOKEN_CHARS


def _live_row(conn: Connection, policy: Policy, token: str, now: datetime) -> Row[Any] | None:
    """The session joined with its user, or None (an ended session is deleted on the way)."""
    if not _usable_token(token):
        return None
    key = token_hash(token)
    row = conn.execute(_LIVE_ROW, {"key": key}).first()
    if row is None:
        return None
    absolute = min(row.expires_at, row.created_at + timedelta(hours=policy.sessions.absolute_hours))
    idle = timedelta(minutes=policy.sessions.idle_minutes)
    if now >= absolute or now - row.last_seen_at > idle or row.disabled or row.kind != "person":
        conn.execute(delete(sessions).where(sessions.c.token_hash == key))
        return None
    return row


def lookup(
    conn: Connection, policy: Policy, token: str, now: datetime, *, touch: bool = True
) -> SessionInfo | None:
    """The live session of `token`, touched (its idle timer restarts) unless `touch` is
    False, or None."""
    row = _live_row(conn, policy, token, now)
    if row is None:
        return None
    r = row._mapping
    last_seen = r["last_seen_at"]
    if touch and now - last_seen >= TOUCH_EVERY:
        conn.execute(
            update(sessions)
            .where(sessions.c.token_hash == r["token_hash"])
            .values(last_seen_at=now)
        )
        last_seen = now
    return SessionInfo(
        username=r["username"],
        roles=tuple(sorted(r["roles"].split(_ROLE_SEP))) if r["roles"] else (),
        csrf_token=r["csrf_token"],
        purpose=r["purpose"],
        case_reference=r["case_reference"],
        justification=r["justification"],
        expires_at=r["expires_at"],
        rank=r["rank"],
        team=r["team"],
        display_name=r["display_name"],
        created_at=r["created_at"],
        last_seen_at=last_seen,
    )


def end(conn: Connection, token: str) -> tuple[str, tuple[str, ...]] | None:
    """Delete the session of `token`; returns (username, roles) if there was one."""
    if not _usable_token(token):
        return None
    key = token_hash(token)
    row = conn.execute(
        select(sessions.c.user_id, users.c.username)
        .join(users, users.c.id == sessions.c.user_id)
        .where(sessions.c.token_hash == key)
    ).first()
    if row is None:
        return None
    conn.execute(delete(sessions).where(sessions.c.token_hash == key))
    return row.username, roles_of(conn, row.user_id)


def check_purpose(
    policy: Policy,
    roles: tuple[str, ...],
    purpose: str | None,
    case_reference: str | None,
    justification: str | None,
) -> None:
    """Raise AccessDenied, saying what to change, unless this purpose may be declared."""
    if purpose is None:
        return
    mine = sorted(policy.purposes_of(roles))
    if purpose not in policy.purposes:
        raise AccessDenied(
            f"unknown purpose {purpose!r}: choose one of {', '.join(mine) or 'none for you'}"
        )
    if purpose not in mine:
        raise AccessDenied(
            f"purpose {purpose!r} is not one your roles may use: "
            f"choose one of {', '.join(mine) or 'none for you'}"
        )
    if policy.purposes[purpose].requires_case_reference and not case_reference:
        raise AccessDenied(f"purpose {purpose!r} needs a case reference")
    if case_reference is not None and len(case_reference) > MAX_CASE_REFERENCE:
        raise AccessDenied(f"a case reference has at most {MAX_CASE_REFERENCE} characters")
    if justification is not None and len(justification) > MAX_JUSTIFICATION:
        raise AccessDenied(f"a justification has at most {MAX_JUSTIFICATION} characters")


def set_purpose(
    conn: Connection,
    policy: Policy,
    token: str,
    *,
    purpose: str | None,
    case_reference: str | None,
    justification: str | None,
    now: datetime,
) -> None:
    """Record the purpose of the task at hand on the session (None clears it)."""
    purpose = purpose or None
    case_reference = (case_reference or "").strip() or None
    justification = (justification or "").strip() or None
    row = _live_row(conn, policy, token, now)
    if row is None:
        raise AuthError("your session has ended: sign in again")
    r = row._mapping
    check_purpose(policy, roles_of(conn, r["user_id"]), purpose, case_reference, justification)
    if purpose is None:
        case_reference = justification = None
    conn.execute(
        update(sessions)
        .where(sessions.c.token_hash == r["token_hash"])
        .values(
            purpose=purpose,
            case_reference=case_reference,
            justification=justification,
            last_seen_at=now,
        )
    )


def caller_of(
    info: SessionInfo,
    *,
    request_id: str = "",
    purpose: str | None = None,
    case_reference: str | None = None,
    justification: str | None = None,
) -> Caller:
    """The Caller of one request. A purpose sent with the request (the Peel-Purpose header)
    replaces the session's purpose together with its case reference and justification;
    without one, the session's purpose stands and a case reference or justification sent
    with the request replaces the session's."""
    chosen: tuple[str | None, str | None, str | None]
    if purpose:
        chosen = (purpose, case_reference or None, justification or None)
    else:
        chosen = (
            info.purpose,
            case_reference or info.case_reference,
            justification or info.justification,
        )
    return Caller(
        username=info.username,
        roles=info.roles,
        kind="person",
        purpose=chosen[0],
        case_reference=chosen[1],
        justification=chosen[2],
        request_id=request_id,
        rank=info.rank,
        team=info.team,
    )


__all__ = [
    "NewSession",
    "SessionInfo",
    "caller_of",
    "check_purpose",
    "end",
    "lookup",
    "open_session",
    "revoke_user",
    "set_purpose",
    "token_hash",
]
