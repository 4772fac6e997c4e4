"""For the app tests: an app on a fresh serving store (SQLite and PostgreSQL), with one
account per role of the shipped policy, an injected wall clock, and sign-in helpers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from peel.app.main import create_app
from peel.governance.policy import Policy
from peel.serving import Store

PASSWORD = "correct horse battery staple"
PURPOSE_OF = {
    "patrol_officer": "patrol_check",
    "investigator": "investigation",
    "analyst": "investigation",
    "specialist_team": "investigation",
    "disclosure_officer": "disclosure",
    "manager": "performance",
    "oversight_panel": "oversight",
    "data_protection_officer": "oversight",
    "admin": None,
}
CASE = "OP-TEST-1"


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@dataclass
class AppEnv:
    app: FastAPI
    client: TestClient
    store: Store
    policy: Policy
    clock: Clock
    secrets: dict[str, str | None] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def username(self, role: str) -> str:
        return role.replace("_", "-")

    def code(self, role: str) -> str | None:
        secret = self.secrets.get(role)
        return pyotp.TOTP(secret).at(self.clock()) if secret else None

    def login(self, role: str) -> str:
        """A bearer token for the role's account (cached)."""
        if role not in self.tokens:
            r = self.client.post(
                "/api/auth/login",
                json={
                    "username": self.username(role),
                    "password": PASSWORD,
                    "totp": self.code(role),
                },
            )
            assert r.status_code == 200, r.text
            self.tokens[role] = r.json()["token"]
            self.client.cookies.clear()
        return self.tokens[role]

    def headers(self, role: str, *, purpose: bool = True) -> dict[str, str]:
        h = {"Authorization": f"Bearer {self.login(role)}"}
        p = PURPOSE_OF[role]
        if purpose and p:
            h["Peel-Purpose"] = p
            if self.policy.purposes[p].requires_case_reference:
                h["Peel-Case-Reference"] = CASE
        return h


@pytest.fixture
def app_env(store: Store) -> Iterator[AppEnv]:
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    app = create_app(store.settings, clock=clock)
    state = app.state.peel
    env = AppEnv(app=app, client=TestClient(app), store=store, policy=state.policy, clock=clock)
    ranks = {"manager": "superintendent", "oversight_panel": "chief-inspector"}
    for role in state.policy.roles:
        env.secrets[role] = state.accounts.seed_user(
            username=env.username(role),
            display_name=f"Test {role}",
            roles=[role],
            password=PASSWORD,
            rank=ranks.get(role, "constable"),
            team="T1",
            collar_number=None,
            totp=role in state.policy.totp_required,
        )
    with env.client:
        yield env
