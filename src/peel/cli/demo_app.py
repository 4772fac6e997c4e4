"""The governance part of `peel demo`: demo accounts (development mode only), the demo case,
and a tour of the API as each account, so the audit log shows real use from the start."""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
from starlette.testclient import TestClient

from peel import clock as data_clock
from peel.app.main import create_app
from peel.cli.common import err
from peel.errors import PeelError
from peel.governance import cases, checkpoint, identity
from peel.governance.policy import rank_code
from peel.lake import Lake
from peel.settings import Settings

CASE = "DEMO-OP-1"
# (username, role, index into the city's officers-for-demo.json or None)
ACCOUNTS = (
    ("patrol", "patrol_officer", 0),
    ("investigator", "investigator", 1),
    ("analyst", "analyst", 2),
    ("specialist", "specialist_team", 3),
    ("disclosure", "disclosure_officer", 4),
    ("manager", "manager", 5),
    ("oversight", "oversight_panel", 6),
    ("dpo", "data_protection_officer", 7),
    ("admin", "admin", None),
)
CASE_MEMBERS = ("investigator", "analyst", "specialist", "disclosure")


@dataclass(frozen=True)
class Login:
    username: str
    role: str
    password: str
    totp_secret: str | None
    rank: str | None
    team: str | None


def _passwords(settings: Settings) -> dict[str, str]:
    """Demo passwords, made once per data folder and kept (mode 0600) so a rerun prints the
    same ones."""
    path = settings.data_dir / "demo-logins.json"
    known: dict[str, str] = {}
    if path.exists():
        known = dict(json.loads(path.read_text(encoding="utf-8")))
    changed = False
    for username, _, _ in ACCOUNTS:
        if username not in known:
            known[username] = secrets.token_urlsafe(12)
            changed = True
    if changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(known, indent=1) + "\n", encoding="utf-8")
        tmp.chmod(0o600)
        os.replace(tmp, path)
    return known


def seed_accounts(app: Any, city: Path) -> list[Login]:
    state = app.state.peel
    officers = json.loads((city / "officers-for-demo.json").read_text(encoding="utf-8"))
    passwords = _passwords(state.settings)
    logins = []
    for username, role, idx in ACCOUNTS:
        officer = officers[idx] if idx is not None and idx < len(officers) else None
        rank = (rank_code(officer["rank"]) or officer["rank"]) if officer else None
        team = officer["team"] if officer else None
        secret = state.accounts.seed_user(
            username=username,
            display_name=f"Demo {state.policy.roles[role].label.lower()}",
            roles=[role],
            password=passwords[username],
            rank=rank,
            team=team,
            collar_number=officer["collar"] if officer else None,
            totp=role in state.policy.totp_required,
        )
        logins.append(Login(username, role, passwords[username], secret, rank, team))
    with state.store.begin() as conn:
        creator = identity.caller_for(conn, state.policy, "manager")
        existing = cases.get_case(conn, CASE)
    if existing is None:
        cases.create_case(
            state.store,
            state.policy,
            creator,
            reference=CASE,
            title="Demo: a series of residential burglaries",
        )
    for member in CASE_MEMBERS:
        cases.add_member(state.store, state.policy, creator, reference=CASE, username=member)
    return logins


class Tour:
    """Signs in as each demo account and uses the API as that officer would."""

    def __init__(self, client: TestClient, logins: list[Login]) -> None:
        self.client = client
        self.by_name = {x.username: x for x in logins}
        self.tokens: dict[str, str] = {}
        self.calls = 0

    def token(self, username: str) -> str:
        if username not in self.tokens:
            who = self.by_name[username]
            # A TOTP code works once: a rerun within the same 30 s would replay this step's
            # code, so the next step's (which the server also accepts) is the fallback.
            for ahead in (0, 30):
                code = (
                    pyotp.TOTP(who.totp_secret).at(time.time() + ahead) if who.totp_secret else None
                )
                r = self.client.post(
                    "/api/auth/login",
                    json={"username": username, "password": who.password, "totp": code},
                )
                if r.status_code == 200 or not who.totp_secret:
                    break
            if r.status_code != 200:
                raise PeelError(f"demo login as {username} failed: {r.status_code}")
            self.tokens[username] = r.json()["token"]
            self.client.cookies.clear()
        return self.tokens[username]

    def call(
        self,
        username: str,
        method: str,
        path: str,
        *,
        purpose: str | None = None,
        case: str | None = None,
        expect: int = 200,
        **kw: Any,
    ) -> Any:
        headers = {"Authorization": f"Bearer {self.token(username)}"}
        if purpose:
            headers["Peel-Purpose"] = purpose
        if case:
            headers["Peel-Case-Reference"] = case
        r = self.client.request(method, path, headers=headers, **kw)
        self.calls += 1
        if r.status_code != expect:
            raise PeelError(
                f"demo call {method} {path} as {username}: {r.status_code}, expected {expect}"
            )
        return r.json() if r.content and "json" in r.headers.get("content-type", "") else None


def first_row_id(lake: Lake, table: str) -> str | None:
    engine = lake.engine()
    try:
        rows = engine.query(
            f"SELECT row_id FROM {engine.table_sql(table)} WHERE _dataset = 'demo' LIMIT 1"
        ).to_pylist()
    finally:
        engine.close()
    return str(rows[0]["row_id"]) if rows else None


def tour(app: Any, logins: list[Login]) -> int:
    """Use the API as the demo officers; returns the number of calls made."""
    state = app.state.peel
    lake = Lake(state.settings)
    with TestClient(app) as client:
        t = Tour(client, logins)
        t.call("admin", "GET", "/api/users")
        crime = first_row_id(lake, "crime")
        person = first_row_id(lake, "person")
        if crime:
            t.call(
                "investigator",
                "GET",
                f"/api/records/crime/{crime}",
                purpose="investigation",
                case=CASE,
            )
        if person:
            t.call(
                "analyst",
                "GET",
                f"/api/records/person/{person}",
                purpose="investigation",
                case=CASE,
            )
        old = (data_clock.now() - timedelta(days=150)).isoformat()
        answer = t.call(
            "investigator",
            "POST",
            "/api/anpr/access",
            purpose="investigation",
            case=CASE,
            json={"read_time": old},
        )
        assert answer["allowed"] is False
        grant = t.call(
            "manager",
            "POST",
            "/api/anpr/authorisations",
            expect=201,
            json={
                "requester": "investigator",
                "investigation_reference": CASE,
                "offence_category": "burglary",
                "days": 14,
                "reason": "ANPR reads near the burglary series from last summer",
            },
        )
        t.call(
            "investigator",
            "POST",
            "/api/anpr/access",
            purpose="investigation",
            case=CASE,
            json={"read_time": old, "authorisation_id": grant["id"]},
        )
        t.call(
            "investigator", "GET", "/api/anpr/authorisations", purpose="investigation", case=CASE
        )
        t.call("patrol", "GET", "/api/products", purpose="patrol_check")
        t.call("patrol", "GET", "/api/audit", purpose="patrol_check", expect=403)
        t.call("disclosure", "GET", "/api/cases")
        t.call("oversight", "GET", "/api/audit?limit=20", purpose="oversight")
        t.call("oversight", "POST", "/api/audit/verify", purpose="oversight")
        sample = t.call(
            "oversight",
            "POST",
            "/api/audit/samples",
            purpose="oversight",
            expect=201,
            json={"n": 5},
        )
        if sample["entries"]:
            seq = sample["entries"][0]["seq"]
            t.call(
                "oversight",
                "POST",
                f"/api/audit/samples/{sample['sample_id']}/{seq}",
                purpose="oversight",
                json={"verdict": "appropriate", "note": "demo review"},
            )
        t.call("dpo", "GET", "/api/audit/report?user=investigator", purpose="oversight")
        for username in list(t.tokens):
            t.call(username, "POST", "/api/auth/logout", expect=204)
    with state.store.connect() as conn:
        checkpoint.write_checkpoint(conn, state.settings)
    return t.calls


def print_logins(logins: list[Login]) -> None:
    """Plain lines, never cut short: a password shown with an ellipsis is no use."""
    err.print("Demo logins (development mode only; kept in PEEL_DATA_DIR/demo-logins.json):")
    err.print(f"   {'username':<13} {'role':<24} {'password':<18} TOTP secret")
    for x in logins:
        totp = x.totp_secret or ""
        err.print(
            f"   {x.username:<13} {x.role:<24} {x.password:<18} {totp}",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )
    err.print(
        "   Accounts with a TOTP secret need a code, good once: add the secret to an "
        "authenticator app, or when you sign in run "
        ".venv/bin/python -c \"import pyotp; print(pyotp.TOTP('SECRET').now())\"",
        soft_wrap=True,
        highlight=False,
        markup=False,
    )


def governance_step(city: Path) -> tuple[Any, list[Login], int]:
    app = create_app()
    logins = seed_accounts(app, city)
    calls = tour(app, logins)
    return app, logins, calls


__all__ = ["governance_step", "print_logins"]
