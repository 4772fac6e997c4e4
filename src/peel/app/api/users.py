"""Accounts, for admins: who exists, add, disable, grant and revoke roles (two admins for
admin and oversight). Admins read no personal data and cannot touch the audit."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from peel.app.deps import Permit, StateDep
from peel.governance.access import Caller

router = APIRouter(prefix="/api/users", tags=["users"])
Admin = Annotated[Caller, Depends(Permit("users.manage"))]


class UserCreate(BaseModel):
    username: str = Field(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    display_name: str = Field(min_length=1, max_length=200)
    roles: list[str] = Field(min_length=1, max_length=9)
    password: str = Field(min_length=12, max_length=1024)
    rank: str | None = Field(default=None, max_length=64)
    team: str | None = Field(default=None, max_length=64)
    collar_number: str | None = Field(default=None, max_length=32)


class RoleChange(BaseModel):
    action: Literal["add", "remove"]
    role: str = Field(min_length=1, max_length=64)


@router.get("")
def list_users(state: StateDep, _: Admin) -> list[dict[str, Any]]:
    return state.accounts.list_users()


@router.post("", status_code=201)
def add_user(body: UserCreate, state: StateDep, caller: Admin) -> dict[str, Any]:
    return state.accounts.add_user(
        caller,
        username=body.username,
        display_name=body.display_name,
        roles=body.roles,
        password=body.password,
        rank=body.rank,
        team=body.team,
        collar_number=body.collar_number,
    )


@router.post("/{username}/disable", status_code=204)
def disable(username: str, state: StateDep, caller: Admin) -> None:
    state.accounts.disable(caller, username[:64])


@router.post("/{username}/roles")
def change_role(username: str, body: RoleChange, state: StateDep, caller: Admin) -> dict[str, str]:
    if body.action == "add":
        return {"result": state.accounts.grant_role(caller, username[:64], body.role)}
    state.accounts.revoke_role(caller, username[:64], body.role)
    return {"result": "revoked"}
