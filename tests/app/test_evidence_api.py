"""The disclosure review API over HTTP (SQLite and PostgreSQL): purpose headers required,
members of the case only, the queue, context, coding, search with redacted snippets, the
review record, and a tampered item answered 409 naming it. All material is synthetic (Ofcom
drama numbers, example.com addresses)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from evidence.review_world import chat_file
from helpers.appenv import AppEnv
from peel.app.api import evidence as evidence_api
from peel.evidence import review
from peel.evidence.ingest import ingest
from peel.evidence.store import case_dir
from peel.governance import cases
from peel.governance.access import Caller
from peel.serving.tables import audit_log, evidence_checks, evidence_views

REF = "OP/DISC/7"  # a reference with slashes, as forces write them
BASE = f"/api/cases/{REF}/evidence"
OFFICER = "disclosure-officer"
PHONE = "07700 900461"
EMAIL = "sam.example@example.com"
PLANTED = (PHONE, "07700900461", EMAIL, "Jo Bloggs-Sample")


@dataclass
class Review:
    env: AppEnv
    data_dir: Path

    def headers(self, role: str = "disclosure_officer", *, case: str = REF) -> dict[str, str]:
        h = self.env.headers(role, purpose=False)
        h["Peel-Purpose"] = "disclosure"
        h["Peel-Case-Reference"] = case
        return h


def messages() -> list[tuple[str, str]]:
    out = [("Sam Example", f"note number {i} about the weekend plans") for i in range(24)]
    out[3] = ("Alex Sample", f"bring the ladder to the garage, ring me on {PHONE}")
    out[7] = ("Sam Example", f"the van is outside, mail {EMAIL} if the alarm goes")
    out[11] = ("Alex Sample", "tell Jo Bloggs-Sample the ladder is back")
    return out


@pytest.fixture
def world(app_env: AppEnv, data_dir: Path, tmp_path: Path) -> Iterator[Review]:
    """A case with a slash in its reference; the disclosure officer a member; one WhatsApp
    chat and a contact list ingested (Jo Bloggs-Sample is a contact: her name is redacted)."""
    review.forget_models()
    manager = Caller(username="manager", roles=("manager",))
    cases.create_case(app_env.store, app_env.policy, manager, reference=REF, title="Test case")
    cases.add_member(app_env.store, app_env.policy, manager, reference=REF, username=OFFICER)
    chat = chat_file(tmp_path / "phone" / "Garage.txt", messages())
    contacts = tmp_path / "phone" / "contacts.csv"
    contacts.write_text(f"name,phone,email\nJo Bloggs-Sample,{PHONE},{EMAIL}\n", encoding="utf-8")
    officer = Caller(
        username=OFFICER,
        roles=("disclosure_officer",),
        purpose="disclosure",
        case_reference=REF,
    )
    out = ingest(
        app_env.store,
        app_env.policy,
        officer,
        data_dir=app_env.store.settings.data_dir,
        reference=REF,
        paths=[chat, contacts],
    )
    assert out["items_stored"] == 25
    saved = evidence_api.TRAIN
    evidence_api.TRAIN = "sync"  # no thread outliving the test
    try:
        yield Review(app_env, app_env.store.settings.data_dir)
    finally:
        evidence_api.TRAIN = saved
        review.forget_models()


def no_planted(text: str) -> None:
    for value in PLANTED:
        assert value not in text, f"planted value {value!r} shown unredacted"


def test_purpose_headers_and_membership_are_required(world: Review) -> None:
    c = world.env.client
    r = c.get(f"{BASE}/next", headers=world.env.headers("disclosure_officer", purpose=False))
    assert r.status_code == 403 and "purpose" in r.json()["detail"]
    r = c.get(f"{BASE}/next", headers=world.headers(case="OP/OTHER/1"))
    assert r.status_code == 403 and "give it as the case reference" in r.json()["detail"]
    r = c.get(f"{BASE}/status", headers=world.headers(case="OP/OTHER/1"))
    assert r.status_code == 403
    # An investigator's role does not grant evidence.review at all.
    inv = world.env.headers("investigator")
    assert c.get(f"{BASE}/search", headers=inv, params={"q": "ladder"}).status_code == 403
    # A case that does not exist: 404, not a crash.
    r = c.get("/api/cases/OP/NONE/9/evidence/next", headers=world.headers(case="OP/NONE/9"))
    assert r.status_code == 404 and "no case" in r.json()["detail"]


def other_officer(world: Review) -> dict[str, str]:
    """Headers of a disclosure officer who is not a member of the case (signed in by token;
    the client's session cookie cleared)."""
    state = world.env.app.state.peel
    state.accounts.seed_user(
        username="other-officer",
        display_name="Other officer",
        roles=["disclosure_officer"],
        password="correct horse battery staple",
        rank="constable",
        team="T1",
        collar_number=None,
        totp=False,
    )
    token = world.env.client.post(
        "/api/auth/login",
        json={"username": "other-officer", "password": "correct horse battery staple"},
    ).json()["token"]
    world.env.client.cookies.clear()
    return {
        "Authorization": f"Bearer {token}",
        "Peel-Purpose": "disclosure",
        "Peel-Case-Reference": REF,
    }


def test_a_disclosure_officer_who_is_not_a_member_is_refused_and_audited(
    world: Review,
) -> None:
    h = other_officer(world)
    for path, params in (("next", {}), ("search", {"q": "ladder"}), ("status", {})):
        r = world.env.client.get(f"{BASE}/{path}", headers=h, params=params)
        assert r.status_code == 403, (path, r.text)
        assert "not a member" in r.json()["detail"]
        no_planted(r.text)
    with world.env.store.read() as conn:
        denied = conn.execute(
            select(audit_log.c.actor).where(
                audit_log.c.outcome == "denied", audit_log.c.object_type == "evidence_item"
            )
        ).all()
    assert ("other-officer",) in denied


def test_search_shows_redacted_snippets_with_highlights_and_counts_what_it_shows(
    world: Review,
) -> None:
    c, h = world.env.client, world.headers()
    r = c.get(f"{BASE}/search", headers=h, params={"q": "ladder"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["count"] == 2 and not out["counts_only"]
    no_planted(r.text)
    texts = {h["id"]: "".join(t for t, _ in h["snippet"]) for h in out["hits"]}
    assert any("[phone]" in t for t in texts.values()), texts
    assert any("[name]" in t for t in texts.values()), texts
    assert all(any(hl and t.lower() == "ladder" for t, hl in x["snippet"]) for x in out["hits"])
    with world.env.store.read() as conn:
        seen = {
            int(i)
            for (i,) in conn.execute(
                select(evidence_views.c.item_id).where(evidence_views.c.username == OFFICER)
            )
        }
    assert seen == set(texts)
    # An e-mail address in a hit is shown as its marker.
    r = c.get(f"{BASE}/search", headers=h, params={"q": "van AND alarm"})
    assert r.json()["count"] == 1
    no_planted(r.text)
    assert "[email]" in "".join(t for t, _ in r.json()["hits"][0]["snippet"])
    # Filters: participant, kinds, dates; bad kinds and bad syntax are 4xx naming the field.
    r = c.get(f"{BASE}/search", headers=h, params={"participant": "alex sample"})
    assert r.json()["count"] == 2
    r = c.get(f"{BASE}/search", headers=h, params={"q": "ladder", "kind": "email"})
    assert r.json()["count"] == 0
    r = c.get(f"{BASE}/search", headers=h, params={"q": "ladder", "since": "2030-01-01T00:00"})
    assert r.json()["count"] == 0
    r = c.get(f"{BASE}/search", headers=h, params={"q": "ladder", "kind": "fax"})
    assert r.status_code == 422 and "kind" in r.text
    r = c.get(f"{BASE}/search", headers=h, params={"q": '"unclosed'})
    assert r.status_code == 400


def test_over_the_policy_limit_a_search_gives_counts_only(
    world: Review, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = world.env.app.state.peel
    small = state.policy.model_copy(
        update={"limits": state.policy.limits.model_copy(update={"search_count_only_over": 5})}
    )
    monkeypatch.setattr(type(state), "policy", property(lambda self: small))
    r = world.env.client.get(f"{BASE}/search", headers=world.headers(), params={"q": "weekend"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["counts_only"] and out["count"] == 21 and out["hits"] == []
    assert "narrow" in out["message"]


def test_next_context_code_and_the_review_record(world: Review) -> None:
    c, h = world.env.client, world.headers()
    r = c.get(f"{BASE}/next", headers=h)
    assert r.status_code == 200, r.text
    served = r.json()
    item = served["item"]
    assert served["stage"] == "ranked" and served["case"] == REF
    assert {"id", "kind", "sender", "sent_at", "conversation", "text"} <= set(item)
    assert item["kind"] == "chat" and item["conversation"] == "Garage"
    # The same item again until it is coded.
    assert c.get(f"{BASE}/next", headers=h).json()["item"]["id"] == item["id"]

    r = c.get(f"{BASE}/items/{item['id']}/context", headers=h, params={"k": 2})
    assert r.status_code == 200, r.text
    ctx = r.json()["items"]
    assert 3 <= len(ctx) <= 5 and [x["id"] for x in ctx if x["focus"]] == [item["id"]]
    no_planted(r.text)
    # Context only around an item one was shown.
    unseen = next(i for i in range(1, 26) if i not in {x["id"] for x in ctx})
    r = c.get(f"{BASE}/items/{unseen}/context", headers=h)
    assert r.status_code == 403 and "shown" in r.json()["detail"]

    bad = c.post(
        f"{BASE}/items/{item['id']}/code",
        headers=h,
        json={"relevance": "maybe", "meets_test": False, "reason": "x"},
    )
    assert bad.status_code == 422
    r = c.post(
        f"{BASE}/items/{item['id']}/code",
        headers=h,
        json={"relevance": "relevant", "meets_test": True, "reason": "the ladder"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["item"] == item["id"] and r.json()["stage"] == "ranked"
    again = c.post(
        f"{BASE}/items/{item['id']}/code",
        headers=h,
        json={"relevance": "relevant", "meets_test": True, "reason": "again"},
    )
    assert again.status_code == 400 and "decision already" in again.json()["detail"]
    nxt = c.get(f"{BASE}/next", headers=h).json()
    assert nxt["item"]["id"] != item["id"]

    r = c.get(f"{BASE}/status", headers=h)
    assert r.status_code == 200, r.text
    st = r.json()
    assert st["items"] == 25 and st["decided"] == 1
    assert st["decisions"] == {"ranked": {"relevant": 1}}
    assert st["seen_items"] == len({x["id"] for x in ctx} | {item["id"], nxt["item"]["id"]})
    assert st["share_seen"] == pytest.approx(st["seen_items"] / 25)
    assert st["overturn_rate"] is None and st["recall_estimate"] is None
    assert st["target_recall"] == 0.8
    with world.env.store.read() as conn:
        entry = conn.execute(
            select(audit_log.c.actor, audit_log.c.case_reference).where(
                audit_log.c.object_type == "evidence_review"
            )
        ).one()
    assert tuple(entry) == (OFFICER, REF)


def test_a_tampered_item_is_set_aside_by_the_queue_and_refused_with_409_naming_it(
    world: Review,
) -> None:
    c, h = world.env.client, world.headers()
    served = c.get(f"{BASE}/next", headers=h).json()["item"]
    iid = served["id"]
    db = sqlite3.connect(case_dir(world.data_dir, REF) / "items.sqlite")
    sha, body = db.execute(
        "SELECT o.sha256, o.body FROM objects o JOIN items i ON i.sha256 = o.sha256 WHERE i.id = ?",
        (iid,),
    ).fetchone()
    changed = bytearray(body)
    changed[-5] ^= 1
    db.execute("UPDATE objects SET body = ? WHERE sha256 = ?", (bytes(changed), sha))
    db.commit()
    db.close()
    # The queue sets the changed item aside and serves another; reading it is refused.
    r = c.get(f"{BASE}/next", headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["item"]["id"] != iid
    r = c.get(f"{BASE}/items/{iid}/context", headers=h, params={"k": 0})
    assert r.status_code == 409 and f"item {iid}" in r.json()["detail"]


def test_the_review_record_page_shows_the_checks_and_the_estimate_with_its_interval(
    world: Review,
) -> None:
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    with world.env.store.begin() as conn:
        conn.execute(
            insert(evidence_checks).values(
                case_reference=REF,
                reviewed=12,
                knee_rank=9,
                sample_items=[13, 14, 15],
                sample_relevant=0,
                estimate=0.875,
                low=0.61,
                high=0.97,
                target=0.8,
                status="reached",
                opened_at=at,
                closed_at=at,
            )
        )
    r = world.env.client.get(f"/cases/{REF}/evidence/record", headers=world.headers())
    assert r.status_code == 200, r.text
    assert "Estimated recall 87.5% (95% interval 61.0% to 97.0%): the target is reached" in r.text
    assert "<td>12</td><td>9</td><td>3</td><td>0</td>" in r.text
    api = world.env.client.get(f"{BASE}/status", headers=world.headers()).json()
    assert api["recall_estimate"] == 0.875 and api["interval"] == [0.61, 0.97]
    assert api["target_reached"] is True and api["checks"][0]["sample"] == 3


def _code_next(world: Review, relevance: str, *, meets_test: bool, reason: str) -> int:
    c, h = world.env.client, world.headers()
    iid = int(c.get(f"{BASE}/next", headers=h).json()["item"]["id"])
    r = c.post(
        f"{BASE}/items/{iid}/code",
        headers=h,
        json={"relevance": relevance, "meets_test": meets_test, "reason": reason},
    )
    assert r.status_code == 201, r.text
    return iid


def test_the_schedules_as_data_page_and_downloads_redacted_and_audited(world: Review) -> None:
    c, h = world.env.client, world.headers()
    _code_next(world, "relevant", meets_test=True, reason="places the ladder at the garage")
    _code_next(world, "sensitive", meets_test=False, reason=f"names a witness, {PHONE}")
    _code_next(world, "not_relevant", meets_test=False, reason="weekend chatter")

    r = c.get(f"{BASE}/schedules", headers=h)
    assert r.status_code == 200, r.text
    doc = r.json()
    no_planted(r.text)
    assert [x["reviewed"] for x in doc["mg6c"]][:1] == ["relevant, non-sensitive"]
    assert {x["reviewed"] for x in doc["mg6c"]} == {
        "relevant, non-sensitive",
        "not relevant",
        "not reviewed",
    }
    assert sum(x["items"] for x in doc["mg6c"]) == 25 - 1  # every item but the sensitive one
    assert len(doc["mg6d"]) == 1 and "[phone]" in doc["mg6d"][0]["reason_for_sensitivity"]
    assert [x["how_it_meets_the_test"] for x in doc["mg6e"]] == ["places the ladder at the garage"]
    rec = doc["record"]
    assert rec["case"] == REF and rec["reviewed"] == 3 and rec["redacted"] is True

    page = c.get(f"/cases/{REF}/evidence/schedules", headers=h)
    assert page.status_code == 200, page.text
    no_planted(page.text)
    for key in ("mg6c", "mg6d", "mg6e"):
        assert f'aria-labelledby="{key}-title"' in page.text
    assert "places the ladder at the garage" in page.text
    assert 'id="fig-reviewed">3 of 25 (22 not reviewed)' in page.text

    r = c.get(f"/cases/{REF}/evidence/schedules/MG6D.csv", headers=h)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == 'attachment; filename="OP-DISC-7-MG6D.csv"'
    assert r.text.splitlines()[0].split(",") == [
        "item_no",
        "description",
        "location",
        "reason_for_sensitivity",
        "cps_comment",
    ]
    no_planted(r.text)
    r = c.get(f"/cases/{REF}/evidence/schedules/review-record.pdf", headers=h)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")

    # Each build is one disclosure in the audit log: API, page, two downloads.
    with world.env.store.read() as conn:
        made = conn.execute(
            select(audit_log.c.actor).where(
                audit_log.c.operation == "disclosure",
                audit_log.c.object_type == "evidence_schedule",
            )
        ).all()
    assert made == [(OFFICER,)] * 4


def test_a_schedule_file_not_in_the_list_is_404_and_a_non_member_is_refused(
    world: Review,
) -> None:
    c, h = world.env.client, world.headers()
    for name in ("MG6F.csv", "review-record.csv", "mg6c.csv", "MG6C.csv.exe", "%2e%2e"):
        r = c.get(f"/cases/{REF}/evidence/schedules/{name}", headers=h)
        assert r.status_code == 404, (name, r.status_code)
        assert name not in r.text
    with world.env.store.read() as conn:
        assert (
            conn.execute(
                select(audit_log.c.seq).where(audit_log.c.object_type == "evidence_schedule")
            ).all()
            == []
        )
    outsider = other_officer(world)
    for path in (
        f"/cases/{REF}/evidence/schedules/MG6C.csv",
        f"/cases/{REF}/evidence/schedules",
        f"{BASE}/schedules",
    ):
        r = c.get(path, headers=outsider)
        assert r.status_code == 403, (path, r.status_code)
        assert "not a member" in r.text
        no_planted(r.text)
