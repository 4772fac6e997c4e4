"""`peel users ...`: the first admin, admin actions proved with password and TOTP code,
exit codes 0 and 2, one JSON document with --json, and no password in any output."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from peel.cli.main import app
from peel.governance import admin, audit
from peel.serving import Store
from peel.serving.tables import audit_log

ROOT_PW = "root's long passphrase"
ADA_PW = "ada's long passphrase"
ROOT = ["--as", "root"]
runner = CliRunner()


def invoke(args: list[str], **env: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["users", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


class StepClock:
    """The wall clock the CLI's sign-ins read, moved on a TOTP step (30 s) for every code
    handed out: a code works once, and these tests sign in many times a minute."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def code(self, secret: str) -> str:
        self.now += timedelta(seconds=30)
        return pyotp.TOTP(secret).at(self.now)


@pytest.fixture(autouse=True)
def step_clock(monkeypatch: pytest.MonkeyPatch) -> StepClock:
    clock = StepClock()
    monkeypatch.setattr(admin, "wall_clock", clock)
    return clock


def fresh_code(secret: str) -> str:
    return CLOCK[0].code(secret)


CLOCK: list[StepClock] = []


@pytest.fixture(autouse=True)
def _register(step_clock: StepClock) -> None:
    CLOCK[:] = [step_clock]


def as_root(secret: str) -> dict[str, str]:
    return {"PEEL_AS_PASSWORD": ROOT_PW, "PEEL_AS_TOTP": fresh_code(secret)}


@pytest.fixture
def root_secret(store: Store) -> str:
    """Bootstrap root through the CLI; returns its TOTP secret."""
    code, out, _ = invoke(
        ["add", "root", "--name", "Root Admin", "--json"], PEEL_NEW_PASSWORD=ROOT_PW
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["roles"] == ["admin"] and doc["totp_uri"].startswith("otpauth://totp/Peel:root")
    return str(doc["totp_secret"])


def test_the_first_add_makes_the_admin_and_prints_the_secret_once(store: Store) -> None:
    code, out, _ = invoke(["add", "root", "--name", "Root Admin"], PEEL_NEW_PASSWORD=ROOT_PW)
    assert code == 0
    assert "added root: roles admin" in out and "TOTP secret" in out and "otpauth://" in out
    code, _, err = invoke(["add", "eve", "--name", "Eve"], PEEL_NEW_PASSWORD=ROOT_PW)
    assert code == 2 and "--as ADMIN" in err
    code, out, _ = invoke(["list", "--json"])
    assert [u["username"] for u in json.loads(out)["users"]] == ["root"]
    assert ROOT_PW not in out and "totp_secret" not in out


def test_the_first_account_cannot_be_anything_but_admin(store: Store) -> None:
    code, _, err = invoke(
        ["add", "root", "--name", "Root", "--role", "analyst"], PEEL_NEW_PASSWORD=ROOT_PW
    )
    assert code == 2 and "first account is the admin" in err


def test_admin_actions_through_the_cli(store: Store, root_secret: str) -> None:
    code, out, err = invoke(
        [
            "add",
            "ada",
            "--name",
            "Ada",
            "--role",
            "analyst",
            "--role",
            "admin",
            "--rank",
            "DS",
            *ROOT,
        ],
        PEEL_NEW_PASSWORD=ADA_PW,
        **as_root(root_secret),
    )
    assert code == 0, err
    assert "added ada: roles analyst" in out and "pending: admin" in out
    code, out, _ = invoke(
        ["role", "ada", "--add", "admin", "--json", *ROOT], **as_root(root_secret)
    )
    assert code == 0 and json.loads(out) == {
        "username": "ada",
        "role": "admin",
        "result": "granted",
    }
    code, out, _ = invoke(["role", "ada", "--remove", "analyst", *ROOT], **as_root(root_secret))
    assert (code, out.strip()) == (0, "revoked")
    code, out, _ = invoke(["totp", "ada", "--json", *ROOT], **as_root(root_secret))
    ada_secret = json.loads(out)["totp_secret"]
    assert code == 0 and json.loads(out)["totp_uri"].startswith("otpauth://totp/Peel:ada")
    # Two admins now: oversight needs both.
    code, _, _ = invoke(
        ["add", "olly", "--name", "Olly", *ROOT], PEEL_NEW_PASSWORD=ADA_PW, **as_root(root_secret)
    )
    assert code == 0
    code, out, _ = invoke(
        ["role", "olly", "--add", "oversight_panel", *ROOT], **as_root(root_secret)
    )
    assert out.strip() == "pending"

    def ada() -> dict[str, str]:
        return {"PEEL_AS_PASSWORD": ADA_PW, "PEEL_AS_TOTP": fresh_code(ada_secret)}

    code, out, _ = invoke(["role", "olly", "--add", "oversight_panel", "--as", "ada"], **ada())
    assert (code, out.strip()) == (0, "granted")
    code, out, _ = invoke(["disable", "olly", "--as", "ada"], **ada())
    assert (code, out.strip()) == (0, "disabled olly")
    code, out, _ = invoke(
        ["password", "olly", "--as", "ada"], PEEL_NEW_PASSWORD="olly's new passphrase", **ada()
    )
    assert code == 0
    users = {u["username"]: u for u in json.loads(invoke(["list", "--json"])[1])["users"]}
    assert users["ada"]["roles"] == ["admin"] and users["ada"]["rank"] == "DS"
    assert users["olly"]["roles"] == ["oversight_panel"] and users["olly"]["disabled"]
    with store.connect() as conn:
        rows = conn.execute(select(audit_log)).mappings().all()
    text = json.dumps([dict(r) for r in rows])
    for secret in (ROOT_PW, ADA_PW, "olly's new passphrase", root_secret, ada_secret):
        assert secret not in text
    # Each command: one login entry for the admin, one admin entry for the action.
    ops = [r["operation"] for r in rows]
    assert ops.count("login") == 9 and ops.count("admin") == 10  # bootstrap + 9 actions


def test_a_wrong_admin_password_or_code_exits_2_with_the_one_message(
    store: Store, root_secret: str
) -> None:
    for env in (
        {
            "PEEL_AS_PASSWORD": "not root's passphrase",
            "PEEL_AS_TOTP": fresh_code(root_secret),
        },
        {"PEEL_AS_PASSWORD": ROOT_PW, "PEEL_AS_TOTP": ""},
    ):
        code, out, err = invoke(
            ["add", "bob", "--name", "Bob", "--role", "analyst", *ROOT],
            PEEL_NEW_PASSWORD=ADA_PW,
            **env,
        )
        assert code == 2 and out == ""
        assert "invalid username, password or code" in err
        assert env["PEEL_AS_PASSWORD"] not in err + out
    with store.connect() as conn:
        last = conn.execute(select(audit_log).order_by(audit_log.c.seq.desc()).limit(1)).mappings()
        entry = audit.decode(last.one())
    assert (entry["operation"], entry["outcome"], entry["object_ids"]) == (
        "login",
        "denied",
        ["root"],
    )


def test_refusals_exit_2(store: Store, root_secret: str) -> None:
    code, _, err = invoke(
        ["add", "bob", "--name", "Bob", *ROOT], PEEL_NEW_PASSWORD="short", **as_root(root_secret)
    )
    assert code == 2 and "at least 12 characters" in err and "short" not in err
    code, _, err = invoke(["role", "bob", "--add", "wizard", *ROOT], **as_root(root_secret))
    assert code == 2
    code, _, err = invoke(["role", "root", "--add", "analyst", *ROOT], **as_root(root_secret))
    assert code == 2 and "own account" in err
    code, _, err = invoke(
        ["role", "root", "--add", "analyst", "--remove", "admin", *ROOT], **as_root(root_secret)
    )
    assert code == 2 and "exactly one of --add ROLE or --remove ROLE" in err
    code, _, err = invoke(
        ["add", "bob", "--name", "Bob", "--role", "wizard", *ROOT],
        PEEL_NEW_PASSWORD=ADA_PW,
        **as_root(root_secret),
    )
    assert code == 2 and "unknown role 'wizard'" in err
    code, _, err = invoke(["disable", "nobody", *ROOT], **as_root(root_secret))
    assert code == 2 and "no account named 'nobody'" in err


def test_passwords_are_asked_for_hidden_when_not_in_the_environment(store: Store) -> None:
    result = runner.invoke(
        app, ["users", "add", "root", "--name", "Root", "--json"], input=f"{ROOT_PW}\n{ROOT_PW}\n"
    )
    assert result.exit_code == 0
    secret = json.loads(result.stdout)["totp_secret"]
    assert "New password" in result.stderr and ROOT_PW not in result.stderr + result.stdout
    answers = f"{ROOT_PW}\n{fresh_code(secret)}\n{ADA_PW}\n{ADA_PW}\n"
    result = runner.invoke(
        app, ["users", "add", "ada", "--name", "Ada", "--role", "analyst", *ROOT], input=answers
    )
    assert result.exit_code == 0, result.stderr
    assert "Password for root" in result.stderr and ADA_PW not in result.stderr + result.stdout
