"""Login: one answer for every failure, lockout, the dummy hash for missing accounts, TOTP
where the policy or the account asks for it, service identities never, and one audit entry
per attempt."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, insert, select, update

from helpers.accounts import Clock, user
from peel.errors import AuthError
from peel.governance import audit, history, identity
from peel.governance.access import Caller
from peel.governance.accounts import Accounts
from peel.governance.login import FAILED
from peel.serving import Store
from peel.serving.tables import audit_log, sessions, users

PASSWORD = "correct horse battery staple"
ROOT = Caller(username="root", roles=("admin",))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def setup(store: Store, clock: Clock) -> tuple[Accounts, str]:
    """Root (an admin, so TOTP) and bob (an analyst, password only)."""
    with store.begin() as conn:
        policy = history.ensure_installed(conn).loaded.policy
    acc = Accounts(store, policy, clock=clock)
    _, secret = acc.bootstrap(username="root", display_name="Root", password=PASSWORD)
    acc.add_user(ROOT, username="bob", display_name="Bob", roles=["analyst"], password=PASSWORD)
    return acc, secret


def refused(acc: Accounts, username: str, password: str, code: str | None = None) -> str:
    with pytest.raises(AuthError) as e:
        acc.login(username, password, code)
    return str(e.value)


def logins(store: Store) -> list[dict]:
    with store.connect() as conn:
        rows = conn.execute(
            select(audit_log).where(audit_log.c.operation == "login").order_by(audit_log.c.seq)
        ).mappings()
        return [audit.decode(r) for r in rows]


def test_five_failures_lock_the_account_for_ten_minutes(
    setup: tuple[Accounts, str], clock: Clock
) -> None:
    acc, _ = setup
    for _ in range(5):
        refused(acc, "bob", "wrong password, long enough")
        clock.advance(seconds=5)
    assert user(acc, "bob")["locked"]
    assert refused(acc, "bob", PASSWORD) == FAILED  # locked: the right password is refused too
    clock.advance(minutes=9)
    assert refused(acc, "bob", PASSWORD) == FAILED
    assert refused(acc, "bob", "wrong password, long enough") == FAILED
    assert user(acc, "bob")["failed_logins"] == 0  # not counted while locked
    clock.advance(minutes=1, seconds=30)  # the lock was not extended by the attempts made
    new = acc.login("bob", PASSWORD, None)
    assert new.username == "bob" and user(acc, "bob")["failed_logins"] == 0
    entries = logins(acc.store)[-9:]
    assert [e["outcome"] for e in entries] == ["denied"] * 8 + ["ok"]
    assert [e["query"].get("reason") for e in entries[4:6]] == ["bad_password", "locked"]
    assert entries[4]["query"]["locked_minutes"] == 10


def test_a_success_resets_the_count(setup: tuple[Accounts, str]) -> None:
    acc, _ = setup
    for _ in range(4):
        refused(acc, "bob", "not the password at all")
    acc.login("bob", PASSWORD, None)
    for _ in range(4):
        refused(acc, "bob", "not the password at all")
    assert not user(acc, "bob")["locked"]
    acc.login("bob", PASSWORD, None)


def test_every_failure_gives_the_same_answer(setup: tuple[Accounts, str], clock: Clock) -> None:
    acc, _ = setup
    acc.add_user(ROOT, username="cat", display_name="Cat", roles=["analyst"], password=PASSWORD)
    acc.disable(ROOT, "cat")
    for _ in range(5):
        refused(acc, "bob", "wrong password, long enough")
    answers = {
        "wrong password": refused(acc, "root", "wrong password, long enough"),
        "missing account": refused(acc, "nobody", PASSWORD),
        "disabled": refused(acc, "cat", PASSWORD),
        "locked": refused(acc, "bob", PASSWORD),
        "no code": refused(acc, "root", PASSWORD),
        "wrong code": refused(acc, "root", PASSWORD, "000000"),
        "empty": refused(acc, "", ""),
    }
    assert set(answers.values()) == {FAILED}
    assert PASSWORD not in json.dumps(logins(acc.store))


def test_a_missing_account_is_checked_against_the_dummy_hash(
    setup: tuple[Accounts, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    acc, _ = setup
    checked: list[str] = []
    real = PasswordHasher.verify

    def spy(self: PasswordHasher, hash: str, password: str) -> bool:
        checked.append(hash)
        return real(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", spy)
    refused(acc, "nobody", PASSWORD)
    assert checked == [acc.passwords.dummy_hash]
    refused(acc, "bob", "wrong password, long enough")
    assert checked[-1] != acc.passwords.dummy_hash and checked[-1].startswith("$argon2id$")
    entry = logins(acc.store)[-2]
    assert (entry["object_ids"], entry["outcome"], entry["query"]["reason"]) == (
        ["nobody"],
        "denied",
        "unknown_account",
    )


def test_admins_need_a_totp_code_at_the_wall_clock(
    setup: tuple[Accounts, str], clock: Clock
) -> None:
    acc, secret = setup
    totp = pyotp.TOTP(secret)
    refused(acc, "root", PASSWORD)
    refused(acc, "root", PASSWORD, totp.at(clock() - timedelta(minutes=5)))  # stale code
    new = acc.login("root", PASSWORD, totp.at(clock()))
    assert new.username == "root"
    # A code works once: the same code again, or an earlier step's, is a replay.
    refused(acc, "root", PASSWORD, totp.at(clock()))
    refused(acc, "root", PASSWORD, totp.at(clock() - timedelta(seconds=30)))
    # The next step's code (within the one-step window) is fresh.
    assert acc.login("root", PASSWORD, totp.at(clock() + timedelta(seconds=30))).token != new.token
    entries = logins(acc.store)[-6:]
    assert [e["query"].get("reason") for e in entries[:2]] == ["totp_missing", "totp_wrong"]
    assert entries[2]["query"]["second_factor"] is True
    assert [e["query"].get("reason") for e in entries[3:5]] == ["totp_replayed"] * 2
    assert entries[5]["outcome"] == "ok"
    assert secret not in json.dumps(logins(acc.store))


def test_an_account_with_totp_enrolled_needs_it_whatever_its_roles(
    setup: tuple[Accounts, str], clock: Clock
) -> None:
    acc, _ = setup
    acc.login("bob", PASSWORD, None)
    secret, _ = acc.enrol_totp(ROOT, "bob")
    refused(acc, "bob", PASSWORD)
    acc.login("bob", PASSWORD, pyotp.TOTP(secret).at(clock()))


def test_oversight_panel_needs_totp_even_before_enrolment(setup: tuple[Accounts, str]) -> None:
    acc, _ = setup
    acc.add_user(ROOT, username="ola", display_name="Ola", roles=[], password=PASSWORD)
    acc.add_user(ROOT, username="ada", display_name="Ada", roles=[], password=None)
    acc.grant_role(ROOT, "ada", "admin")
    acc.grant_role(ROOT, "ola", "oversight_panel")
    acc.grant_role(Caller(username="ada", roles=("admin",)), "ola", "oversight_panel")
    assert refused(acc, "ola", PASSWORD, "123456") == FAILED
    assert logins(acc.store)[-1]["query"]["reason"] == "totp_not_enrolled"


def test_service_identities_can_never_log_in(setup: tuple[Accounts, str]) -> None:
    acc, _ = setup
    with acc.store.begin() as conn:
        identity.ensure_service(conn, acc.policy, "peel-ingest")
        # Even with a password hash planted in the row.
        conn.execute(
            update(users)
            .where(users.c.username == "peel-ingest")
            .values(password_hash=acc.passwords.hasher.hash(PASSWORD))
        )
    assert refused(acc, "peel-ingest", PASSWORD) == FAILED
    assert logins(acc.store)[-1]["query"]["reason"] == "service_identity"


def test_verify_credentials_checks_and_audits_without_a_session(
    setup: tuple[Accounts, str], clock: Clock
) -> None:
    acc, secret = setup
    before = len(logins(acc.store))
    caller = acc.verify_credentials("Root", PASSWORD, pyotp.TOTP(secret).at(clock()))
    assert (caller.username, caller.roles, caller.kind) == ("root", ("admin",), "person")
    with pytest.raises(AuthError, match=FAILED):
        acc.verify_credentials("root", PASSWORD, None)
    with acc.store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(sessions)).scalar_one() == 0
    entries = logins(acc.store)[before:]
    assert [(e["outcome"], e["query"].get("session")) for e in entries] == [
        ("ok", False),
        ("denied", None),
    ]


def test_each_attempt_writes_one_entry(setup: tuple[Accounts, str]) -> None:
    acc, _ = setup
    with acc.store.connect() as conn:
        before = audit.count(conn)
    acc.login("bob", PASSWORD, None)
    refused(acc, "bob", "wrong password, long enough")
    refused(acc, "ghost", "wrong password, long enough")
    with acc.store.connect() as conn:
        assert audit.count(conn) == before + 3


def test_a_hash_with_old_parameters_is_upgraded_at_login(setup: tuple[Accounts, str]) -> None:
    acc, _ = setup
    old = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1).hash(PASSWORD)
    with acc.store.begin() as conn:
        conn.execute(update(users).where(users.c.username == "bob").values(password_hash=old))
    acc.login("bob", PASSWORD, None)
    with acc.store.connect() as conn:
        new = conn.execute(select(users.c.password_hash).where(users.c.username == "bob"))
        new_hash = new.scalar_one()
    assert new_hash != old and not acc.passwords.needs_rehash(new_hash)
    assert logins(acc.store)[-1]["query"]["rehashed"] is True


def test_an_account_without_a_password_cannot_log_in(setup: tuple[Accounts, str]) -> None:
    acc, _ = setup
    with acc.store.begin() as conn:
        conn.execute(
            insert(users).values(
                username="nopw",
                display_name="No password",
                kind="person",
                totp_enabled=False,
                disabled=False,
                failed_logins=0,
                created_at=datetime.now(UTC),
                updated_at=datetime.now(UTC),
            )
        )
    assert refused(acc, "nopw", "") == FAILED
    assert refused(acc, "nopw", PASSWORD) == FAILED


def test_a_name_longer_than_any_username_matches_no_account(setup: tuple[Accounts, str]) -> None:
    acc, _ = setup
    long_name = "a" * 64
    acc.add_user(ROOT, username=long_name, display_name="A", roles=["analyst"], password=PASSWORD)
    assert refused(acc, long_name + "b", PASSWORD) == FAILED
    assert logins(acc.store)[-1]["query"]["reason"] == "unknown_account"
    assert acc.login(long_name.upper(), PASSWORD, None).username == long_name
