"""Benchmark: from a coding decision to the next item served, on a case of 100,000 items
(issue 7 item 3: p95 at or under 300 ms).

    .venv/bin/python benchmarks/evidence_queue.py [--items 100000] [--decisions 300]

Builds a WhatsApp export of `--items` messages (lines of 20 Newsgroups posts from
`../shared/data/text`, or made-up words when that is absent), ingests it twice into two
cases of a fresh serving store (SQLite under benchmarks/out/evidence-queue/), seeds each
review as a reviewer would (five hits of a search and the first five items the queue serves,
coded; a message is "relevant" when it mentions a car), trains the first model (timed apart:
features over the whole case), then times `--decisions` rounds of
"code the served item, serve the next" through the same functions the app calls
(`peel.evidence.review.code_item` then `next_item`: audit entries, leases, views, hashes
checked):

- **Peel**: retraining runs in a background thread (as in the app): a decision never waits
  for it;
- **baseline, same run**: retraining on the request path whenever BMI's batch is due (what
  a review tool without a background trainer does).

Prints p50, p95 and max of each, the time to ingest, and the first model (features over the
whole case). No item text is printed. Results in `--out` (JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from _common import machine, say

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data" / "text"
TOPIC = ("engine", "car", "drive", "dealer")


def lines(n: int, rng: np.random.Generator) -> list[str]:
    pool: list[str] = []
    f = DATA / "20newsgroups-bydate.parquet"
    if f.is_file():
        import pyarrow.parquet as pq

        for text in pq.read_table(f, columns=["text"]).column("text").to_pylist():
            for line in str(text).splitlines():
                line = line.strip()
                if 20 <= len(line) <= 200 and ":" not in line[:30]:
                    pool.append(line)
    if len(pool) < 1000:
        words = [f"w{i}" for i in range(5000)] + list(TOPIC)
        pool = [" ".join(rng.choice(words, size=12)) for _ in range(50_000)]
    pick = rng.integers(0, len(pool), size=n)
    return [pool[i] for i in pick]


def export(path: Path, texts: list[str]) -> None:
    t = datetime(2025, 1, 1, 8, 0)
    people = ["Sam Example", "Alex Sample", "Jo Test", "Chris Demo"]
    with path.open("w", encoding="utf-8") as f:
        for i, text in enumerate(texts):
            at = t + timedelta(seconds=37 * i)
            f.write(f"{at:%d/%m/%Y}, {at:%H:%M} - {people[i % 4]}: {text}\n")


def world(data_dir: Path) -> tuple[Any, Any]:
    from peel.governance import history
    from peel.governance.access import Caller
    from peel.governance.accounts import Accounts
    from peel.governance.cases import add_member, create_case
    from peel.serving import Store

    store = Store()
    store.migrate()
    with store.begin() as conn:
        policy = history.ensure_installed(conn).loaded.policy
    acc = Accounts(store, policy)
    root = Caller(username="root", roles=("admin",))
    acc.bootstrap(username="root", display_name="Root", password="correct horse battery staple")
    acc.add_user(root, username="ivy", display_name="Ivy", roles=["investigator"], password=None)
    acc.add_user(
        root, username="dora", display_name="Dora", roles=["disclosure_officer"], password=None
    )
    ivy = Caller(username="ivy", roles=("investigator",))
    for ref in ("BENCH/1", "BENCH/2"):
        create_case(store, policy, ivy, reference=ref, title="Queue benchmark")
        add_member(store, policy, ivy, reference=ref, username="dora")
    return store, policy


def relevant(text: str) -> bool:
    low = text.lower()
    return any(w in low for w in TOPIC)


def run_mode(
    store: Any,
    policy: Any,
    data_dir: Path,
    ref: str,
    texts: list[str],
    decisions: int,
    mode: str,
    log: list[str],
) -> dict[str, Any]:
    from peel.evidence import learning, review
    from peel.evidence.casesearch import search_case
    from peel.governance.access import Caller

    dora = Caller(
        username="dora", roles=("disclosure_officer",), purpose="disclosure", case_reference=ref
    )
    truth = {i + 1: relevant(t) for i, t in enumerate(texts)}
    t0 = time.perf_counter()
    hits = search_case(
        store, policy, dora, data_dir=data_dir, reference=ref, terms="engine OR dealer", limit=5
    )["hits"]
    seeds = [h["id"] for h in hits[:5]]
    for _ in range(5):  # and the first items the queue serves (before a model: a fixed order)
        s = review.next_item(store, policy, dora, data_dir=data_dir, reference=ref)
        if s is None:
            break
        seeds.append(s.item.id)
        review.code_item(
            store,
            policy,
            dora,
            data_dir=data_dir,
            reference=ref,
            item_id=s.item.id,
            relevance="relevant" if truth[s.item.id] else "not_relevant",
            meets_test=False,
            reason="seed",
            train="never",
        )
    for iid in seeds[: len(hits[:5])]:
        review.code_item(
            store,
            policy,
            dora,
            data_dir=data_dir,
            reference=ref,
            item_id=iid,
            relevance="relevant" if truth[iid] else "not_relevant",
            meets_test=False,
            reason="seed",
            train="never",
        )
    # The first model (features over the whole case, then a training), where each mode
    # trains: in this process (sync) or in the case's trainer process (background).
    from peel.evidence.ingest import open_case

    cs = open_case(store, data_dir, ref)
    trained = review.retrain(store, cs, ref, in_process=(mode == "sync"))
    first_model = time.perf_counter() - t0
    if not trained:
        raise SystemExit("the seed decisions were all of one kind: no model to measure")
    served = review.next_item(store, policy, dora, data_dir=data_dir, reference=ref)
    times: list[float] = []
    for _ in range(decisions):
        if served is None:
            break
        iid = served.item.id
        t = time.perf_counter()
        review.code_item(
            store,
            policy,
            dora,
            data_dir=data_dir,
            reference=ref,
            item_id=iid,
            relevance="relevant" if truth[iid] else "not_relevant",
            meets_test=False,
            reason="coded",
            train=mode,
        )
        served = review.next_item(store, policy, dora, data_dir=data_dir, reference=ref)
        times.append(time.perf_counter() - t)
    if mode == "background":  # let the last training finish, to count it
        m = learning.model_of(cs)
        for _ in range(600):
            if not m.training:
                break
            time.sleep(0.1)
    m = learning.model_of(cs)
    ms = np.array(times) * 1000
    out = {
        "trainings": m.trainings,
        "last_trained_on": m.trained_on,
        "mode": mode,
        "decisions": len(times),
        "first_model_s": round(first_model, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "max_ms": round(float(ms.max()), 1),
    }
    say(
        log,
        f"{ref} ({mode}): first model {out['first_model_s']} s; code -> next over "
        f"{out['decisions']} decisions: p50 {out['p50_ms']} ms, p95 {out['p95_ms']} ms, "
        f"max {out['max_ms']} ms; {out['trainings']} trainings, the last on "
        f"{out['last_trained_on']} decisions",
    )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--decisions", type=int, default=300)
    ap.add_argument("--out", type=Path, default=HERE / "out" / "evidence-queue.json")
    args = ap.parse_args()
    log: list[str] = []
    work = HERE / "out" / "evidence-queue"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    os.environ["PEEL_DATA_DIR"] = str(work / "peel-data")
    os.environ.pop("PEEL_DATABASE_URL", None)
    from peel.evidence.ingest import ingest
    from peel.governance.access import Caller

    rng = np.random.default_rng(7)
    texts = lines(args.items, rng)
    chat = work / "Bench chat.txt"
    export(chat, texts)
    data_dir = work / "peel-data"
    store, policy = world(data_dir)
    results: dict[str, Any] = {"items": args.items}
    for ref, mode in (("BENCH/1", "background"), ("BENCH/2", "sync")):
        dora = Caller(
            username="dora", roles=("disclosure_officer",), purpose="disclosure", case_reference=ref
        )
        t0 = time.perf_counter()
        got = ingest(store, policy, dora, data_dir=data_dir, reference=ref, paths=[chat])
        secs = time.perf_counter() - t0
        say(
            log,
            f"{ref}: ingested {got['items_stored']:,} items in {secs:.1f} s "
            f"({got['items_stored'] / secs:,.0f} items/s)",
        )
        results[f"ingest_{mode}_s"] = round(secs, 1)
        results[mode] = run_mode(store, policy, data_dir, ref, texts, args.decisions, mode, log)
    say(log, json.dumps({k: results[k] for k in ("background", "sync")}, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": machine(),
                "args": vars(args) | {"out": str(args.out)},
                "results": results,
                "log": log,
            },
            indent=1,
            default=str,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
