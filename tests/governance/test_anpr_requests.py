"""The ANPR authorisation workflow: an officer requests, withdraws; an authoriser grants or
refuses; an authorisation is revoked. Each rule broken is refused with its name, each step is
audited (a refusal as denied), and no audit entry carries the free text (a plate in a reason
or note stays out of the log). SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from peel.errors import AccessDenied, NotFound, PeelError
from peel.governance import anpr, history, identity
from peel.governance.access import Caller
from peel.governance.accounts import Accounts
from peel.governance.policy import Policy
from peel.serving import Store
from peel.serving.tables import audit_log
from peel.settings import get_settings

NOW = datetime(2024, 12, 31, 23, 0, tzinfo=UTC)
CASE = "OP-ANPR-1"
PLATE = "QX71 WRP"  # a plate typed into free text: must never reach the audit log


@dataclass
class World:
    store: Store
    policy: Policy
    ivy: Caller  # investigator
    pat: Caller  # patrol officer (another requester)
    sam: Caller  # manager, superintendent
    chi: Caller  # manager, chief inspector: a rank the policy does not let authorise
    dee: Caller  # investigator and manager, superintendent (could authorise herself)
    clerk: Caller  # disclosure officer: no ANPR permission


@pytest.fixture
def world(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("PEEL_REFERENCE_TIME", NOW.isoformat())
    get_settings.cache_clear()
    with store.begin() as conn:
        policy = history.ensure_installed(conn).loaded.policy
    acc = Accounts(store, policy)
    people = {
        "ivy": (["investigator"], "constable", "investigation"),
        "pat": (["patrol_officer"], "constable", "patrol_check"),
        "sam": (["manager"], "superintendent", None),
        "chi": (["manager"], "chief-inspector", None),
        "dee": (["investigator", "manager"], "superintendent", "investigation"),
        "clerk": (["disclosure_officer"], "constable", "disclosure"),
    }
    for name, (roles, rank, _) in people.items():
        acc.seed_user(
            username=name,
            display_name=name,
            roles=roles,
            password="a long test password",
            rank=rank,
            totp=False,
        )
    callers = {}
    with store.begin() as conn:
        for name, (_, _, purpose) in people.items():
            callers[name] = identity.caller_for(
                conn, policy, name, purpose=purpose, case_reference=CASE if purpose else None
            )
    yield World(store=store, policy=policy, **callers)
    get_settings.cache_clear()


def _ask(w: World, who: Caller, **kw: Any) -> int:
    args: dict[str, Any] = {
        "investigation_reference": CASE,
        "offence_category": "burglary",
        "reason": f"reads of {PLATE} near the series",
        "days": 14,
    }
    return int(anpr.request(w.store, w.policy, who, **{**args, **kw})["id"])


def _audit(w: World) -> list[dict[str, Any]]:
    with w.store.connect() as conn:
        rows = conn.execute(select(audit_log).order_by(audit_log.c.seq)).mappings().all()
    return [
        {**r, "object_ids": json.loads(r["object_ids"]), "query": json.loads(r["query"])}
        for r in rows
    ]


def _steps(w: World) -> list[tuple[str, str, str, str]]:
    """(actor, object type, action, outcome) of each workflow entry."""
    return [
        (e["actor"], e["object_type"], e["query"].get("action", ""), e["outcome"])
        for e in _audit(w)
        if e["object_type"] in (anpr.REQUEST, anpr.AUTHORISATION)
    ]


def _request(w: World, request_id: int) -> dict[str, Any]:
    with w.store.connect() as conn:
        return anpr.get_request(conn, request_id)


def test_request_grant_use_revoke_and_every_step_audited(world: World) -> None:
    w = world
    old_read = NOW - timedelta(days=200)
    rid = _ask(w, w.ivy)
    assert _request(w, rid)["status"] == anpr.PENDING
    with w.store.connect() as conn:
        assert [r["id"] for r in anpr.pending(conn)] == [rid]
        assert [r["id"] for r in anpr.requests_of(conn, "ivy")] == [rid]
        assert anpr.requests_of(conn, "pat") == []
        before = anpr.decision_for(conn, w.policy, w.ivy, read_time=old_read)
    assert before.tier == "denied" and "no authorisation" in before.reason

    # Granted for fewer days than asked: the authorisation row, the request marked with it.
    out = anpr.grant_request(w.store, w.policy, w.sam, rid, days=10)
    assert out["expires_at"] == (NOW + timedelta(days=10)).isoformat()
    req = _request(w, rid)
    assert (req["status"], req["decided_by"], req["authorisation_id"]) == (
        anpr.GRANTED,
        "sam",
        out["id"],
    )
    with w.store.connect() as conn:
        assert anpr.pending(conn) == []
        [held] = anpr.list_for(conn, "ivy")
        assert (held["id"], held["status"], held["authoriser_rank"]) == (
            out["id"],
            "live",
            "superintendent",
        )
        assert held["investigation_reference"] == CASE and held["offence_category"] == "burglary"
        used = anpr.decision_for(
            conn, w.policy, w.ivy, read_time=old_read, authorisation_id=out["id"]
        )
    assert used.allowed and used.tier == "authorised"
    with pytest.raises(PeelError, match="not pending"):
        anpr.grant_request(w.store, w.policy, w.sam, rid)

    anpr.revoke(w.store, w.policy, w.sam, out["id"])
    with w.store.connect() as conn:
        assert anpr.list_for(conn, "ivy")[0]["status"] == "revoked"
        after = anpr.decision_for(
            conn, w.policy, w.ivy, read_time=old_read, authorisation_id=out["id"]
        )
    assert not after.allowed and "revoked" in after.reason
    with pytest.raises(PeelError, match="already revoked"):
        anpr.revoke(w.store, w.policy, w.sam, out["id"])

    # A second request, refused with a note; a third, withdrawn.
    refused = _ask(w, w.pat, days=3)
    anpr.refuse(w.store, w.policy, w.sam, refused, note=f"not enough on {PLATE}")
    req = _request(w, refused)
    assert req["status"] == anpr.REFUSED and PLATE in req["decision_note"]
    gone = _ask(w, w.ivy)
    anpr.withdraw(w.store, w.policy, w.ivy, gone)
    assert _request(w, gone)["status"] == anpr.WITHDRAWN
    with pytest.raises(PeelError, match="not pending"):
        anpr.withdraw(w.store, w.policy, w.ivy, gone)
    with pytest.raises(PeelError, match="not pending"):
        anpr.refuse(w.store, w.policy, w.sam, gone, note="late")

    assert _steps(w) == [
        ("ivy", anpr.REQUEST, "request", "ok"),
        ("sam", anpr.AUTHORISATION, "grant", "ok"),
        ("sam", anpr.AUTHORISATION, "revoke", "ok"),
        ("pat", anpr.REQUEST, "request", "ok"),
        ("sam", anpr.REQUEST, "refuse", "ok"),
        ("ivy", anpr.REQUEST, "request", "ok"),
        ("ivy", anpr.REQUEST, "withdraw", "ok"),
    ]
    entries = [e for e in _audit(w) if e["object_type"] in (anpr.REQUEST, anpr.AUTHORISATION)]
    grant = entries[1]
    assert grant["object_ids"] == [str(out["id"]), "ivy"]
    assert grant["query"] == {"action": "grant", "request": rid, "days": 10, "investigation": CASE}
    assert entries[0]["purpose"] == "investigation" and entries[0]["case_reference"] == CASE
    plate = PLATE.replace(" ", "")
    for e in _audit(w):
        text = json.dumps(e, default=str).replace(" ", "")
        assert plate not in text, e["seq"]


def test_each_rule_broken_is_refused_by_name_and_audited_as_denied(world: World) -> None:
    w = world
    rid = _ask(w, w.ivy)
    own = _ask(w, w.dee)
    cases: list[tuple[Any, type[Exception], str]] = [
        (lambda: anpr.grant_request(w.store, w.policy, w.dee, own), AccessDenied, "self-auth"),
        (lambda: anpr.refuse(w.store, w.policy, w.dee, own, note="x"), AccessDenied, "self-auth"),
        (lambda: anpr.grant_request(w.store, w.policy, w.chi, rid), AccessDenied, "rank not al"),
        (lambda: anpr.refuse(w.store, w.policy, w.chi, rid, note="x"), AccessDenied, "rank not"),
        (lambda: anpr.grant_request(w.store, w.policy, w.ivy, rid), AccessDenied, "anpr.author"),
        (lambda: anpr.withdraw(w.store, w.policy, w.pat, rid), AccessDenied, "not yours"),
        (lambda: anpr.withdraw(w.store, w.policy, w.sam, rid), AccessDenied, "anpr.read"),
        (lambda: _ask(w, w.clerk), AccessDenied, "anpr.read"),
        (lambda: _ask(w, w.ivy, days=31), PeelError, "days: too long"),
        (lambda: _ask(w, w.ivy, days=0), PeelError, "days: too long or too short"),
        (lambda: _ask(w, w.ivy, reason="  "), PeelError, "reason: required"),
        (lambda: _ask(w, w.ivy, investigation_reference=""), PeelError, "investigation_ref"),
        (lambda: anpr.grant_request(w.store, w.policy, w.sam, rid, days=15), PeelError, "asked"),
        (lambda: anpr.refuse(w.store, w.policy, w.sam, rid, note=" "), PeelError, "note: req"),
        (lambda: anpr.grant_request(w.store, w.policy, w.sam, 9999), NotFound, "no authorisation"),
        (lambda: anpr.revoke(w.store, w.policy, w.chi, 1), AccessDenied, "rank not allowed"),
        (lambda: anpr.revoke(w.store, w.policy, w.sam, 9999), NotFound, "no authorisation 9999"),
    ]
    for step, error, words in cases:
        with pytest.raises(error, match=words):
            step()
    # Nothing was decided or created by the refused steps.
    assert _request(w, rid)["status"] == _request(w, own)["status"] == anpr.PENDING
    with w.store.connect() as conn:
        assert anpr.list_for(conn, "ivy") == [] and anpr.list_for(conn, "dee") == []
    denied = [e for e in _audit(w) if e["outcome"] == "denied"]
    reasons = [e["query"].get("refused", "") for e in denied]
    assert sum("self-authorisation" in r for r in reasons) == 2
    assert sum("rank not allowed" in r for r in reasons) == 3
    assert sum("not yours" in r for r in reasons) == 1
    assert sum("anpr.read" in r for r in reasons) == 2
    assert all(e["operation"] == "admin" for e in denied)
    # The direct grant keeps the same rules, and still works.
    with pytest.raises(AccessDenied, match="own access"):
        anpr.grant(
            w.store,
            w.policy,
            w.dee,
            requester="dee",
            investigation_reference=CASE,
            offence_category="burglary",
            reason="r",
            days=3,
        )
    direct = anpr.grant(
        w.store,
        w.policy,
        w.sam,
        requester="ivy",
        investigation_reference=CASE,
        offence_category="burglary",
        reason="r",
        days=3,
    )
    with w.store.connect() as conn:
        assert [a["id"] for a in anpr.list_for(conn, "ivy")] == [direct["id"]]


def test_two_authorisers_deciding_at_once_cannot_both_win(world: World) -> None:
    """The request is closed with a conditional update: a grant that lost the race is refused
    and leaves no authorisation behind."""
    w = world
    rid = _ask(w, w.ivy)
    anpr.refuse(w.store, w.policy, w.sam, rid, note="no")
    # As if the grant had read the request before the refusal was committed.
    with w.store.connect() as conn:
        stale = {**anpr.get_request(conn, rid), "status": anpr.PENDING}
    real = anpr.get_request

    def stale_read(conn: Any, request_id: int) -> dict[str, Any]:
        return stale if request_id == rid else real(conn, request_id)

    mp = pytest.MonkeyPatch()
    mp.setattr(anpr, "get_request", stale_read)
    try:
        with pytest.raises(PeelError, match="not pending"):
            anpr.grant_request(w.store, w.policy, w.sam, rid)
    finally:
        mp.undo()
    assert _request(w, rid)["status"] == anpr.REFUSED
    with w.store.connect() as conn:
        assert anpr.list_for(conn, "ivy") == []
