"""Accounts: the people who use Peel, their roles, and how they sign in.

    accounts = Accounts(store, policy)            # clock: the wall clock, injected in tests
    accounts.add_user(admin, username="jdoe", display_name="J Doe", roles=["analyst"], ...)
    new = accounts.login("jdoe", password, code)  # NewSession: token for the cookie
    info = accounts.session(new.token)            # SessionInfo or None once it has ended

Admin actions need `users.manage`, and each writes exactly one audit entry (operation
"admin", object type "user", the username as object id, what changed as the query, never a
password or secret), "ok" or "denied" with the reason. Roles come from the policy; a role
the policy lists in `two_person_grant` takes two different admins (the first one's grant is
a pending request, a second admin's grant approves it), and no admin can grant a role to
their own account. Any change to an account's roles or credentials ends its sessions.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from peel.errors import AccessDenied
from peel.governance import admin, audit, login, provisioning, sessions
from peel.governance.access import Caller, event_for
from peel.governance.admin import (
    AccountError,
    AdminAction,
    account_fields,
    account_row,
    admin_action,
    admin_exists,
    known_role,
    normalise_username,
    public,
    require_person,
    reserved,
)
from peel.governance.passwords import Passwords, new_totp_secret, totp_uri
from peel.governance.policy import Policy
from peel.governance.roles import grant, pending_of, revoke, roles_by_user, sole_admin
from peel.governance.sessions import NewSession, SessionInfo
from peel.serving import Store
from peel.serving.tables import users


class Accounts:
    """Account administration, login and sessions over one serving store and policy."""

    def __init__(
        self, store: Store, policy: Policy, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.store = store
        self.policy = policy
        # Looked up when the object is made, not when this module was imported, so a test
        # can stand in a clock for the CLI (peel.governance.admin.wall_clock).
        self.clock = clock or admin.wall_clock
        self.passwords = Passwords(store.settings)

    # -- reading ----------------------------------------------------------------------------
    def get(self, username: str) -> dict | None:
        with self.store.connect() as conn:
            row = conn.execute(
                select(users).where(users.c.username == login.normalise_username(username))
            ).first()
            if row is None:
                return None
            roles = roles_by_user(conn, [row.id]).get(row.id, [])
            return public(row, roles, pending_of(conn, [row.id]).get(row.id, []), self.clock())

    def list_users(self) -> list[dict]:
        with self.store.connect() as conn:
            rows = conn.execute(select(users).order_by(users.c.username)).all()
            ids = [r.id for r in rows]
            roles, pending = roles_by_user(conn, ids), pending_of(conn, ids)
        now = self.clock()
        return [public(r, roles.get(r.id, []), pending.get(r.id, []), now) for r in rows]

    def admin_exists(self) -> bool:
        with self.store.connect() as conn:
            return admin_exists(conn)

    # -- admin actions ------------------------------------------------------------------------
    def _action(
        self, actor: Caller, username: str, query: dict[str, Any]
    ) -> AbstractContextManager[AdminAction]:
        return admin_action(
            self.store,
            self.policy,
            actor,
            object_type="user",
            object_ids=[login.normalise_username(username)[:64]],
            query=query,
            clock=self.clock,
        )

    def add_user(
        self,
        actor: Caller,
        *,
        username: str,
        display_name: str,
        roles: list[str],
        password: str | None,
        rank: str | None = None,
        team: str | None = None,
        collar_number: str | None = None,
    ) -> dict:
        """Create a person's account. Roles the policy marks two-person become pending
        requests that a second admin approves with `grant_role`."""
        wanted = sorted(set(roles))
        with self._action(actor, username, {"action": "add_user", "roles": wanted}) as act:
            name = normalise_username(username)
            if name == login.normalise_username(actor.username):
                raise AccessDenied("an administrator cannot create or grant roles to themselves")
            values = account_fields(
                display_name=display_name, rank=rank, team=team, collar_number=collar_number
            )
            reserved(self.policy, name)
            for role in wanted:
                known_role(self.policy, role)
            conn, now = act.conn, self.clock()
            if conn.execute(select(users.c.id).where(users.c.username == name)).first():
                raise AccountError(f"an account named {name!r} already exists")
            pw_hash = self.passwords.hash(password) if password is not None else None
            conn.execute(
                insert(users).values(
                    username=name,
                    kind="person",
                    password_hash=pw_hash,
                    totp_enabled=False,
                    disabled=False,
                    failed_logins=0,
                    created_at=now,
                    updated_at=now,
                    **values,
                )
            )
            row = account_row(conn, name)
            outcome = {r: grant(conn, self.policy, row, r, actor.username, now) for r in wanted}
            act.query.update(
                granted=[r for r, o in outcome.items() if o == "granted"],
                pending=[r for r, o in outcome.items() if o == "pending"],
                fields_set=sorted(k for k, v in values.items() if v is not None),
                password_set=pw_hash is not None,
            )
            roles_now = roles_by_user(conn, [row.id]).get(row.id, [])
            return public(row, roles_now, pending_of(conn, [row.id]).get(row.id, []), now)

    def disable(self, actor: Caller, username: str) -> None:
        """Disable an account and end every session of it at once."""
        with self._action(actor, username, {"action": "disable"}) as act:
            row = account_row(act.conn, username, lock=True)
            act.conn.execute(
                update(users)
                .where(users.c.id == row.id)
                .values(disabled=True, updated_at=self.clock())
            )
            act.query["sessions_ended"] = sessions.revoke_user(act.conn, row.id)

    def enable(self, actor: Caller, username: str) -> None:
        """Enable a disabled account again (and clear a lockout)."""
        with self._action(actor, username, {"action": "enable"}) as act:
            row = account_row(act.conn, username, lock=True)
            act.conn.execute(
                update(users)
                .where(users.c.id == row.id)
                .values(disabled=False, failed_logins=0, locked_until=None, updated_at=self.clock())
            )

    def grant_role(self, actor: Caller, username: str, role: str) -> str:
        """Returns "granted", or "pending" while a two-person role waits for a second admin
        (a different admin's grant of the same role approves it). While there is only one
        enabled admin, their grant of the admin role takes effect at once (audited with
        "sole_admin"): otherwise a new store could never get its second admin."""
        with self._action(actor, username, {"action": "grant_role", "role": role}) as act:
            known_role(self.policy, role)
            row = account_row(act.conn, username, lock=True)
            alone = role == "admin" and role in self.policy.two_person_grant
            alone = alone and sole_admin(act.conn)
            result = grant(
                act.conn,
                self.policy,
                row,
                role,
                actor.username,
                self.clock(),
                sole_admin_may_grant=True,
            )
            act.query["result"] = result
            if alone:
                act.query["sole_admin"] = True
            return result

    def revoke_role(self, actor: Caller, username: str, role: str) -> None:
        with self._action(actor, username, {"action": "revoke_role", "role": role}) as act:
            known_role(self.policy, role)
            row = account_row(act.conn, username, lock=True)
            act.query.update(revoke(act.conn, row, role, actor.username, self.clock()))

    def set_password(self, actor: Caller, username: str, password: str) -> None:
        """Set a new password; clears a lockout and ends the account's sessions."""
        with self._action(actor, username, {"action": "set_password"}) as act:
            row = account_row(act.conn, username, lock=True)
            require_person(row)
            pw_hash = self.passwords.hash(password)
            act.conn.execute(
                update(users)
                .where(users.c.id == row.id)
                .values(
                    password_hash=pw_hash,
                    failed_logins=0,
                    locked_until=None,
                    updated_at=self.clock(),
                )
            )
            act.query["sessions_ended"] = sessions.revoke_user(act.conn, row.id)

    def enrol_totp(self, actor: Caller, username: str) -> tuple[str, str]:
        """A new TOTP secret for the account (from now on its logins need a code): returns
        (base32 secret, otpauth:// URI) to show once. Ends the account's sessions."""
        with self._action(actor, username, {"action": "enrol_totp"}) as act:
            row = account_row(act.conn, username, lock=True)
            require_person(row)
            secret = new_totp_secret()
            act.conn.execute(
                update(users)
                .where(users.c.id == row.id)
                .values(
                    totp_secret=secret,
                    totp_enabled=True,
                    totp_last_step=None,
                    updated_at=self.clock(),
                )
            )
            act.query["sessions_ended"] = sessions.revoke_user(act.conn, row.id)
        return secret, totp_uri(secret, row.username)

    # -- accounts without an admin --------------------------------------------------------------
    def bootstrap(
        self,
        *,
        username: str,
        display_name: str,
        password: str,
        rank: str | None = None,
        team: str | None = None,
        collar_number: str | None = None,
    ) -> tuple[dict, str]:
        """The first admin of a new store and its TOTP secret (show it once). Refused once
        any account holds the admin role, even a disabled one."""
        return provisioning.bootstrap(
            self.store,
            self.policy,
            self.passwords,
            username=username,
            display_name=display_name,
            password=password,
            rank=rank,
            team=team,
            collar_number=collar_number,
            clock=self.clock,
        )

    def seed_user(
        self,
        *,
        username: str,
        display_name: str,
        roles: list[str],
        password: str,
        rank: str | None = None,
        team: str | None = None,
        collar_number: str | None = None,
        totp: bool,
    ) -> str | None:
        """Development only: create or update a demo account (actor "system:demo") with
        exactly these roles; returns its TOTP secret if `totp`, the same on every run."""
        return provisioning.seed_user(
            self.store,
            self.policy,
            self.passwords,
            username=username,
            display_name=display_name,
            roles=roles,
            password=password,
            rank=rank,
            team=team,
            collar_number=collar_number,
            totp=totp,
            clock=self.clock,
        )

    # -- signing in ---------------------------------------------------------------------------
    def login(
        self, username: str, password: str, totp_code: str | None, *, request_id: str = ""
    ) -> NewSession:
        """Check the credentials and open a new session (a new token on every login)."""
        attempt = login.Attempt(username, password, totp_code, request_id, open_session=True)
        _, new = login.authenticate(
            self.store, self.policy, self.passwords, attempt, now=self.clock()
        )
        assert new is not None
        return new

    def verify_credentials(
        self, username: str, password: str, totp_code: str | None, *, request_id: str = ""
    ) -> Caller:
        """The same checks, lockout and audit as `login`, without opening a session."""
        attempt = login.Attempt(username, password, totp_code, request_id, open_session=False)
        caller, _ = login.authenticate(
            self.store, self.policy, self.passwords, attempt, now=self.clock()
        )
        return caller

    def session(self, token: str) -> SessionInfo | None:
        now = self.clock()
        with self.store.read() as conn:
            info = sessions.lookup(conn, self.policy, token, now, touch=False)
        if info is None or (
            info.last_seen_at is not None and now - info.last_seen_at < sessions.TOUCH_EVERY
        ):
            return info
        # The idle timer needs restarting: only then a write transaction.
        with self.store.begin() as conn:
            return sessions.lookup(conn, self.policy, token, now)

    def logout(self, token: str, *, request_id: str = "") -> None:
        """End the session of `token` (audited); an unknown token is ignored."""
        with self.store.begin() as conn:
            ended = sessions.end(conn, token)
            if ended is None:
                return
            username, roles = ended
            audit.append(
                conn,
                event_for(
                    Caller(username=username, roles=roles, request_id=request_id),
                    operation="logout",
                    object_type="user",
                    object_ids=[username],
                ),
                clock=self.clock,
            )

    def set_purpose(
        self,
        token: str,
        purpose: str | None,
        case_reference: str | None,
        justification: str | None,
    ) -> None:
        with self.store.begin() as conn:
            sessions.set_purpose(
                conn,
                self.policy,
                token,
                purpose=purpose,
                case_reference=case_reference,
                justification=justification,
                now=self.clock(),
            )

    def caller(
        self,
        info: SessionInfo,
        *,
        request_id: str = "",
        purpose: str | None = None,
        case_reference: str | None = None,
        justification: str | None = None,
    ) -> Caller:
        return sessions.caller_of(
            info,
            request_id=request_id,
            purpose=purpose,
            case_reference=case_reference,
            justification=justification,
        )


__all__ = ["AccountError", "Accounts", "NewSession", "SessionInfo"]
