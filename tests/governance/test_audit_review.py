"""Oversight reads of the audit: reports by user and by subject within a time window, random
samples for review and verdicts on them. Reading the audit is itself audited, and roles
without audit.read or audit.review are refused (and that refusal is audited too)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from helpers.audit_chain import OVERSIGHT, T0, count, default_policy, last_entry
from peel.errors import AccessDenied
from peel.governance import audit, auditlog
from peel.governance.access import Caller
from peel.governance.verify import verify
from peel.serving import Store
from peel.serving.tables import audit_reviews

POLICY = default_policy()
ADMIN = Caller("root", ("admin",), purpose="oversight")
DPO = Caller("dora", ("data_protection_officer",), purpose="oversight")
FIXED = datetime(2026, 6, 1, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def seed_log(store: Store) -> None:
    """alice consults p1 and p2 (minute 1), bob consults p2 (minute 2), alice discloses p3
    (minute 3), carol consults p1 (minute 4)."""
    entries = [
        ("alice", "consultation", ["p1", "p2"]),
        ("bob", "consultation", ["p2"]),
        ("alice", "disclosure", ["p3"]),
        ("carol", "consultation", ["p1"]),
    ]
    for i, (actor, operation, ids) in enumerate(entries, start=1):
        with store.begin() as conn:
            audit.append(
                conn,
                audit.AuditEvent(actor, "investigator", operation, "person", ids),
                clock=lambda i=i: at(i),
            )


def seqs(result: auditlog.AuditReport) -> list[int]:
    return [e["seq"] for e in result.entries]


def test_report_by_user_and_by_subject(store: Store) -> None:
    seed_log(store)
    by_user = auditlog.report(store, POLICY, OVERSIGHT, user="alice")
    assert seqs(by_user) == [1, 3] and not by_user.truncated
    assert by_user.entries[1]["operation"] == "disclosure"
    assert by_user.entries[0]["object_ids"] == ["p1", "p2"]  # decoded
    by_subject = auditlog.report(store, POLICY, OVERSIGHT, subject="p2")
    assert [e["actor"] for e in by_subject.entries] == ["alice", "bob"]
    both = auditlog.report(store, POLICY, OVERSIGHT, user="carol", subject="p1")
    assert seqs(both) == [4]
    assert auditlog.report(store, POLICY, OVERSIGHT, subject="nobody").entries == []


def test_report_time_window_is_from_inclusive_to_exclusive(store: Store) -> None:
    seed_log(store)
    result = auditlog.report(store, POLICY, OVERSIGHT, subject="p1", from_=at(1), to=at(4))
    assert seqs(result) == [1]
    result = auditlog.report(store, POLICY, OVERSIGHT, subject="p1", from_=at(2))
    assert seqs(result) == [4]
    with pytest.raises(auditlog.OversightRequestError, match="empty"):
        auditlog.report(store, POLICY, OVERSIGHT, user="alice", from_=at(3), to=at(3))
    with pytest.raises(auditlog.OversightRequestError, match="time zone"):
        auditlog.report(store, POLICY, OVERSIGHT, user="alice", from_=datetime(2026, 1, 1))


def test_report_pages_with_a_limit(store: Store) -> None:
    seed_log(store)
    first = auditlog.report(store, POLICY, OVERSIGHT, user="alice", limit=1)
    assert seqs(first) == [1] and first.truncated and first.next_after == 1
    second = auditlog.report(store, POLICY, OVERSIGHT, user="alice", limit=1, after=1)
    assert seqs(second) == [3] and not second.truncated and second.next_after is None
    with pytest.raises(auditlog.OversightRequestError, match="at least 1"):
        auditlog.report(store, POLICY, OVERSIGHT, user="alice", limit=0)


def test_reading_the_audit_writes_an_audit_entry(store: Store) -> None:
    seed_log(store)
    auditlog.report(store, POLICY, OVERSIGHT, subject="p2", from_=at(0), clock=lambda: FIXED)
    entry = last_entry(store)
    assert entry["seq"] == 5
    assert (entry["actor"], entry["actor_role"], entry["purpose"]) == (
        "olive",
        "oversight_panel",
        "oversight",
    )
    assert (entry["operation"], entry["object_type"], entry["outcome"]) == (
        "consultation",
        "audit_entry",
        "ok",
    )
    assert entry["object_ids"] == ["audit:1", "audit:2"]
    assert entry["query"]["subject"] == "p2" and entry["query"]["from"] == audit.utc_ms(at(0))
    assert entry["ts"] == audit.utc_ms(FIXED)
    # And who read the audit about entry 2 is itself a report.
    readers = auditlog.report(store, POLICY, OVERSIGHT, subject=auditlog.entry_ref(2))
    assert seqs(readers) == [5]


@pytest.mark.parametrize(
    "caller",
    [
        ADMIN,
        Caller("alice", ("investigator",), purpose="investigation", case_reference="C1"),
        OVERSIGHT.with_purpose(None, None, None),
    ],
    ids=["admin", "investigator", "no-purpose"],
)
def test_roles_without_audit_read_are_refused_and_the_refusal_is_audited(
    store: Store, caller: Caller
) -> None:
    seed_log(store)
    with pytest.raises(AccessDenied):
        auditlog.report(store, POLICY, caller, user="alice")
    with pytest.raises(AccessDenied):
        auditlog.sample(store, POLICY, caller, 2, seed=1)
    entry = last_entry(store)
    assert (entry["actor"], entry["outcome"], entry["object_ids"]) == (
        caller.username,
        "denied",
        [],
    )
    assert count(store) == 6


def test_report_needs_a_user_or_a_subject(store: Store) -> None:
    with pytest.raises(auditlog.OversightRequestError, match="user or a subject"):
        auditlog.report(store, POLICY, OVERSIGHT)
    assert count(store) == 0


def test_a_sample_is_reproducible_recorded_and_audited(store: Store) -> None:
    for _ in range(20):
        seed_log(store)  # 80 entries
    drawn = auditlog.sample(store, POLICY, OVERSIGHT, 10, seed=42, clock=lambda: FIXED)
    assert drawn.population == 80 and drawn.seed == 42 and drawn.reviewer == "olive"
    expected = sorted(random.Random(42).sample(range(1, 81), 10))
    assert [e["seq"] for e in drawn.entries] == expected
    assert all(e["verdict"] is None for e in drawn.entries)
    with store.connect() as conn:
        rows = (
            conn.execute(select(audit_reviews).where(audit_reviews.c.sample_id == drawn.sample_id))
            .mappings()
            .all()
        )
    assert sorted(r["seq"] for r in rows) == expected
    assert {r["reviewer"] for r in rows} == {"olive"}
    assert {r["drawn_at"] for r in rows} == {FIXED}
    entry = last_entry(store)
    assert entry["object_ids"] == [auditlog.entry_ref(s) for s in expected]
    assert entry["query"] == {"n": 10, "seed": 42, "population": 80, "sample_id": drawn.sample_id}
    # More than there are: all of them; none at all: refused.
    everything = auditlog.sample(store, POLICY, DPO, 500)
    assert len(everything.entries) == 81 and everything.seed is not None
    with pytest.raises(auditlog.OversightRequestError):
        auditlog.sample(store, POLICY, DPO, 0)


def test_verdicts_are_recorded_by_the_reviewer_only(store: Store) -> None:
    seed_log(store)
    drawn = auditlog.sample(store, POLICY, OVERSIGHT, 2, seed=7)
    first = drawn.entries[0]["seq"]
    row = auditlog.record_verdict(
        store,
        POLICY,
        OVERSIGHT,
        drawn.sample_id,
        first,
        "inappropriate",
        "no case open",
        clock=lambda: FIXED,
    )
    assert (row["verdict"], row["note"], row["reviewed_at"]) == (
        "inappropriate",
        "no case open",
        FIXED,
    )
    entry = last_entry(store)
    assert (entry["operation"], entry["object_type"]) == ("alteration", "audit_review")
    assert entry["object_ids"] == [auditlog.entry_ref(first)]
    assert entry["query"]["verdict"] == "inappropriate"
    assert "no case open" not in str(entry)  # the free-text note stays in audit_reviews

    again = auditlog.get_sample(store, POLICY, OVERSIGHT, drawn.sample_id)
    assert [e["verdict"] for e in again.entries] == ["inappropriate", None]

    with pytest.raises(auditlog.OversightRequestError, match="one of"):
        auditlog.record_verdict(store, POLICY, OVERSIGHT, drawn.sample_id, first, "fine")
    with pytest.raises(auditlog.OversightRequestError, match="not in that audit sample"):
        auditlog.record_verdict(store, POLICY, OVERSIGHT, "nope", first, "unclear")
    with pytest.raises(auditlog.OversightRequestError, match="no audit sample"):
        auditlog.get_sample(store, POLICY, OVERSIGHT, "nope")
    before = count(store)
    with pytest.raises(AccessDenied, match="only the reviewer"):
        auditlog.record_verdict(store, POLICY, DPO, drawn.sample_id, first, "appropriate")
    denied = last_entry(store)
    assert count(store) == before + 1 and (denied["actor"], denied["outcome"]) == ("dora", "denied")
    with pytest.raises(AccessDenied):
        auditlog.record_verdict(store, POLICY, ADMIN, drawn.sample_id, first, "appropriate")
    assert (
        auditlog.get_sample(store, POLICY, OVERSIGHT, drawn.sample_id).entries[0]["verdict"]
        == "inappropriate"
    )
    with store.connect() as conn:
        assert verify(conn, store.settings).ok
