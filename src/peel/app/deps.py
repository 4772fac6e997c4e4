"""Dependencies every route declares: the app state, the signed-in session, the purpose
headers, and `Permit`, the one declaration of a route's access rule.

Each route has exactly one `Permit(...)` among its dependencies: "public", "authenticated",
or a permission of the policy. A test walks every route and fails on a route without one,
then checks allow or deny for every role.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.concurrency import run_in_threadpool

from peel.app.state import AppState
from peel.errors import AccessDenied
from peel.governance.access import Caller, check, record_denial
from peel.governance.sessions import SessionInfo

SESSION_COOKIE = "peel_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
PUBLIC = "public"
AUTHENTICATED = "authenticated"


class NotAuthenticated(Exception):
    """No valid session: the API answers 401, pages redirect to the login page."""


class CsrfFailed(Exception):
    """An unsafe request with a session cookie but without the session's CSRF token."""


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.peel
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


def session_token(request: Request) -> tuple[str, str] | None:
    """("bearer" | "cookie", token) from the Authorization header or the session cookie."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return "bearer", auth[7:].strip()
    cookie = request.cookies.get(SESSION_COOKIE)
    return ("cookie", cookie) if cookie else None


async def current_session(request: Request, state: StateDep) -> SessionInfo:
    found = session_token(request)
    if found is None:
        raise NotAuthenticated
    how, token = found
    # The lookup is a database round trip: in the thread pool, so that the event loop (every
    # other request of this process) never waits on the store. On PostgreSQL sharing the
    # cores with the app, a blocked loop waited for the database process to be scheduled.
    info = await run_in_threadpool(state.accounts.session, token)
    if info is None:
        raise NotAuthenticated
    if how == "cookie" and request.method not in SAFE_METHODS:
        given = request.headers.get(CSRF_HEADER)
        if given is None and not request.url.path.startswith("/api/"):
            form = await request.form()
            value = form.get("csrf_token")
            given = value if isinstance(value, str) else None
        if given is None or not _same(info.csrf_token, given):
            raise CsrfFailed
    request.state.session_token = token
    request.state.session = info
    return info


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


SessionDep = Annotated[SessionInfo, Depends(current_session)]


class Rule:
    """Base of a route's access rule; the route x role test looks for exactly one."""

    permission: str

    @property
    def permissions(self) -> tuple[str, ...]:
        """The permissions any one of which lets a caller in."""
        return (self.permission,)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self.permissions))})"


class Public(Rule):
    """Anyone may call the route (login, health, static)."""

    permission = PUBLIC

    async def __call__(self) -> None:
        return None


class Permit(Rule):
    """A route's access rule: "authenticated" or a permission of the policy (or several,
    any one of which will do: a page both requesters and authorisers use). Returns the
    Caller. Personal-data permissions are checked again, and audited, by `access.operation`
    inside the route; a refusal here is audited too."""

    def __init__(self, permission: str, *alternatives: str) -> None:
        self.permission = permission
        self.alternatives = alternatives

    @property
    def permissions(self) -> tuple[str, ...]:
        return (self.permission, *self.alternatives)

    async def __call__(
        self,
        request: Request,
        state: StateDep,
        purpose: Annotated[str | None, Header(alias="Peel-Purpose")] = None,
        case_reference: Annotated[str | None, Header(alias="Peel-Case-Reference")] = None,
        justification: Annotated[str | None, Header(alias="Peel-Justification")] = None,
    ) -> Caller:
        info = await current_session(request, state)
        caller = state.accounts.caller(
            info,
            request_id=request_id(request),
            purpose=_clean(purpose, 64),
            case_reference=_clean(case_reference, 64),
            justification=_clean(justification, 500),
        )
        if self.permission == AUTHENTICATED:
            return caller
        refusals: dict[str, AccessDenied] = {}
        for permission in self.permissions:
            try:
                check(state.policy, caller, permission)
            except AccessDenied as e:
                refusals[permission] = e
            else:
                return caller
        known = state.policy.permissions
        personal = [p for p in self.permissions if p in known and known[p].personal_data]
        if personal:
            await run_in_threadpool(
                record_denial,
                state.store,
                caller,
                operation="consultation" if request.method in SAFE_METHODS else "alteration",
                object_type=personal[0].split(".")[0],
                query={"path": request.url.path, "method": request.method},
                clock=state.clock,
            )
        # The reason for a permission the caller holds (no purpose, say) says more than "no
        # role grants" the others.
        held = state.policy.permissions_of(caller.roles)
        for permission, refusal in refusals.items():
            if permission in held:
                raise refusal
        raise AccessDenied(f"no role of this account grants {' or '.join(self.permissions)}")


def _clean(value: str | None, limit: int) -> str | None:
    """Header values: stripped, bounded, control characters refused."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if len(value) > limit or any(ord(c) < 32 for c in value):
        raise AccessDenied(f"a purpose header is longer than {limit} characters or not text")
    return value


__all__ = [
    "AUTHENTICATED",
    "CSRF_HEADER",
    "PUBLIC",
    "SESSION_COOKIE",
    "CsrfFailed",
    "NotAuthenticated",
    "Permit",
    "Public",
    "Rule",
    "SessionDep",
    "StateDep",
    "current_session",
    "get_state",
    "request_id",
]
