"""Case material in, searched and reviewed: hashes checked on every read (a changed byte
blocks use), members only, every item shown counted as seen, leases, duplicates, second
review, and the stopping rule's elusion sample (serving store: SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from review_world import REF, World, chat_file, clock, make_world, reviewer
from sqlalchemy import select

from peel.errors import AccessDenied, InputRefused
from peel.evidence import learning, review
from peel.evidence.casesearch import search_case
from peel.evidence.ingest import ingest, open_case
from peel.evidence.search import SearchError
from peel.evidence.store import EvidenceTampered, case_dir
from peel.governance import audit
from peel.serving import Store
from peel.serving.tables import audit_log, evidence_codes, evidence_views

DORA, DAN, OLLY = reviewer("dora"), reviewer("dan"), reviewer("olly")


@pytest.fixture
def world(store: Store, data_dir: Path) -> World:
    review.forget_models()
    return make_world(store, data_dir)


def _ingest(w: World, paths: list[Path]) -> dict:
    return ingest(
        w.store, w.policy, DORA, data_dir=w.data_dir, reference=REF, paths=paths, clock=clock
    )


def _chat(tmp_path: Path, name: str = "Group chat", n: int = 30) -> Path:
    msgs = [("Sam Example", f"note number {i} about the weekend plans") for i in range(n)]
    msgs[3] = ("Alex Sample", "bring the ladder to the garage on Friday night")
    msgs[7] = ("Sam Example", "the van is outside, alarm was off")
    return chat_file(tmp_path / "phone" / f"{name}.txt", msgs)


def _views(w: World, who: str) -> set[int]:
    with w.store.read() as conn:
        return {
            int(i)
            for (i,) in conn.execute(
                select(evidence_views.c.item_id).where(
                    evidence_views.c.case_reference == REF, evidence_views.c.username == who
                )
            )
        }


def test_ingest_hashes_every_item_and_records_the_manifest_in_the_audit_chain(
    world: World, tmp_path: Path
) -> None:
    chat = _chat(tmp_path)
    bad = tmp_path / "phone" / "notes.pdf"
    bad.write_bytes(b"%PDF-1.4")
    out = _ingest(world, [chat, bad])
    assert out["items_stored"] == 31  # 30 messages and the encryption notice
    assert [f["status"] for f in out["files"]] == ["ingested", "refused"]
    assert "notes.pdf" in out["files"][1]["message"]
    root = case_dir(world.data_dir, REF)
    manifest = (root / "batches" / "1.json").read_bytes()
    assert hashlib.sha256(manifest).hexdigest() == out["manifest_sha256"]
    assert (root / "originals" / out["files"][0]["sha256"]).read_bytes() == chat.read_bytes()
    with world.store.read() as conn:
        rows = conn.execute(
            select(audit_log).where(audit_log.c.object_type == "evidence_batch")
        ).mappings()
        entry = audit.decode(next(iter(rows)))
    assert entry["query"]["manifest_sha256"] == out["manifest_sha256"]
    assert entry["case_reference"] == REF
    # The same file again adds nothing.
    again = _ingest(world, [chat])
    assert again["items_stored"] == 0 and again["files"][0]["status"] == "already ingested"


def test_exact_duplicates_point_at_the_first_copy(world: World, tmp_path: Path) -> None:
    a = _chat(tmp_path / "a", n=10)
    b = chat_file(
        tmp_path / "b" / "phone" / "Group chat.txt",
        [("Sam Example", f"note number {i} about the weekend plans") for i in range(10)],
    )
    _ingest(world, [a])
    out = _ingest(world, [b])
    assert out["duplicates"] > 0
    cs = open_case(world.store, world.data_dir, REF)
    dups = [r for r in cs.rows("WHERE duplicate_of IS NOT NULL")]
    assert dups and all(int(r["duplicate_of"]) < int(r["id"]) for r in dups)


def test_a_changed_byte_in_a_stored_item_blocks_its_use(world: World, tmp_path: Path) -> None:
    _ingest(world, [_chat(tmp_path)])
    cs = open_case(world.store, world.data_dir, REF)
    assert cs.item(5).item.text
    db = sqlite3.connect(case_dir(world.data_dir, REF) / "items.sqlite")
    sha, body = db.execute(
        "SELECT o.sha256, o.body FROM objects o JOIN items i ON i.sha256 = o.sha256 WHERE i.id = 5"
    ).fetchone()
    changed = bytearray(body)
    changed[-5] ^= 1
    db.execute("UPDATE objects SET body = ? WHERE sha256 = ?", (bytes(changed), sha))
    db.commit()
    db.close()
    cs = open_case(world.store, world.data_dir, REF)
    with pytest.raises(EvidenceTampered, match="item 5"):
        cs.item(5)
    assert cs.item(6).item.text  # the others are still usable
    assert any("item 5" in p for p in cs.verify())


def test_a_changed_manifest_or_an_unrecorded_batch_blocks_its_items(
    world: World, tmp_path: Path
) -> None:
    _ingest(world, [_chat(tmp_path)])
    root = case_dir(world.data_dir, REF)
    path = root / "batches" / "1.json"
    doc = json.loads(path.read_bytes())
    doc["items"][0][1] = "0" * 64
    path.write_bytes(json.dumps(doc).encode())
    cs = open_case(world.store, world.data_dir, REF)
    with pytest.raises(EvidenceTampered, match="manifest of batch 1"):
        cs.item(2)


def test_only_members_with_a_disclosure_purpose_may_ingest_or_review(
    world: World, tmp_path: Path
) -> None:
    chat = _chat(tmp_path)
    with pytest.raises(AccessDenied, match="not a member"):
        ingest(
            world.store, world.policy, OLLY, data_dir=world.data_dir, reference=REF, paths=[chat]
        )
    _ingest(world, [chat])
    with pytest.raises(AccessDenied, match="not a member"):
        review.next_item(world.store, world.policy, OLLY, data_dir=world.data_dir, reference=REF)
    other_case = reviewer("dora", "OP/OTHER/1")
    with pytest.raises(AccessDenied, match="case"):
        search_case(
            world.store,
            world.policy,
            other_case,
            data_dir=world.data_dir,
            reference=REF,
            terms="ladder",
        )
    with world.store.read() as conn:
        denied = conn.execute(
            select(audit_log.c.actor).where(audit_log.c.outcome == "denied")
        ).all()
    assert {"olly", "dora"} <= {d[0] for d in denied}


def test_search_ranks_audits_its_terms_and_counts_what_it_shows(
    world: World, tmp_path: Path
) -> None:
    _ingest(world, [_chat(tmp_path)])
    out = search_case(
        world.store,
        world.policy,
        DORA,
        data_dir=world.data_dir,
        reference=REF,
        terms='ladder OR "the van"',
    )
    assert out["count"] == 2 and not out["counts_only"]
    assert [h["id"] for h in out["hits"]] and all(h["snippet"] for h in out["hits"])
    assert any(hl for h in out["hits"] for _, hl in h["snippet"])
    assert _views(world, "dora") == {h["id"] for h in out["hits"]}
    with world.store.read() as conn:
        entry = audit.decode(
            conn.execute(select(audit_log).where(audit_log.c.object_type == "evidence_search"))
            .mappings()
            .one()
        )
    assert entry["query"]["terms"] == 'ladder OR "the van"'
    fuzzy = search_case(
        world.store, world.policy, DORA, data_dir=world.data_dir, reference=REF, terms="ladddder~2"
    )
    assert fuzzy["count"] == 1
    by_sender = search_case(
        world.store,
        world.policy,
        DORA,
        data_dir=world.data_dir,
        reference=REF,
        terms="",
        participant="alex sample",
    )
    assert by_sender["count"] == 1
    with pytest.raises(SearchError):
        search_case(
            world.store,
            world.policy,
            DORA,
            data_dir=world.data_dir,
            reference=REF,
            terms='"unclosed',
        )


def test_a_search_matching_more_than_the_policy_allows_shows_counts_only(
    world: World, tmp_path: Path
) -> None:
    _ingest(world, [_chat(tmp_path, n=60)])
    small = world.policy.model_copy(
        update={"limits": world.policy.limits.model_copy(update={"search_count_only_over": 10})}
    )
    out = search_case(
        world.store, small, DORA, data_dir=world.data_dir, reference=REF, terms="weekend"
    )
    assert out["counts_only"] and out["count"] == 58 and out["hits"] == []
    assert "narrow" in out["message"]
    assert _views(world, "dora") == set()
    narrow = search_case(
        world.store, small, DORA, data_dir=world.data_dir, reference=REF, terms="weekend AND 12"
    )
    assert not narrow["counts_only"] and len(narrow["hits"]) == narrow["count"] >= 1


def test_the_queue_leases_each_item_to_one_reviewer_and_counts_what_it_shows(
    world: World, tmp_path: Path
) -> None:
    _ingest(world, [_chat(tmp_path)])
    a = review.next_item(world.store, world.policy, DORA, data_dir=world.data_dir, reference=REF)
    b = review.next_item(world.store, world.policy, DAN, data_dir=world.data_dir, reference=REF)
    assert a is not None and b is not None and a.item.id != b.item.id
    again = review.next_item(
        world.store, world.policy, DORA, data_dir=world.data_dir, reference=REF
    )
    assert again is not None and again.item.id == a.item.id  # still hers until coded
    with pytest.raises(AccessDenied, match="another reviewer"):
        review.code_item(
            world.store,
            world.policy,
            DORA,
            data_dir=world.data_dir,
            reference=REF,
            item_id=b.item.id,
            relevance="relevant",
            meets_test=False,
            reason="x",
        )
    with pytest.raises(InputRefused, match="reason"):
        review.code_item(
            world.store,
            world.policy,
            DORA,
            data_dir=world.data_dir,
            reference=REF,
            item_id=a.item.id,
            relevance="relevant",
            meets_test=False,
            reason=" ",
        )
    ctx = review.show_context(
        world.store,
        world.policy,
        DORA,
        data_dir=world.data_dir,
        reference=REF,
        item_id=a.item.id,
        k=2,
    )
    assert 2 <= len(ctx) <= 5 and a.item.id in [s.id for s in ctx]
    assert _views(world, "dora") == {a.item.id} | {s.id for s in ctx}
    assert _views(world, "dan") == {b.item.id}
    with pytest.raises(AccessDenied, match="shown"):
        review.show_context(
            world.store,
            world.policy,
            DAN,
            data_dir=world.data_dir,
            reference=REF,
            item_id=a.item.id,
        )
    review.code_item(
        world.store,
        world.policy,
        DORA,
        data_dir=world.data_dir,
        reference=REF,
        item_id=a.item.id,
        relevance="not_relevant",
        meets_test=False,
        reason="chatter",
        train="never",
    )
    c = review.next_item(world.store, world.policy, DORA, data_dir=world.data_dir, reference=REF)
    assert c is not None and c.item.id not in (a.item.id, b.item.id)
    st = review.status(world.store, REF, 31)
    assert st["decided"] == 1
    assert st["seen_items"] == len(_views(world, "dora") | _views(world, "dan"))
    assert st["share_seen"] == pytest.approx(st["seen_items"] / 31)


def test_coding_an_item_codes_its_exact_duplicates(world: World, tmp_path: Path) -> None:
    msgs = [("Sam Example", "same words every time")] * 3 + [("Sam Example", "other")] * 2
    _ingest(world, [chat_file(tmp_path / "c" / "Dup.txt", msgs)])
    # A later export of the same chat: the first five messages again, one more.
    _ingest(world, [chat_file(tmp_path / "d" / "Dup.txt", [*msgs, ("Sam Example", "later")])])
    cs = open_case(world.store, world.data_dir, REF)
    # Item 1 is the encryption notice; item 2 the first "same words" message.
    first = next(r for r in cs.rows("WHERE duplicate_of = 2"))
    original = int(first["duplicate_of"])
    search_case(
        world.store, world.policy, DORA, data_dir=world.data_dir, reference=REF, terms="same words"
    )
    out = review.code_item(
        world.store,
        world.policy,
        DORA,
        data_dir=world.data_dir,
        reference=REF,
        item_id=original,
        relevance="not_relevant",
        meets_test=False,
        reason="greeting",
        train="never",
    )
    assert out["stage"] == "search" and int(first["id"]) in out["duplicates"]
    with world.store.read() as conn:
        rows = conn.execute(
            select(
                evidence_codes.c.item_id, evidence_codes.c.stage, evidence_codes.c.duplicate_of
            ).where(evidence_codes.c.stage == "duplicate")
        ).all()
    assert rows and all(r.duplicate_of == original for r in rows)


def test_not_relevant_decisions_are_sampled_for_a_second_review_and_overturns_counted(
    world: World, tmp_path: Path
) -> None:
    _ingest(world, [_chat(tmp_path, n=80)])
    due = [i for i in range(1, 82) if review.second_review_due(REF, i)]
    assert due  # about a tenth of 81
    target = due[0]
    search_case(
        world.store,
        world.policy,
        DORA,
        data_dir=world.data_dir,
        reference=REF,
        terms=f"number AND {target - 2}",
    )  # message text counts from 0 after the notice
    review.code_item(
        world.store,
        world.policy,
        DORA,
        data_dir=world.data_dir,
        reference=REF,
        item_id=target,
        relevance="not_relevant",
        meets_test=False,
        reason="routine",
        train="never",
    )
    # Dora is never her own second reviewer; Dan is served the item first.
    mine = review.next_item(world.store, world.policy, DORA, data_dir=world.data_dir, reference=REF)
    assert mine is not None and mine.item.id != target
    got = review.next_item(world.store, world.policy, DAN, data_dir=world.data_dir, reference=REF)
    assert got is not None and got.item.id == target and got.stage == "second"
    review.code_item(
        world.store,
        world.policy,
        DAN,
        data_dir=world.data_dir,
        reference=REF,
        item_id=target,
        relevance="relevant",
        meets_test=True,
        reason="mentions the lock-up",
        train="never",
    )
    st = review.status(world.store, REF, 81)
    assert st["second_reviews"] == 1 and st["overturned"] == 1 and st["overturn_rate"] == 1.0


def test_a_review_to_the_end_opens_an_elusion_sample_and_records_the_estimate(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evidence.corpus import collection

    monkeypatch.setattr(review, "SAMPLE", 40)
    monkeypatch.setattr(review, "SECOND_REVIEW_SHARE", 0.0)
    texts, labels = collection(600, 24, seed=5)
    _ingest(world, [chat_file(tmp_path / "big" / "Talk.txt", [("Sam Example", t) for t in texts])])
    truth = {i + 2: y for i, y in enumerate(labels)}  # item 1 is the encryption notice
    truth[1] = 0
    # Seed as a reviewer would: search for a word they know, code what they find.
    found = search_case(
        world.store,
        world.policy,
        DORA,
        data_dir=world.data_dir,
        reference=REF,
        terms="ladder",
        limit=3,
    )
    for h in found["hits"][:2]:
        review.code_item(
            world.store,
            world.policy,
            DORA,
            data_dir=world.data_dir,
            reference=REF,
            item_id=h["id"],
            relevance="relevant" if truth[h["id"]] else "not_relevant",
            meets_test=False,
            reason="seed",
        )
    checked = None
    for _ in range(601):
        s = review.next_item(
            world.store, world.policy, DORA, data_dir=world.data_dir, reference=REF
        )
        if s is None:
            break
        review.code_item(
            world.store,
            world.policy,
            DORA,
            data_dir=world.data_dir,
            reference=REF,
            item_id=s.item.id,
            relevance="relevant" if truth[s.item.id] else "not_relevant",
            meets_test=False,
            reason="coded",
        )
        st = review.status(world.store, REF, 601)
        if st["checks"] and st["checks"][-1]["status"] != "sampling":
            checked = st
            break
    assert checked is not None, "the knee never fired"
    c = checked["checks"][-1]
    assert c["sample"] == 40 and c["sample_relevant"] is not None
    lo, hi = checked["interval"]
    assert 0 <= lo <= checked["recall_estimate"] <= hi <= 1
    reviewed = checked["decided"]
    true_recall = sum(truth[i] for i in _coded_ids(world)) / sum(truth.values())
    assert reviewed < 601 and true_recall > 0.5


def _coded_ids(w: World) -> set[int]:
    with w.store.read() as conn:
        return {int(i) for (i,) in conn.execute(select(evidence_codes.c.item_id))}


def test_background_training_runs_in_its_own_process_and_scores_as_in_process(
    world: World, tmp_path: Path
) -> None:
    import os

    import numpy as np

    from evidence.corpus import collection
    from peel.evidence.ingest import open_case

    texts, _ = collection(300, 15, seed=9)
    _ingest(world, [chat_file(tmp_path / "t" / "Talk.txt", [("Sam Example", t) for t in texts])])
    for terms, rel in (("ladder", "relevant"), ("term1", "not_relevant")):
        hit = search_case(
            world.store, world.policy, DORA, data_dir=world.data_dir, reference=REF, terms=terms
        )["hits"][0]
        review.code_item(
            world.store,
            world.policy,
            DORA,
            data_dir=world.data_dir,
            reference=REF,
            item_id=hit["id"],
            relevance=rel,
            meets_test=False,
            reason="seed",
            train="never",
        )
    cs = open_case(world.store, world.data_dir, REF)
    assert review.retrain(world.store, cs, REF, in_process=True)
    here = learning.model_of(cs).scores.copy()
    review.forget_models()
    assert review.retrain(world.store, cs, REF, in_process=False)
    there = learning.model_of(cs).scores
    trainer = learning._trainers[cs.root]
    assert trainer.proc.pid != os.getpid() and trainer.proc.is_alive()
    assert np.allclose(here, there)
    assert not np.allclose(here, here[0])  # a real model, not the fixed order
    review.forget_models()
    assert not trainer.proc.is_alive()


@pytest.mark.parametrize(
    ("name", "header", "fmt"),
    [
        ("sms.csv", "timestamp,direction,number,contact,text", "sms"),
        ("calls.csv", "timestamp,direction,number,contact,duration", "calls"),
        ("missed.csv", "date,type,number", "calls"),
        ("contacts.csv", "name,phone,email", "contacts"),
        ("odd.csv", "a,b,c", "sms"),
        ("chat.txt", "", "whatsapp"),
        ("box.mbox", "", "mbox"),
        ("one.eml", "", "eml"),
        ("items.jsonl", "", "jsonl"),
    ],
)
def test_the_format_is_told_by_name_and_header(
    tmp_path: Path, name: str, header: str, fmt: str
) -> None:
    from peel.evidence.ingest import detect

    p = tmp_path / name
    p.write_text(header + "\n", encoding="utf-8")
    assert detect(p) == fmt


def test_an_unknown_format_is_refused_by_name(tmp_path: Path) -> None:
    from peel.evidence.ingest import detect

    p = tmp_path / "scan.pdf"
    p.write_bytes(b"%PDF")
    with pytest.raises(InputRefused, match=r"scan\.pdf"):
        detect(p)


def test_mail_sms_calls_and_json_lines_are_ingested_and_e_mails_threaded(
    world: World, tmp_path: Path
) -> None:
    d = tmp_path / "m"
    d.mkdir()
    (d / "box.mbox").write_text(
        "From a@example.com Mon Mar  3 10:00:00 2025\n"
        "From: Sam Example <sam@example.com>\nTo: alex@example.org\nSubject: the plan\n"
        "Message-ID: <one@example.com>\nDate: Mon, 03 Mar 2025 10:00:00 +0000\n\n"
        "see you at the lock-up\n\n"
        "From b@example.org Mon Mar  3 11:00:00 2025\n"
        "From: Alex Sample <alex@example.org>\nTo: sam@example.com\nSubject: Re: the plan\n"
        "Message-ID: <two@example.org>\nIn-Reply-To: <one@example.com>\n"
        "Date: Mon, 03 Mar 2025 11:00:00 +0000\n\nok, 9pm\n",
        encoding="utf-8",
    )
    (d / "sms.csv").write_text(
        "timestamp,direction,number,contact,text\n"
        "2025-03-03T12:00:00,incoming,07700 900111,Jo,where are you\n"
        "not a time,incoming,07700 900111,Jo,bad row\n",
        encoding="utf-8",
    )
    (d / "calls.csv").write_text(
        "timestamp,direction,number,contact,duration\n"
        "2025-03-03T12:05:00,outgoing,07700 900111,Jo,65\n",
        encoding="utf-8",
    )
    (d / "items.jsonl").write_text(
        '{"id": "n1", "text": "note on the van", "kind": "record"}\n{broken\n',
        encoding="utf-8",
    )
    out = _ingest(world, sorted(d.iterdir()))
    by = {f["name"]: f for f in out["files"]}
    assert by["box.mbox"]["items"] == 2 and by["calls.csv"]["items"] == 1
    # A row whose time cannot be read is kept with no time, and reported.
    assert by["sms.csv"]["items"] == 2 and by["sms.csv"]["problems"] == 1
    assert by["items.jsonl"]["items"] == 1 and by["items.jsonl"]["problems"] == 1
    assert {p["file"] for p in out["problems"]} == {"sms.csv", "items.jsonl"}
    cs = open_case(world.store, world.data_dir, REF)
    threads = {r["thread"] for r in cs.rows("WHERE kind = 'email'")}
    assert len(threads) == 1  # the reply joins its message's thread


def test_a_changed_item_is_set_aside_and_the_queue_goes_on(world: World, tmp_path: Path) -> None:
    _ingest(world, [_chat(tmp_path, n=10)])
    db = sqlite3.connect(case_dir(world.data_dir, REF) / "items.sqlite")
    db.execute(
        "UPDATE objects SET body = body || x'20' WHERE sha256 IN "
        "(SELECT sha256 FROM items WHERE id != 4)"
    )
    db.commit()
    db.close()
    served = review.next_item(
        world.store, world.policy, DORA, data_dir=world.data_dir, reference=REF
    )
    assert served is not None and served.item.id == 4
    review.code_item(
        world.store,
        world.policy,
        DORA,
        data_dir=world.data_dir,
        reference=REF,
        item_id=4,
        relevance="not_relevant",
        meets_test=False,
        reason="x",
        train="never",
    )
    assert (
        review.next_item(world.store, world.policy, DORA, data_dir=world.data_dir, reference=REF)
        is None
    )
    assert _views(world, "dora") == {4}


def test_a_search_leaves_out_a_batch_not_yet_recorded(world: World, tmp_path: Path) -> None:
    from sqlalchemy import delete

    from peel.serving.tables import evidence_batches

    _ingest(world, [_chat(tmp_path)])
    later = chat_file(tmp_path / "later" / "Other.txt", [("Sam Example", "ladder again")])
    _ingest(world, [later])
    # As if the second batch's process had died before recording it.
    with world.store.begin() as conn:
        conn.execute(delete(evidence_batches).where(evidence_batches.c.batch == 2))
    out = search_case(
        world.store, world.policy, DORA, data_dir=world.data_dir, reference=REF, terms="ladder"
    )
    assert [h["conversation"] for h in out["hits"]] == ["Group chat"]
