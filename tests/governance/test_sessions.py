"""Sessions: hashed tokens, a new one per login, idle and absolute expiry on the wall clock,
revocation at once on logout, disable, role and credential changes, and the purpose."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select, update

from helpers.accounts import Clock
from peel.errors import AccessDenied, AuthError
from peel.governance import audit, history
from peel.governance.access import Caller, check
from peel.governance.accounts import Accounts
from peel.serving import Store
from peel.serving.tables import audit_log, sessions, users

PASSWORD = "correct horse battery staple"
ROOT = Caller(username="root", roles=("admin",))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def acc(store: Store, clock: Clock) -> Accounts:
    with store.begin() as conn:
        policy = history.ensure_installed(conn).loaded.policy
    a = Accounts(store, policy, clock=clock)
    a.bootstrap(username="root", display_name="Root", password=PASSWORD)
    a.add_user(
        ROOT,
        username="bob",
        display_name="Bob",
        roles=["investigator"],
        password=PASSWORD,
        rank="DC",
        team="SM-CID",
    )
    return a


def test_only_a_hash_of_the_token_is_stored_and_each_login_has_a_new_one(acc: Accounts) -> None:
    one = acc.login("bob", PASSWORD, None)
    two = acc.login("bob", PASSWORD, None)
    assert one.token != two.token and one.csrf_token != two.csrf_token
    with acc.store.connect() as conn:
        stored = {r[0] for r in conn.execute(select(sessions.c.token_hash))}
    assert stored == {hashlib.sha256(t.encode()).hexdigest() for t in (one.token, two.token)}
    info = acc.session(one.token)
    assert info is not None
    assert (info.username, info.roles, info.rank, info.team, info.display_name) == (
        "bob",
        ("investigator",),
        "DC",
        "SM-CID",
        "Bob",
    )
    assert info.csrf_token == one.csrf_token and info.expires_at == one.expires_at
    assert acc.session("not-a-token") is None and acc.session("x" * 5000) is None
    assert acc.session(hashlib.sha256(one.token.encode()).hexdigest()) is None


def test_idle_for_more_than_thirty_minutes_ends_the_session(acc: Accounts, clock: Clock) -> None:
    token = acc.login("bob", PASSWORD, None).token
    clock.advance(minutes=29)
    assert acc.session(token) is not None  # touched: the idle timer restarts
    clock.advance(minutes=29)
    assert acc.session(token) is not None
    clock.advance(minutes=30, seconds=1)
    assert acc.session(token) is None
    clock.advance(seconds=-10)  # ended for good: the row is gone
    assert acc.session(token) is None


def test_twelve_hours_end_the_session_however_active(acc: Accounts, clock: Clock) -> None:
    new = acc.login("bob", PASSWORD, None)
    assert new.expires_at == clock() + timedelta(hours=12)
    for _ in range(11 * 3 + 2):  # a request every 20 minutes until 11h40
        clock.advance(minutes=20)
        assert acc.session(new.token) is not None
    clock.advance(minutes=19, seconds=59)
    assert acc.session(new.token) is not None
    clock.advance(seconds=1)
    assert acc.session(new.token) is None


def test_logout_ends_the_session_and_is_audited(acc: Accounts) -> None:
    keep = acc.login("bob", PASSWORD, None).token
    token = acc.login("bob", PASSWORD, None).token
    acc.logout(token, request_id="req-1")
    assert acc.session(token) is None and acc.session(keep) is not None
    with acc.store.connect() as conn:
        row = conn.execute(select(audit_log).order_by(audit_log.c.seq.desc()).limit(1)).first()
        n = audit.count(conn)
    assert row is not None
    assert (row.operation, row.actor, row.object_ids, row.request_id) == (
        "logout",
        "bob",
        '["bob"]',
        "req-1",
    )
    acc.logout(token)  # unknown now: nothing happens, nothing is audited
    with acc.store.connect() as conn:
        assert audit.count(conn) == n


@pytest.mark.parametrize(
    "change",
    [
        lambda a: a.disable(ROOT, "bob"),
        lambda a: a.grant_role(ROOT, "bob", "analyst"),
        lambda a: a.revoke_role(ROOT, "bob", "investigator"),
        lambda a: a.set_password(ROOT, "bob", "another long passphrase"),
        lambda a: a.enrol_totp(ROOT, "bob"),
    ],
    ids=["disable", "grant", "revoke", "password", "totp"],
)
def test_account_changes_end_every_session_at_once(
    acc: Accounts, change: Callable[[Accounts], object]
) -> None:
    tokens = [acc.login("bob", PASSWORD, None).token for _ in range(2)]
    other = acc.login("root", PASSWORD, _root_code(acc)).token
    change(acc)
    assert [acc.session(t) for t in tokens] == [None, None]
    assert acc.session(other) is not None


def _root_code(acc: Accounts) -> str:
    with acc.store.connect() as conn:
        secret = conn.execute(select(users.c.totp_secret).where(users.c.username == "root"))
        return pyotp.TOTP(secret.scalar_one()).at(acc.clock())


def test_a_disabled_account_has_no_session_even_if_a_row_survived(acc: Accounts) -> None:
    token = acc.login("bob", PASSWORD, None).token
    with acc.store.begin() as conn:
        conn.execute(update(users).where(users.c.username == "bob").values(disabled=True))
    assert acc.session(token) is None


def test_set_purpose_checks_the_policy_with_clear_messages(acc: Accounts) -> None:
    token = acc.login("bob", PASSWORD, None).token
    with pytest.raises(AccessDenied, match="'oversight' is not one your roles may use"):
        acc.set_purpose(token, "oversight", None, None)
    with pytest.raises(AccessDenied, match="unknown purpose 'fishing'"):
        acc.set_purpose(token, "fishing", None, None)
    with pytest.raises(AccessDenied, match="'investigation' needs a case reference"):
        acc.set_purpose(token, "investigation", None, "checking a lead")
    acc.set_purpose(token, "investigation", "OP-LANTERN", "burglary series")
    info = acc.session(token)
    assert info is not None
    assert (info.purpose, info.case_reference, info.justification) == (
        "investigation",
        "OP-LANTERN",
        "burglary series",
    )
    caller = acc.caller(info, request_id="r1")
    assert (caller.username, caller.purpose, caller.case_reference, caller.request_id) == (
        "bob",
        "investigation",
        "OP-LANTERN",
        "r1",
    )
    check(acc.policy, caller, "person.profile")  # the policy accepts the purpose it carries
    acc.set_purpose(token, None, None, None)
    info = acc.session(token)
    assert info is not None and (info.purpose, info.case_reference) == (None, None)
    with pytest.raises(AuthError, match="sign in again"):
        acc.set_purpose("no-such-token", "safeguarding", None, None)


def test_request_headers_override_the_sessions_purpose(acc: Accounts) -> None:
    token = acc.login("bob", PASSWORD, None).token
    acc.set_purpose(token, "investigation", "OP-LANTERN", "burglary series")
    info = acc.session(token)
    assert info is not None
    header = acc.caller(info, purpose="safeguarding")
    assert (header.purpose, header.case_reference, header.justification) == (
        "safeguarding",
        None,
        None,
    )
    other_case = acc.caller(info, case_reference="OP-OTHER")
    assert (other_case.purpose, other_case.case_reference) == ("investigation", "OP-OTHER")
    assert other_case.justification == "burglary series"
