"""Sign in and out, who am I, and the purpose of the work in hand."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from peel.app.deps import (
    AUTHENTICATED,
    SESSION_COOKIE,
    Permit,
    Public,
    StateDep,
    request_id,
)
from peel.governance.access import Caller

router = APIRouter(prefix="/api/auth", tags=["auth"])


class LoginCreate(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    totp: str | None = Field(default=None, max_length=16)


class SessionPublic(BaseModel):
    token: str
    csrf_token: str
    expires_at: str
    username: str


class PurposeUpdate(BaseModel):
    purpose: str | None = Field(default=None, max_length=64)
    case_reference: str | None = Field(default=None, max_length=64)
    justification: str | None = Field(default=None, max_length=500)


class MePublic(BaseModel):
    username: str
    display_name: str
    roles: list[str]
    rank: str | None
    team: str | None
    permissions: list[str]
    purposes: list[str]
    purpose: str | None
    case_reference: str | None
    justification: str | None
    data_clock: str | None
    synthetic: bool


def set_session_cookie(response: Response, state: StateDep, token: str) -> None:
    secure = state.settings.cookie_secure
    if secure is None:
        secure = not state.settings.development
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        secure=secure,
        samesite="strict",
        max_age=state.policy.sessions.absolute_hours * 3600,
        path="/",
    )


@router.post("/login", response_model=SessionPublic)
def login(
    body: LoginCreate,
    request: Request,
    response: Response,
    state: StateDep,
    _: Annotated[None, Depends(Public())],
) -> SessionPublic:
    """Sign in. The same answer for a wrong password, a locked, disabled or missing account,
    or a wrong second factor."""
    new = state.accounts.login(
        body.username, body.password, body.totp, request_id=request_id(request)
    )
    set_session_cookie(response, state, new.token)
    return SessionPublic(
        token=new.token,
        csrf_token=new.csrf_token,
        expires_at=new.expires_at.isoformat(),
        username=new.username,
    )


@router.post("/logout", status_code=204)
def logout(
    request: Request,
    response: Response,
    state: StateDep,
    caller: Annotated[Caller, Depends(Permit(AUTHENTICATED))],
) -> None:
    state.accounts.logout(request.state.session_token, request_id=caller.request_id)
    response.delete_cookie(SESSION_COOKIE, path="/")


@router.get("/me", response_model=MePublic)
def me(
    request: Request, state: StateDep, caller: Annotated[Caller, Depends(Permit(AUTHENTICATED))]
) -> MePublic:
    info = request.state.session  # set by Permit for this request
    return MePublic(
        username=caller.username,
        display_name=info.display_name,
        roles=list(caller.roles),
        rank=caller.rank,
        team=caller.team,
        permissions=sorted(state.policy.permissions_of(caller.roles)),
        purposes=sorted(state.policy.purposes_of(caller.roles)),
        purpose=caller.purpose,
        case_reference=caller.case_reference,
        justification=caller.justification,
        data_clock=state.data_clock_label(),
        synthetic=state.synthetic(),
    )


@router.put("/purpose", status_code=204)
def set_purpose(
    body: PurposeUpdate,
    request: Request,
    state: StateDep,
    _: Annotated[Caller, Depends(Permit(AUTHENTICATED))],
) -> None:
    """The purpose of the task in hand, kept with the session (headers still override it)."""
    state.accounts.set_purpose(
        request.state.session_token, body.purpose, body.case_reference, body.justification
    )
