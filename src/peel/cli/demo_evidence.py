"""The disclosure part of `peel demo` (issue 7): the demo city's phone case ingested, a short
review by the demo disclosure officer, and the schedules written.

The city's generator writes a suspect's phone (WhatsApp chats and contacts) under
`exports/evidence/DEMO-DISC-1/` for the case DEMO/DISC/1. The demo opens that case (the
demo manager creates it and adds the disclosure officer), ingests the phone as the
disclosure officer, then plays the officer for a first stretch of review: it searches, and
codes the items the queue serves using the generator's answers (`truth/`: a demo stands in
for a person, who would read each item), so the queue has learnt something when you open
it. Then it writes the schedules. A rerun ingests nothing new (the files are known by their
hashes) and adds no decisions.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

from peel.cli.common import err
from peel.evidence import review, schedule
from peel.evidence.casesearch import search_case
from peel.evidence.ingest import ingest, open_case
from peel.governance import cases, identity

DISC_CASE = "DEMO/DISC/1"
FOLDER = "DEMO-DISC-1"
DECISIONS = 60


def _truth(city: Path) -> dict[tuple[str, int], int]:
    path = city / "truth" / "evidence" / FOLDER / "relevant.csv"
    if not path.exists():
        return {}
    with path.open(encoding="utf-8", newline="") as f:
        return {(r["file"], int(r["line"])): int(r["relevant"]) for r in csv.DictReader(f)}


def evidence_step(app: Any, city: Path, base: str) -> list[str]:
    """Run the disclosure demo; returns the lines of pages to visit (empty for a city made
    before the phone case existed)."""
    material = city / "exports" / "evidence" / FOLDER
    if not material.is_dir():
        err.print("8. disclosure: this city has no phone case (made before generator 1.1.0)")
        return []
    t0 = time.perf_counter()
    state = app.state.peel
    store, policy = state.store, state.policy
    data_dir = state.settings.data_dir
    with store.begin() as conn:
        manager = identity.caller_for(conn, policy, "manager")
        existing = cases.get_case(conn, DISC_CASE)
    if existing is None:
        cases.create_case(
            store,
            policy,
            manager,
            reference=DISC_CASE,
            title="Demo disclosure: a burglary suspect's phone",
        )
    cases.add_member(store, policy, manager, reference=DISC_CASE, username="disclosure")
    with store.begin() as conn:
        officer = identity.caller_for(
            conn,
            policy,
            "disclosure",
            purpose="disclosure",
            case_reference=DISC_CASE,
            request_id="demo-disclosure",
        )
    files = sorted(p for p in material.iterdir() if p.suffix in (".txt", ".csv"))
    out = ingest(store, policy, officer, data_dir=data_dir, reference=DISC_CASE, paths=files)
    err.print(
        f"8. disclosure case {DISC_CASE}: {len(files)} files, {out['items_stored']:,} items "
        f"stored now, {out['duplicates']:,} exact duplicates, {out['contacts']:,} contacts, "
        f"{out['problems_total']:,} problems reported"
    )
    st = review.status(store, DISC_CASE, 0)
    truth = _truth(city)
    if st["decided"] == 0 and truth:
        found = search_case(
            store,
            policy,
            officer,
            data_dir=data_dir,
            reference=DISC_CASE,
            terms="car OR motor OR van",
            limit=10,
        )
        coded = 0
        material_store = open_case(store, data_dir, DISC_CASE)
        for h in found["hits"]:  # the search's hits, coded as the officer reads them
            item = material_store.item(h["id"])
            rel = truth.get((item.file, item.line), 0)
            review.code_item(
                store,
                policy,
                officer,
                data_dir=data_dir,
                reference=DISC_CASE,
                item_id=h["id"],
                relevance="relevant" if rel else "not_relevant",
                meets_test=False,
                reason="demo: coded from the search",
                train="sync",
            )
            coded += 1
        for _ in range(DECISIONS):
            served = review.next_item(
                store, policy, officer, data_dir=data_dir, reference=DISC_CASE
            )
            if served is None:
                break
            rel = truth.get((served.item.file, served.item.line), 0)
            review.code_item(
                store,
                policy,
                officer,
                data_dir=data_dir,
                reference=DISC_CASE,
                item_id=served.item.id,
                relevance="relevant" if rel else "not_relevant",
                meets_test=False,
                reason="demo: coded from the queue",
                train="sync",
            )
            coded += 1
        err.print(f"   the demo disclosure officer searched once and coded {coded} items")
    doc = schedule.build(store, policy, officer, data_dir=data_dir, reference=DISC_CASE)
    written = schedule.write(doc, data_dir / "evidence-schedules" / FOLDER)
    rec = doc["record"]
    err.print(
        f"   review: {rec['reviewed']:,} of {rec['items']:,} items decided, "
        f"{rec['share_seen']:.1%} of the material seen; schedules (MG6C {len(doc['mg6c'])} "
        f"lines, MG6D {len(doc['mg6d'])}, MG6E {len(doc['mg6e'])}) and the review record in "
        f"{written[0].parent} ({time.perf_counter() - t0:.1f}s)"
    )
    return [
        f"{base}/evidence       disclosure review (disclosure officer; purpose disclosure, "
        f"case {DISC_CASE}): queue, search, record",
    ]


__all__ = ["DISC_CASE", "evidence_step"]
