"""The disclosure schedules and the review record: who goes where (MG6C, MG6D, MG6E), block
lists that add up, redacted descriptions, hashes checked again at export, and the export
audited as a disclosure (serving store: SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest
from review_world import REF, World, chat_file, clock, make_world, reviewer
from sqlalchemy import select

from peel.evidence import review
from peel.evidence.casesearch import search_case
from peel.evidence.ingest import ingest
from peel.evidence.schedule import MG6C_COLUMNS, build, write
from peel.evidence.store import EvidenceTampered, case_dir
from peel.governance import audit
from peel.serving import Store
from peel.serving.tables import audit_log, evidence_views

DORA = reviewer("dora")
PHONE = "07700 900461"
EMAIL = "sam.example@example.com"


@pytest.fixture
def reviewed(store: Store, data_dir: Path, tmp_path: Path) -> World:
    review.forget_models()
    w = make_world(store, data_dir)
    msgs = [("Sam Example", f"ordinary chatter number {i}") for i in range(40)]
    msgs[4] = ("Alex Sample", f"ring Jo Bloggs on {PHONE} about the ladder")
    msgs[9] = ("Sam Example", f"email me at {EMAIL} re the informant")
    msgs[15] = ("Alex Sample", "I was at home all night, not at the garage")
    chat = chat_file(tmp_path / "phone" / "Crew.txt", msgs)
    contacts = tmp_path / "phone" / "contacts.csv"
    contacts.write_text(f"name,phone,email\nJo Bloggs,{PHONE},\n", encoding="utf-8")
    ingest(
        store, w.policy, DORA, data_dir=data_dir, reference=REF, paths=[chat, contacts], clock=clock
    )

    def code(terms: str, relevance: str, meets: bool, reason: str) -> None:
        hit = search_case(store, w.policy, DORA, data_dir=data_dir, reference=REF, terms=terms)[
            "hits"
        ][0]
        review.code_item(
            store,
            w.policy,
            DORA,
            data_dir=data_dir,
            reference=REF,
            item_id=hit["id"],
            relevance=relevance,
            meets_test=meets,
            reason=reason,
            train="never",
        )

    code("ladder", "relevant", False, "arranges the ladder")
    code("informant", "sensitive", False, "names a covert source")
    code('"home all night"', "relevant", True, "an alibi: may assist the defence")
    for i in range(20, 30):
        code(f"chatter AND {i}", "not_relevant", False, "social chatter")
    return w


def test_items_go_to_the_right_schedule_and_the_blocks_add_up(
    reviewed: World, tmp_path: Path
) -> None:
    w = reviewed
    doc = build(w.store, w.policy, DORA, data_dir=w.data_dir, reference=REF, clock=clock)
    mg6c, mg6d, mg6e = doc["mg6c"], doc["mg6d"], doc["mg6e"]
    singles = [r for r in mg6c if r["reviewed"] == "relevant, non-sensitive"]
    assert len(singles) == 2
    assert len(mg6d) == 1 and mg6d[0]["reason_for_sensitivity"] == "names a covert source"
    assert len(mg6e) == 1 and "alibi" in mg6e[0]["how_it_meets_the_test"]
    blocks = [r for r in mg6c if r["reviewed"] == "not relevant"]
    assert sum(r["items"] for r in blocks) == 10
    assert "10 messages" in blocks[0]["description"] and "not relevant" in blocks[0]["description"]
    assert blocks[0]["location"] == "items 22-31 (block)"
    left = [r for r in mg6c if r["reviewed"] == "not reviewed"]
    assert sum(r["items"] for r in left) == 41 - 13  # 40 messages + the notice, 13 coded
    rec = doc["record"]
    assert rec["reviewed"] == 13 and rec["items"] == 41
    assert [s["terms"] for s in rec["searches"]][:2] == ["ladder", "informant"]
    assert rec["batches"][0]["manifest_sha256"]
    files = write(doc, tmp_path / "out")
    names = sorted(p.name for p in files)
    assert names == sorted(
        [
            "MG6C.csv",
            "MG6D.csv",
            "MG6E.csv",
            "review-record.json",
            "MG6C.pdf",
            "MG6D.pdf",
            "MG6E.pdf",
            "review-record.pdf",
        ]
    )
    with (tmp_path / "out" / "MG6C.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == MG6C_COLUMNS and len(rows) == len(mg6c)
    for p in files:
        if p.suffix == ".pdf":
            assert p.read_bytes().startswith(b"%PDF")


def test_descriptions_are_redacted_unless_asked_otherwise(reviewed: World, tmp_path: Path) -> None:
    w = reviewed
    doc = build(w.store, w.policy, DORA, data_dir=w.data_dir, reference=REF, clock=clock)
    text = " ".join(str(v) for r in doc["mg6c"] + doc["mg6d"] + doc["mg6e"] for v in r.values())
    assert PHONE not in text and EMAIL not in text and "Jo Bloggs" not in text
    assert "ladder" in text  # the rest of the description stays
    plain = build(
        w.store, w.policy, DORA, data_dir=w.data_dir, reference=REF, redacted=False, clock=clock
    )
    assert any(PHONE in r["description"] for r in plain["mg6c"])


def test_the_export_is_audited_and_what_it_describes_is_counted_as_seen(
    reviewed: World,
) -> None:
    w = reviewed
    doc = build(w.store, w.policy, DORA, data_dir=w.data_dir, reference=REF, clock=clock)
    with w.store.read() as conn:
        (entry,) = [
            audit.decode(r)
            for r in conn.execute(
                select(audit_log).where(audit_log.c.object_type == "evidence_schedule")
            ).mappings()
        ]
        seen = {int(r[0]) for r in conn.execute(select(evidence_views.c.item_id))}
    assert entry["operation"] == "disclosure" and entry["recipient"]
    # The three items described one by one (relevant twice, sensitive) are named, and seen.
    named = {int(x.split("#")[1]) for x in entry["object_ids"]}
    assert len(named) == 3 and named <= seen
    assert entry["query"]["mg6e"] == len(doc["mg6e"]) == 1


def test_a_changed_item_blocks_the_export(reviewed: World) -> None:
    w = reviewed
    db = sqlite3.connect(case_dir(w.data_dir, REF) / "items.sqlite")
    db.execute(
        "UPDATE objects SET body = body || x'20' WHERE sha256 = "
        "(SELECT sha256 FROM items WHERE id = 6)"
    )  # the ladder message
    db.commit()
    db.close()
    with pytest.raises(EvidenceTampered, match="item 6"):
        build(w.store, w.policy, DORA, data_dir=w.data_dir, reference=REF, clock=clock)
