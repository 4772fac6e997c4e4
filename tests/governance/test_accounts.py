"""Account administration: the admin permission, roles from the policy, the two-admin rule,
no self-grants, one audit entry per admin action, and no secret in the audit or an error."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from helpers.accounts import user
from peel.errors import AccessDenied, PolicyRefusal
from peel.governance import audit, history
from peel.governance.access import Caller
from peel.governance.accounts import AccountError, Accounts
from peel.governance.passwords import MIN_LENGTH, PasswordRefused, Passwords
from peel.serving import Store
from peel.serving.tables import audit_log, role_requests, user_roles, users
from peel.settings import Settings

PASSWORD = "correct horse battery staple"
ROOT = Caller(username="root", roles=("admin",))
ADA = Caller(username="ada", roles=("admin",))


class Clock:
    def __init__(self) -> None:
        self.t = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.t

    def advance(self, **delta: float) -> None:
        self.t += timedelta(**delta)


@pytest.fixture
def accounts(store: Store) -> Accounts:
    with store.begin() as conn:
        policy = history.ensure_installed(conn).loaded.policy
    acc = Accounts(store, policy, clock=Clock())
    acc.bootstrap(username="root", display_name="Root Admin", password=PASSWORD)
    return acc


def audit_rows(store: Store) -> list[dict]:
    with store.connect() as conn:
        return [
            dict(r) for r in conn.execute(select(audit_log).order_by(audit_log.c.seq)).mappings()
        ]


def count(store: Store) -> int:
    with store.connect() as conn:
        return audit.count(conn)


def second_admin(acc: Accounts) -> None:
    """Ada becomes the second admin: the sole admin's explicit grant takes effect at once."""
    acc.add_user(ROOT, username="ada", display_name="Ada", roles=[], password=PASSWORD)
    assert acc.grant_role(ROOT, "ada", "admin") == "granted"


def test_add_user_grants_roles_and_writes_one_audit_entry(accounts: Accounts) -> None:
    before = count(accounts.store)
    doc = accounts.add_user(
        ROOT,
        username="Bob.Smith",
        display_name="Bob Smith",
        roles=["analyst", "investigator"],
        password=PASSWORD,
        rank="DC",
        team="SM-CID",
        collar_number="4101SM",
    )
    assert doc["username"] == "bob.smith"
    assert doc["roles"] == ["analyst", "investigator"] and doc["pending_roles"] == []
    assert "password_hash" not in doc and "totp_secret" not in doc
    rows = audit_rows(accounts.store)
    assert len(rows) == before + 1
    last = audit.decode(rows[-1])
    assert (last["operation"], last["object_type"], last["outcome"]) == ("admin", "user", "ok")
    assert last["object_ids"] == ["bob.smith"] and last["actor"] == "root"
    assert last["query"]["granted"] == ["analyst", "investigator"]
    assert last["query"]["password_set"] is True
    assert accounts.get("bob.smith") == doc


def test_unknown_role_is_refused_naming_it_and_nothing_is_created(accounts: Accounts) -> None:
    before = count(accounts.store)
    with pytest.raises(PolicyRefusal, match="unknown role 'wizard'"):
        accounts.add_user(
            ROOT, username="bob", display_name="Bob", roles=["analyst", "wizard"], password=None
        )
    assert accounts.get("bob") is None
    rows = audit_rows(accounts.store)
    assert len(rows) == before + 1 and rows[-1]["outcome"] == "denied"
    accounts.add_user(ROOT, username="bob", display_name="Bob", roles=[], password=None)
    with pytest.raises(PolicyRefusal, match="unknown role 'peel-ingest'"):
        accounts.grant_role(ROOT, "bob", "peel-ingest")  # a service identity is not a role


def test_an_admin_cannot_grant_themselves_a_role(accounts: Accounts) -> None:
    before = count(accounts.store)
    with pytest.raises(AccessDenied, match="own account"):
        accounts.grant_role(ROOT, "root", "analyst")
    with pytest.raises(AccessDenied, match="own account"):
        accounts.grant_role(Caller(username=" Root", roles=("admin",)), "ROOT", "analyst")
    with pytest.raises(AccessDenied, match="themselves"):
        accounts.add_user(
            ROOT, username="root", display_name="Me", roles=["analyst"], password=None
        )
    assert user(accounts, "root")["roles"] == ["admin"]
    rows = audit_rows(accounts.store)
    assert len(rows) == before + 3
    assert [r["outcome"] for r in rows[-3:]] == ["denied", "denied", "denied"]


def test_who_lacks_users_manage_is_refused_and_audited(accounts: Accounts) -> None:
    analyst = Caller(username="eve", roles=("analyst",))
    before = count(accounts.store)
    with pytest.raises(AccessDenied, match=r"users\.manage"):
        accounts.add_user(
            analyst, username="mal", display_name="Mal", roles=["admin"], password=None
        )
    with pytest.raises(AccessDenied):
        accounts.disable(analyst, "root")
    assert accounts.get("mal") is None and not user(accounts, "root")["disabled"]
    rows = audit_rows(accounts.store)[before:]
    assert [(r["actor"], r["outcome"]) for r in rows] == [("eve", "denied"), ("eve", "denied")]


@pytest.mark.parametrize("role", ["admin", "oversight_panel"])
def test_two_person_roles_need_a_second_admin(accounts: Accounts, role: str) -> None:
    second_admin(accounts)
    doc = accounts.add_user(
        ROOT, username="carol", display_name="Carol", roles=[role], password=None
    )
    assert doc["roles"] == [] and doc["pending_roles"] == [role]
    assert accounts.grant_role(ROOT, "carol", role) == "pending"  # the same admin again
    assert user(accounts, "carol")["roles"] == []
    assert accounts.grant_role(ADA, "carol", role) == "granted"
    assert user(accounts, "carol")["roles"] == [role]
    assert user(accounts, "carol")["pending_roles"] == []
    with accounts.store.connect() as conn:
        grant = conn.execute(select(user_roles).where(user_roles.c.role == role)).all()
        carol = next(g for g in grant if g.granted_by == "root" and g.approved_by == "ada")
        assert carol is not None
        request = conn.execute(select(role_requests)).all()[-1]
    assert (request.status, request.requested_by, request.decided_by) == ("approved", "root", "ada")


def test_a_request_then_a_second_admins_grant_and_the_sole_admin_exception(
    accounts: Accounts,
) -> None:
    accounts.add_user(ROOT, username="dan", display_name="Dan", roles=[], password=None)
    # One admin alone: oversight waits (no second admin yet)...
    assert accounts.grant_role(ROOT, "dan", "oversight_panel") == "pending"
    # ...but the sole admin's explicit grant of admin takes effect, and the audit says so.
    assert accounts.grant_role(ROOT, "dan", "admin") == "granted"
    assert audit.decode(audit_rows(accounts.store)[-1])["query"]["sole_admin"] is True
    accounts.add_user(ROOT, username="erin", display_name="Erin", roles=[], password=None)
    # With two admins the exception is gone.
    assert accounts.grant_role(ROOT, "erin", "admin") == "pending"
    dan = Caller(username="dan", roles=("admin",))
    assert accounts.grant_role(dan, "erin", "admin") == "granted"
    # Dan cannot approve the oversight request for himself.
    with pytest.raises(AccessDenied, match="own account"):
        accounts.grant_role(dan, "dan", "oversight_panel")
    assert user(accounts, "dan")["roles"] == ["admin"]


def test_revoke_role_cancels_a_pending_request(accounts: Accounts) -> None:
    accounts.add_user(
        ROOT,
        username="fay",
        display_name="Fay",
        roles=["analyst", "oversight_panel"],
        password=None,
    )
    accounts.revoke_role(ROOT, "fay", "oversight_panel")
    accounts.revoke_role(ROOT, "fay", "analyst")
    doc = accounts.get("fay")
    assert doc is not None and doc["roles"] == [] and doc["pending_roles"] == []


def test_passwords_have_a_minimum_length_and_never_reach_the_audit(accounts: Accounts) -> None:
    short = "Tr0ub4dor&3"
    assert len(short) < MIN_LENGTH
    with pytest.raises(PasswordRefused, match=f"at least {MIN_LENGTH} characters") as e:
        accounts.add_user(ROOT, username="gus", display_name="Gus", roles=[], password=short)
    assert short not in str(e.value)
    accounts.add_user(ROOT, username="gus", display_name="Gus", roles=[], password=None)
    with pytest.raises(PasswordRefused):
        accounts.set_password(ROOT, "gus", short)
    accounts.set_password(ROOT, "gus", "a much longer passphrase")
    secret, uri = accounts.enrol_totp(ROOT, "gus")
    assert uri.startswith("otpauth://totp/Peel:gus?") and f"secret={secret}" in uri
    with accounts.store.connect() as conn:
        stored = conn.execute(select(users.c.password_hash).where(users.c.username == "gus"))
        assert stored.scalar_one().startswith("$argon2id$")
    text = json.dumps(audit_rows(accounts.store))
    for secret_text in (short, "a much longer passphrase", PASSWORD, secret, "$argon2"):
        assert secret_text not in text


def test_every_admin_action_writes_exactly_one_entry(accounts: Accounts) -> None:
    actions = [
        lambda: accounts.add_user(
            ROOT, username="hal", display_name="Hal", roles=[], password=None
        ),
        lambda: accounts.grant_role(ROOT, "hal", "analyst"),
        lambda: accounts.grant_role(ROOT, "hal", "oversight_panel"),
        lambda: accounts.revoke_role(ROOT, "hal", "analyst"),
        lambda: accounts.set_password(ROOT, "hal", PASSWORD),
        lambda: accounts.enrol_totp(ROOT, "hal"),
        lambda: accounts.disable(ROOT, "hal"),
        lambda: accounts.enable(ROOT, "hal"),
    ]
    for action in actions:
        before = count(accounts.store)
        action()
        rows = audit_rows(accounts.store)
        assert len(rows) == before + 1
        assert (rows[-1]["operation"], rows[-1]["object_ids"]) == ("admin", '["hal"]')
    before = count(accounts.store)
    with pytest.raises(AccountError, match="no account named 'nobody'"):
        accounts.disable(ROOT, "nobody")
    assert count(accounts.store) == before + 1


def test_bootstrap_only_while_no_admin_exists_even_a_disabled_one(accounts: Accounts) -> None:
    with pytest.raises(AccessDenied, match="exists already"):
        accounts.bootstrap(username="mallory", display_name="M", password=PASSWORD)
    second_admin(accounts)
    accounts.disable(ADA, "root")
    accounts.disable(ROOT, "ada")
    with pytest.raises(AccessDenied, match="exists already"):
        accounts.bootstrap(username="mallory", display_name="M", password=PASSWORD)
    assert accounts.get("mallory") is None
    rows = audit_rows(accounts.store)
    assert (rows[0]["actor"], rows[0]["object_ids"]) == ("system:bootstrap", '["root"]')


def test_seed_user_is_idempotent_and_development_only(accounts: Accounts) -> None:
    first = accounts.seed_user(
        username="pc.adams",
        display_name="PC Adams",
        roles=["patrol_officer"],
        password=PASSWORD,
        rank="PC",
        team="SM-RESP-A",
        totp=True,
    )
    token = accounts.login("pc.adams", PASSWORD, _code(first, accounts)).token
    again = accounts.seed_user(
        username="pc.adams",
        display_name="PC Adams",
        roles=["patrol_officer"],
        password=PASSWORD,
        rank="PC",
        team="SM-RESP-A",
        totp=True,
    )
    assert first is not None and again == first
    assert accounts.session(token) is not None  # nothing changed: the session lives on
    assert (
        accounts.seed_user(
            username="pc.adams",
            display_name="PC Adams",
            roles=["analyst"],
            password=PASSWORD,
            totp=False,
        )
        is None
    )
    assert user(accounts, "pc.adams")["roles"] == ["analyst"]
    assert accounts.session(token) is None
    assert audit_rows(accounts.store)[-1]["actor"] == "system:demo"
    production = Store(accounts.store.settings.model_copy(update={"env": "production"}))
    try:
        prod = Accounts(production, accounts.policy, clock=accounts.clock)
        with pytest.raises(AccessDenied, match="PEEL_ENV=development"):
            prod.seed_user(
                username="pc.baker", display_name="B", roles=[], password=PASSWORD, totp=False
            )
    finally:
        production.dispose()
    assert accounts.get("pc.baker") is None


def _code(secret: str | None, accounts: Accounts) -> str:
    import pyotp

    assert secret is not None
    return pyotp.TOTP(secret).at(accounts.clock())


def test_cheap_hashing_only_in_the_test_environment() -> None:
    cheap = Passwords(Settings(env="test")).hasher
    assert (cheap.time_cost, cheap.memory_cost, cheap.parallelism) == (1, 1024, 1)
    default = PasswordHasher()
    for env in ("production", "development"):
        h = Passwords(Settings(env=env)).hasher
        assert (h.time_cost, h.memory_cost, h.parallelism) == (
            default.time_cost,
            default.memory_cost,
            default.parallelism,
        )
        assert h.memory_cost >= 64 * 1024


def test_usernames_and_service_names(accounts: Accounts) -> None:
    with pytest.raises(AccountError, match="lower-case letters"):
        accounts.add_user(ROOT, username="bad name", display_name="B", roles=[], password=None)
    with pytest.raises(AccountError, match="reserved for a service identity"):
        accounts.add_user(ROOT, username="peel-ingest", display_name="B", roles=[], password=None)
    with pytest.raises(AccountError, match="already exists"):
        accounts.add_user(ROOT, username="ROOT2", display_name="x", roles=[], password=None)
        accounts.add_user(ROOT, username="root2", display_name="x", roles=[], password=None)
    listed = accounts.list_users()
    assert [u["username"] for u in listed] == ["root", "root2"]
    assert all("password_hash" not in u and "totp_secret" not in u for u in listed)
