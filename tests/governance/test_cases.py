"""Cases and members: cases.manage to create and add, one audit entry each, no joining a case
by oneself, and the membership questions the app asks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from peel.errors import AccessDenied
from peel.governance import audit, history
from peel.governance.access import Caller
from peel.governance.accounts import Accounts
from peel.governance.cases import (
    CaseError,
    add_member,
    cases_of,
    create_case,
    is_member,
    members,
    remove_member,
)
from peel.governance.policy import Policy
from peel.serving import Store
from peel.serving.tables import audit_log

PASSWORD = "correct horse battery staple"
ROOT = Caller(username="root", roles=("admin",))
IVY = Caller(username="ivy", roles=("investigator",))
AL = Caller(username="al", roles=("analyst",))


def clock() -> datetime:
    return datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def policy(store: Store) -> Policy:
    with store.begin() as conn:
        p = history.ensure_installed(conn).loaded.policy
    acc = Accounts(store, p, clock=clock)
    acc.bootstrap(username="root", display_name="Root", password=PASSWORD)
    for name, role in (("ivy", "investigator"), ("al", "analyst"), ("pat", "patrol_officer")):
        acc.add_user(ROOT, username=name, display_name=name.title(), roles=[role], password=None)
    return p


def last_entry(store: Store) -> dict:
    with store.connect() as conn:
        row = conn.execute(select(audit_log).order_by(audit_log.c.seq.desc()).limit(1)).mappings()
        return audit.decode(row.one())


def entries(store: Store) -> int:
    with store.connect() as conn:
        return audit.count(conn)


def test_an_investigator_opens_a_case_and_becomes_a_member(store: Store, policy: Policy) -> None:
    before = entries(store)
    doc = create_case(
        store, policy, IVY, reference="OP-LANTERN", title="Burglary series", clock=clock
    )
    assert (doc["reference"], doc["status"], doc["created_by"], doc["members"]) == (
        "OP-LANTERN",
        "open",
        "ivy",
        ["ivy"],
    )
    assert entries(store) == before + 1
    e = last_entry(store)
    assert (e["operation"], e["object_type"], e["object_ids"], e["outcome"]) == (
        "admin",
        "case",
        ["OP-LANTERN"],
        "ok",
    )
    with store.connect() as conn:
        assert members(conn, "OP-LANTERN") == ["ivy"]
        assert [c["reference"] for c in cases_of(conn, "ivy")] == ["OP-LANTERN"]
        assert is_member(conn, "ivy", "OP-LANTERN") and not is_member(conn, "al", "OP-LANTERN")


def test_an_admin_opens_a_case_without_joining_it(store: Store, policy: Policy) -> None:
    doc = create_case(store, policy, ROOT, reference="OP-1", title="One", clock=clock)
    assert doc["members"] == []
    with store.connect() as conn:
        assert members(conn, "OP-1") == []


def test_without_cases_manage_nothing_is_created_and_the_refusal_is_audited(
    store: Store, policy: Policy
) -> None:
    before = entries(store)
    with pytest.raises(AccessDenied, match=r"cases\.manage"):
        create_case(store, policy, AL, reference="OP-2", title="Two", clock=clock)
    create_case(store, policy, IVY, reference="OP-2", title="Two", clock=clock)
    with pytest.raises(AccessDenied, match=r"cases\.manage"):
        add_member(store, policy, AL, reference="OP-2", username="pat", clock=clock)
    assert entries(store) == before + 3
    e = last_entry(store)
    assert (e["actor"], e["outcome"], e["object_ids"]) == ("al", "denied", ["OP-2", "pat"])
    with store.connect() as conn:
        assert members(conn, "OP-2") == ["ivy"]


def test_members_are_added_by_someone_else(store: Store, policy: Policy) -> None:
    create_case(store, policy, IVY, reference="OP-3", title="Three", clock=clock)
    before = entries(store)
    add_member(store, policy, IVY, reference="OP-3", username="al", clock=clock)
    add_member(store, policy, IVY, reference="OP-3", username="al", clock=clock)  # no-op
    assert entries(store) == before + 2
    assert last_entry(store)["query"] == {"action": "add_member", "added": False}
    with pytest.raises(AccessDenied, match="adds themselves"):
        add_member(store, policy, ROOT, reference="OP-3", username="root", clock=clock)
    with pytest.raises(CaseError, match="no case with reference 'OP-404'"):
        add_member(store, policy, IVY, reference="OP-404", username="al", clock=clock)
    with pytest.raises(CaseError, match="no account named 'ghost'"):
        add_member(store, policy, IVY, reference="OP-3", username="ghost", clock=clock)
    with store.connect() as conn:
        assert members(conn, "OP-3") == ["al", "ivy"]
        assert is_member(conn, "AL", "OP-3")
    remove_member(store, policy, IVY, reference="OP-3", username="al", clock=clock)
    with store.connect() as conn:
        assert members(conn, "OP-3") == ["ivy"] and cases_of(conn, "al") == []


def test_references_are_checked_and_unique(store: Store, policy: Policy) -> None:
    with pytest.raises(CaseError, match="case reference"):
        create_case(store, policy, IVY, reference="OP 1; DROP", title="x", clock=clock)
    create_case(store, policy, IVY, reference="OP-5", title="Five", clock=clock)
    with pytest.raises(CaseError, match="exists already"):
        create_case(store, policy, IVY, reference="OP-5", title="Again", clock=clock)


def test_a_disabled_member_is_not_a_member(store: Store, policy: Policy) -> None:
    create_case(store, policy, IVY, reference="OP-6", title="Six", clock=clock)
    add_member(store, policy, IVY, reference="OP-6", username="pat", clock=clock)
    Accounts(store, policy, clock=clock).disable(ROOT, "pat")
    with store.connect() as conn:
        assert not is_member(conn, "pat", "OP-6")
