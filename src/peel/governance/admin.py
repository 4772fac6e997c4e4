"""Admin actions on accounts and cases: checked, run in one transaction, audited once.

`admin_action` checks the actor's permission, runs the block in one serving-store
transaction and appends one audit entry (operation "admin") in that transaction. A refusal,
by the permission check or by the block, rolls the block back and is audited as "denied"
with the refusal's kind, so every admin action leaves exactly one entry. Queries name what
changed, never a password or a secret.

Also here: the account fields every admin action validates, and an account as it is shown.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, select
from sqlalchemy.exc import IntegrityError

from peel.errors import AuditError, PeelError, PolicyRefusal, StoreError
from peel.governance import audit, login
from peel.governance.access import Caller, check, event_for
from peel.governance.policy import Policy
from peel.serving import Store
from peel.serving.tables import user_roles, users

logger = logging.getLogger(__name__)

USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{1,63}")
FIELD_LIMITS = {"display_name": 200, "rank": 64, "team": 64, "collar_number": 32}


class AccountError(PeelError):
    """No such account, one that already exists, or a field that cannot be stored."""


def wall_clock() -> datetime:
    return datetime.now(UTC)


def system_caller(name: str) -> Caller:
    return Caller(username=name, roles=("system",), kind="service")


# -- admin actions: one transaction, one audit entry -------------------------------------------
@dataclass
class AdminAction:
    conn: Connection
    query: dict[str, Any] = field(default_factory=dict)


def _deny(
    store: Store,
    actor: Caller,
    *,
    object_type: str,
    object_ids: Sequence[str],
    query: Mapping[str, Any],
    reason: str,
    clock: Callable[[], datetime],
) -> None:
    try:
        with store.begin() as conn:
            audit.append(
                conn,
                event_for(
                    actor,
                    operation="admin",
                    object_type=object_type,
                    object_ids=object_ids,
                    query={**query, "refused": reason},
                    outcome="denied",
                ),
                clock=clock,
            )
    except (AuditError, StoreError):
        logger.exception("could not audit a refused admin action %s", actor.request_id)


@contextmanager
def admin_action(
    store: Store,
    policy: Policy,
    actor: Caller,
    *,
    object_type: str,
    object_ids: Sequence[str],
    query: Mapping[str, Any],
    clock: Callable[[], datetime],
    permission: str | None = "users.manage",
) -> Iterator[AdminAction]:
    """Check `permission`, run the block in one transaction and audit it there. A refusal,
    from the check or from the block, is rolled back and audited as denied instead."""
    ids = [str(i)[:200] for i in object_ids]
    try:
        if permission is not None:
            check(policy, actor, permission)
        try:
            with store.begin() as conn:
                act = AdminAction(conn=conn, query=dict(query))
                yield act
                audit.append(
                    conn,
                    event_for(
                        actor,
                        operation="admin",
                        object_type=object_type,
                        object_ids=ids,
                        query=act.query,
                    ),
                    clock=clock,
                )
        except IntegrityError as e:  # a concurrent change got there first (same username, ...)
            raise AccountError(f"the {object_type} was changed at the same time: try again") from e
    except (AuditError, StoreError):
        raise
    except PeelError as e:
        _deny(
            store,
            actor,
            object_type=object_type,
            object_ids=ids,
            query=query,
            reason=type(e).__name__,
            clock=clock,
        )
        raise


def normalise_username(username: str) -> str:
    name = login.normalise_username(username)
    if not USERNAME.fullmatch(name):
        raise AccountError(
            "a username has 2 to 64 characters: lower-case letters, digits and . _ @ -, "
            "starting with a letter or digit"
        )
    return name


def account_fields(**values: str | None) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for key, value in values.items():
        value = value.strip() if value is not None else None
        if key == "display_name" and not value:
            raise AccountError("an account needs a display name")
        if value is not None and len(value) > FIELD_LIMITS[key]:
            raise AccountError(f"{key} has at most {FIELD_LIMITS[key]} characters")
        out[key] = value or None
    return out


def account_row(conn: Connection, username: str, *, lock: bool = False) -> Row[Any]:
    q = select(users).where(users.c.username == login.normalise_username(username))
    row = conn.execute(q.with_for_update() if lock else q).first()
    if row is None:
        raise AccountError(f"no account named {username!r}")
    return row


def require_person(row: Row[Any]) -> None:
    if row.kind != "person":
        raise AccountError(f"{row.username!r} is a service identity: the policy defines it")


def public(row: Row[Any], roles: Sequence[str], pending: Sequence[str], now: datetime) -> dict:
    """An account as the app and CLI show it: never the password hash or TOTP secret."""
    return {
        "username": row.username,
        "display_name": row.display_name,
        "kind": row.kind,
        "rank": row.rank,
        "team": row.team,
        "collar_number": row.collar_number,
        "roles": sorted(roles),
        "pending_roles": sorted(pending),
        "totp_enabled": bool(row.totp_enabled),
        "disabled": bool(row.disabled),
        "locked": row.locked_until is not None and row.locked_until > now,
        "failed_logins": int(row.failed_logins or 0),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def known_role(policy: Policy, role: str) -> None:
    """Refuse a role the policy does not define, naming it and the ones it does."""
    if role not in policy.roles:
        raise PolicyRefusal(
            "roles", f"unknown role {role!r}: the policy defines {', '.join(sorted(policy.roles))}"
        )


def reserved(policy: Policy, name: str) -> None:
    """Refuse a person's account under a service identity's name."""
    if name in policy.services or name.startswith("system"):
        raise AccountError(f"{name!r} is reserved for a service identity")


def admin_exists(conn: Connection) -> bool:
    """Does any account, even a disabled one, hold the admin role?"""
    q = select(user_roles.c.user_id).where(user_roles.c.role == "admin").limit(1)
    return conn.execute(q).first() is not None


__all__ = [
    "AccountError",
    "AdminAction",
    "account_fields",
    "account_row",
    "admin_action",
    "admin_exists",
    "known_role",
    "normalise_username",
    "public",
    "require_person",
    "reserved",
    "system_caller",
    "wall_clock",
]
