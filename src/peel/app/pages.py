"""Server-rendered pages (Jinja2, no inline script or style): login, home, purpose, policy
and the oversight panel's audit pages (in pages_audit.py). Navigation follows the roles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from peel.app.api.auth import set_session_cookie
from peel.app.deps import AUTHENTICATED, SESSION_COOKIE, Permit, Public, StateDep, request_id
from peel.app.security import LOGIN_CSRF_COOKIE, login_csrf_ok, login_csrf_pair
from peel.errors import AccessDenied, AuthError, NotFound
from peel.governance import history
from peel.governance.access import Caller

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
router = APIRouter(include_in_schema=False)

NAV = (
    ("/", "Home", None),
    ("/patrol", "Patrol check", "person.check"),
    ("/products", "Products", "products.read"),
    ("/anpr/authorisations", "ANPR access", ("anpr.read", "anpr.authorise")),
    ("/leads", "Leads", "anpr.read"),
    ("/evidence", "Disclosure review", "evidence.review"),
    ("/audit", "Audit", "audit.read"),
    ("/oversight/leads", "Lead oversight", "models.oversee"),
    ("/policy", "Policy", "policy.read"),
    ("/docs", "API", None),
)


def _shown(needs: str | tuple[str, ...] | None, perms: set[str]) -> bool:
    """A NAV entry needs no permission, one, or any one of several."""
    if needs is None:
        return True
    return any(p in perms for p in ((needs,) if isinstance(needs, str) else needs))


def context(request: Request, caller: Caller | None, **extra: Any) -> dict[str, Any]:
    state = request.app.state.peel
    perms = state.policy.permissions_of(caller.roles) if caller else set()
    nav = [(href, label) for href, label, p in NAV if caller and _shown(p, perms)]
    purpose = None
    if caller and caller.purpose:
        label = state.policy.purposes.get(caller.purpose)
        purpose = (label.label if label else caller.purpose) + (
            f" · {caller.case_reference}" if caller.case_reference else ""
        )
    # The session Permit already looked up for this request (no second look-up).
    info = getattr(request.state, "session", None) if caller is not None else None
    csrf = info.csrf_token if info is not None else None
    return {
        "caller": caller,
        "nav": nav,
        "path": request.url.path,
        "purpose": purpose,
        "data_clock": state.data_clock_label(),
        "synthetic": state.synthetic(),
        "csrf_token": csrf,
        "role_names": ", ".join(
            state.policy.roles[r].label if r in state.policy.roles else r
            for r in (caller.roles if caller else ())
        ),
        "permissions": perms,
        **extra,
    }


def render(
    request: Request, caller: Caller | None, template: str, *, code: int = 200, **extra: Any
) -> HTMLResponse:
    return templates.TemplateResponse(
        request, template, context(request, caller, **extra), status_code=code
    )


def error_page(request: Request, status: int, detail: str) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "error.html",
        {
            "caller": None,
            "nav": [],
            "status": status,
            "detail": detail,
            "synthetic": False,
            "data_clock": None,
            "purpose": None,
            "path": request.url.path,
        },
        status_code=status,
    )


# -- login ------------------------------------------------------------------------------------
@router.get("/login")
def login_page(
    request: Request, state: StateDep, _: Annotated[None, Depends(Public())]
) -> HTMLResponse:
    return _login_form(request, state, None, 200)


def _login_form(request: Request, state: Any, message: str | None, status: int) -> HTMLResponse:
    cookie, form_token = login_csrf_pair(state.settings.secret_key)
    response = templates.TemplateResponse(
        request,
        "login.html",
        {
            "caller": None,
            "nav": [],
            "message": message,
            "login_csrf": form_token,
            "synthetic": state.synthetic(),
            "data_clock": state.data_clock_label(),
            "purpose": None,
            "path": "/login",
        },
        status_code=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        cookie,
        httponly=True,
        samesite="strict",
        secure=_secure(state),
        max_age=3600,
        path="/login",
    )
    return response


def _secure(state: Any) -> bool:
    s = state.settings.cookie_secure
    return (not state.settings.development) if s is None else bool(s)


@router.post("/login")
def login_submit(
    request: Request,
    state: StateDep,
    _: Annotated[None, Depends(Public())],
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(max_length=128)],
    totp: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    if not login_csrf_ok(
        state.settings.secret_key, request.cookies.get(LOGIN_CSRF_COOKIE), csrf_token
    ):
        return _login_form(request, state, "The form expired. Please sign in again.", 403)
    try:
        new = state.accounts.login(username, password, totp or None, request_id=request_id(request))
    except AuthError as e:
        return _login_form(request, state, str(e), 401)
    response = RedirectResponse("/purpose", status_code=303)
    set_session_cookie(response, state, new.token)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout_submit(
    request: Request, state: StateDep, caller: Annotated[Caller, Depends(Permit(AUTHENTICATED))]
) -> Response:
    state.accounts.logout(request.state.session_token, request_id=caller.request_id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- home and purpose ---------------------------------------------------------------------------
@router.get("/")
def home(
    request: Request, state: StateDep, caller: Annotated[Caller, Depends(Permit(AUTHENTICATED))]
) -> HTMLResponse:
    roles = [state.policy.roles[r].label for r in caller.roles if r in state.policy.roles]
    return render(request, caller, "home.html", roles=roles)


@router.get("/purpose")
def purpose_page(
    request: Request, state: StateDep, caller: Annotated[Caller, Depends(Permit(AUTHENTICATED))]
) -> HTMLResponse:
    return _purpose_form(request, state, caller, None, 200)


def _purpose_form(
    request: Request, state: Any, caller: Caller, message: str | None, status: int
) -> HTMLResponse:
    options = [
        (p, state.policy.purposes[p].label, state.policy.purposes[p].requires_case_reference)
        for p in sorted(state.policy.purposes_of(caller.roles))
        if p in state.policy.purposes
    ]
    return render(request, caller, "purpose.html", code=status, options=options, message=message)


@router.post("/purpose")
def purpose_submit(
    request: Request,
    state: StateDep,
    caller: Annotated[Caller, Depends(Permit(AUTHENTICATED))],
    purpose: Annotated[str, Form(max_length=64)] = "",
    case_reference: Annotated[str, Form(max_length=64)] = "",
    justification: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    try:
        state.accounts.set_purpose(
            request.state.session_token,
            purpose or None,
            case_reference.strip() or None,
            justification.strip() or None,
        )
    except AccessDenied as e:
        return _purpose_form(request, state, caller, str(e), 400)
    return RedirectResponse("/", status_code=303)


# -- policy -------------------------------------------------------------------------------------
@router.get("/policy")
def policy_page(
    request: Request, state: StateDep, caller: Annotated[Caller, Depends(Permit("policy.read"))]
) -> HTMLResponse:
    with state.store.connect() as conn:
        rows = history.history(conn)
    return render(
        request, caller, "policy.html", rows=rows, applied=state.applied, policy=state.policy
    )


@router.get("/policy/{version}")
def policy_version_page(
    version: int,
    request: Request,
    state: StateDep,
    caller: Annotated[Caller, Depends(Permit("policy.read"))],
) -> HTMLResponse:
    with state.store.connect() as conn:
        rows = [r for r in history.history(conn) if r["version"] == version]
    if not rows:
        raise NotFound(f"no applied policy version {version}")
    diff = [(_diff_class(line), line) for line in rows[0]["diff"].splitlines()]
    return render(request, caller, "policy_version.html", row=rows[0], diff=diff)


def _diff_class(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "meta"
    if line.startswith("+"):
        return "add"
    if line.startswith("-"):
        return "del"
    if line.startswith("@@"):
        return "hunk"
    return ""


def login_redirect(path: str) -> str:
    return "/login?next=" + quote(path)


__all__ = ["context", "error_page", "render", "router", "templates"]
