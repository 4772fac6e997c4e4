"""The live review of a case: a queue that serves the next most-likely-relevant item, coding
decisions, second review, and the stopping rule, with everything shown counted as seen.

The method is the one `peel evidence simulate` replays (continuous active learning with
BMI's features, model and batch growth: `peel.evidence.bmi`; the knee method and a random
elusion sample: `peel.evidence.stopping`), run over the serving store's decisions:

- **Serving** (`next_item`): an item a reviewer already holds; else an item of an open
  elusion sample; else an item due a second review (someone else's "not relevant"); else
  the unreviewed item with the highest score of the latest model (before there is a model,
  a fixed random order). The item is leased to the reviewer (one reviewer at a time; a lease
  lapses after LEASE_MINUTES), recorded as viewed, and the consultation audited.
- **Coding** (`code_item`): relevant, not relevant or sensitive, whether it meets the
  disclosure test, and a reason. The item's exact duplicates are coded with it, each
  recorded as a duplicate of it. A share (SECOND_REVIEW_SHARE) of "not relevant" decisions,
  picked by a hash of the case and item (so no one chooses), goes to a second reviewer; the
  overturn rate is in the review record. Reviewers start by searching for what they know and
  coding what they find; the model trains once both kinds of decision exist.
- **Learning**: after every BMI batch of new decisions (1, 2, ... growing by a tenth) the
  model is retrained on every decision so far and every item rescored; in the app this runs
  in a background thread, so a decision never waits for it.
- **Stopping**: after each retraining, the knee method on the gain curve of the ranked and
  search decisions; when it fires (and the review has grown by a tenth since the last
  check), a random elusion sample of SAMPLE unreviewed items is opened and served first.
  When all of it is coded, the recall estimate and its interval are recorded, with whether
  the target recall (TARGET_RECALL, 0.8) is reached.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, and_, delete, func, insert, select, update

from peel.errors import AccessDenied, InputRefused
from peel.evidence.ingest import PERMISSION, open_case
from peel.evidence.ingest import authorise as check_access
from peel.evidence.learning import (
    Model,
    forget_models,
    labels_of,
    model_of,
    retrain,
)
from peel.evidence.stopping import elusion_estimate, knee
from peel.evidence.store import CaseStore, EvidenceTampered, StoredItem
from peel.governance.access import Caller, operation
from peel.governance.policy import Policy
from peel.serving import Store
from peel.serving.tables import (
    evidence_checks,
    evidence_codes,
    evidence_leases,
    evidence_views,
)

RELEVANCE = ("relevant", "not_relevant", "sensitive")
FIRST_STAGES = ("ranked", "search", "elusion", "duplicate")
LEASE_MINUTES = 30
SECOND_REVIEW_SHARE = 0.10
SAMPLE = 385
TARGET_RECALL = 0.8
MAX_REASON = 2_000
MAX_SKIPPED = 20  # changed items set aside in one request before giving up

logger = logging.getLogger(__name__)


def now_utc() -> datetime:
    return datetime.now(UTC)


def target_recall(policy: Policy) -> float:
    """The recall a review aims at: TARGET_RECALL (0.8) for every case for now; the policy
    has no setting for it yet (the issue's "policy default 80%")."""
    del policy
    return TARGET_RECALL


def second_review_due(reference: str, item_id: int) -> bool:
    h = hashlib.sha256(f"{reference}:{item_id}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64 < SECOND_REVIEW_SHARE


# -- access ---------------------------------------------------------------------------------
def authorise(store: Store, policy: Policy, caller: Caller, reference: str, what: str) -> None:
    """`peel.evidence.ingest.authorise` for a consultation of the case's items."""
    check_access(
        store,
        policy,
        caller,
        reference,
        operation="consultation",
        object_type="evidence_item",
        action=what,
    )


def record_views(
    conn: Connection, reference: str, username: str, ids: list[int], how: str, at: datetime
) -> None:
    if not ids:
        return
    have = {
        int(i)
        for (i,) in conn.execute(
            select(evidence_views.c.item_id).where(
                evidence_views.c.case_reference == reference,
                evidence_views.c.username == username,
                evidence_views.c.item_id.in_(ids),
            )
        )
    }
    new = [i for i in dict.fromkeys(ids) if i not in have]
    if new:
        conn.execute(
            insert(evidence_views),
            [
                {
                    "case_reference": reference,
                    "item_id": i,
                    "username": username,
                    "how": how,
                    "first_viewed_at": at,
                }
                for i in new
            ],
        )


# -- serving --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Served:
    item: StoredItem
    stage: str
    expires_at: datetime


def _coded(conn: Connection, reference: str) -> tuple[set[int], set[int], dict[int, str]]:
    """(items with a first decision, items with a second review, first reviewer of each
    'not relevant' item due a second review)."""
    first: set[int] = set()
    second: set[int] = set()
    due: dict[int, str] = {}
    for iid, stage, rel, who in conn.execute(
        select(
            evidence_codes.c.item_id,
            evidence_codes.c.stage,
            evidence_codes.c.relevance,
            evidence_codes.c.reviewer,
        ).where(evidence_codes.c.case_reference == reference)
    ):
        iid = int(iid)
        if stage == "second":
            second.add(iid)
            continue
        first.add(iid)
        if (
            stage in ("ranked", "search")
            and rel == "not_relevant"
            and second_review_due(reference, iid)
        ):
            due[iid] = str(who)
    return first, second, {i: w for i, w in due.items() if i not in second}


def _open_check(conn: Connection, reference: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(evidence_checks)
        .where(
            evidence_checks.c.case_reference == reference, evidence_checks.c.status == "sampling"
        )
        .order_by(evidence_checks.c.id.desc())
    ).first()
    return None if row is None else dict(row._mapping)


def _pick(
    conn: Connection,
    reference: str,
    m: Model,
    me: str,
    mine: list[tuple[int, str]],
    leases: dict[int, tuple[str, str]],
    first: set[int],
    due: dict[int, str],
) -> tuple[int, str] | None:
    """The next (item, stage) for `me`: held, elusion sample, second review, ranked."""
    if mine:
        return mine[0]
    skip = m.blocked
    chk = _open_check(conn, reference)
    if chk is not None:
        for i in chk["sample_items"]:
            if i not in first and i not in leases and i not in skip:
                return int(i), "elusion"
    for i, who in sorted(due.items()):
        if who != me and i not in leases and i not in skip:
            return i, "second"
    with m.lock:
        scores = m.scores.copy()
    taken = [i - 1 for i in (first | set(leases) | skip) if 0 < i <= m.items]
    scores[taken] = -np.inf
    # Highest score first; on a tie the lowest id (argmax takes the first). Exact duplicates
    # of a coded item are coded with it, so never served.
    if m.items and len(set(taken)) < m.items:
        return int(np.argmax(scores)) + 1, "ranked"
    return None


def next_item(
    store: Store,
    policy: Policy,
    caller: Caller,
    *,
    data_dir: Path,
    reference: str,
    clock: Callable[[], datetime] = now_utc,
) -> Served | None:
    """Lease and show the caller their next item (see the module docstring); None when
    every item has its decisions."""
    authorise(store, policy, caller, reference, "next")
    cs = open_case(store, data_dir, reference)
    m = model_of(cs)
    at = clock()
    me = caller.username
    with operation(
        store,
        policy,
        caller,
        permission=PERMISSION,
        operation="consultation",
        object_type="evidence_item",
        query={"case": reference, "action": "next"},
        clock=clock,
    ) as op:
        conn = op.conn
        conn.execute(
            delete(evidence_leases).where(
                evidence_leases.c.case_reference == reference, evidence_leases.c.expires_at < at
            )
        )
        leases = {
            int(i): (str(w), str(s))
            for i, w, s in conn.execute(
                select(
                    evidence_leases.c.item_id, evidence_leases.c.reviewer, evidence_leases.c.stage
                ).where(evidence_leases.c.case_reference == reference)
            )
        }
        mine = [(i, s) for i, (w, s) in leases.items() if w == me and i not in m.blocked]
        first, _second, due = _coded(conn, reference) if not mine else (set(), set(), {})
        item: StoredItem | None = None
        pick: tuple[int, str] | None = None
        # A changed item is never served: it is set aside (and reported by `status`), and the
        # next candidate is taken, so one bad item cannot stop the queue for everyone.
        for _ in range(MAX_SKIPPED + 1):
            pick = _pick(conn, reference, m, me, mine, leases, first, due)
            if pick is None:
                break
            try:
                item = cs.item(pick[0])
                break
            except EvidenceTampered:
                logger.warning(
                    "case %s: item %s changed since ingest, set aside", reference, pick[0]
                )
                with m.lock:
                    m.blocked.add(pick[0])
                mine = [x for x in mine if x[0] != pick[0]]
                pick = None
        if pick is None or item is None:
            return None
        iid, stage = pick
        expires = at + timedelta(minutes=LEASE_MINUTES)
        if not mine:
            conn.execute(
                insert(evidence_leases).values(
                    case_reference=reference,
                    item_id=iid,
                    reviewer=me,
                    stage=stage,
                    leased_at=at,
                    expires_at=expires,
                )
            )
        else:
            conn.execute(
                update(evidence_leases)
                .where(
                    and_(
                        evidence_leases.c.case_reference == reference,
                        evidence_leases.c.item_id == iid,
                    )
                )
                .values(expires_at=expires)
            )
        record_views(conn, reference, me, [iid], "served", at)
        op.query["stage"] = stage
        op.returned([f"{reference}#{iid}"])
    return Served(item, stage, expires)


def show_context(
    store: Store,
    policy: Policy,
    caller: Caller,
    *,
    data_dir: Path,
    reference: str,
    item_id: int,
    k: int = 3,
    clock: Callable[[], datetime] = now_utc,
) -> list[StoredItem]:
    """At most k items either side of `item_id` in its conversation (k at most 10), each
    recorded as viewed. The caller must have been shown `item_id` already."""
    authorise(store, policy, caller, reference, "context")
    k = max(0, min(int(k), 10))
    cs = open_case(store, data_dir, reference)
    with operation(
        store,
        policy,
        caller,
        permission=PERMISSION,
        operation="consultation",
        object_type="evidence_item",
        query={"case": reference, "action": "context", "item": item_id, "k": k},
        clock=clock,
    ) as op:
        seen = op.conn.execute(
            select(evidence_views.c.item_id).where(
                evidence_views.c.case_reference == reference,
                evidence_views.c.username == caller.username,
                evidence_views.c.item_id == item_id,
            )
        ).first()
        if seen is None:
            raise AccessDenied("context is shown only around an item you were shown")
        ids = cs.context(item_id, k)
        got = cs.items(ids)
        record_views(op.conn, reference, caller.username, [s.id for s in got], "context", clock())
        op.returned([f"{reference}#{s.id}" for s in got])
    return got


def code_item(
    store: Store,
    policy: Policy,
    caller: Caller,
    *,
    data_dir: Path,
    reference: str,
    item_id: int,
    relevance: str,
    meets_test: bool,
    reason: str,
    code_duplicates: bool = True,
    clock: Callable[[], datetime] = now_utc,
    train: str = "sync",
) -> dict[str, Any]:
    """Record the caller's decision on an item they hold (or found by a search and were
    shown). `train`: "sync" retrains here when a batch is due, "background" in a thread,
    "never" leaves it (tests). Returns what was recorded."""
    if relevance not in RELEVANCE:
        raise InputRefused(f"relevance must be one of {', '.join(RELEVANCE)}")
    reason = (reason or "").strip()
    if not reason:
        raise InputRefused("give a reason for the decision")
    if len(reason) > MAX_REASON:
        raise InputRefused(f"a reason has at most {MAX_REASON:,} characters")
    authorise(store, policy, caller, reference, "code")
    cs = open_case(store, data_dir, reference)
    me, at = caller.username, clock()
    with operation(
        store,
        policy,
        caller,
        permission=PERMISSION,
        operation="alteration",
        object_type="evidence_item",
        query={
            "case": reference,
            "action": "code",
            "relevance": relevance,
            "meets_test": bool(meets_test),
        },
        clock=clock,
    ) as op:
        conn = op.conn
        lease = conn.execute(
            select(evidence_leases.c.reviewer, evidence_leases.c.stage).where(
                evidence_leases.c.case_reference == reference,
                evidence_leases.c.item_id == item_id,
            )
        ).first()
        first, _second, due = _coded(conn, reference)
        if lease is not None and lease.reviewer == me:
            stage = str(lease.stage)
        elif lease is not None:
            raise AccessDenied(f"item {item_id} is with another reviewer")
        else:
            shown = conn.execute(
                select(evidence_views.c.how).where(
                    evidence_views.c.case_reference == reference,
                    evidence_views.c.username == me,
                    evidence_views.c.item_id == item_id,
                )
            ).first()
            if shown is None:
                raise AccessDenied("code an item you were served or shown by a search")
            if item_id in first:
                raise InputRefused(f"item {item_id} has its decision already")
            stage = "search"
        if stage == "second" and due.get(item_id) == me:
            raise AccessDenied("a second review is by another reviewer")
        stored = cs.item(item_id)
        rows = [
            {
                "case_reference": reference,
                "item_id": item_id,
                "sha256": stored.sha256,
                "reviewer": me,
                "relevance": relevance,
                "meets_test": bool(meets_test),
                "reason": reason,
                "stage": stage,
                "duplicate_of": None,
                "coded_at": at,
            }
        ]
        dups: list[int] = []
        if code_duplicates and stage != "second":
            dups = [
                int(r["id"])
                for r in cs.rows("WHERE sha256 = ? AND id != ?", (stored.sha256, item_id))
                if int(r["id"]) not in first
            ]
            rows += [
                {**rows[0], "item_id": d, "stage": "duplicate", "duplicate_of": item_id}
                for d in dups
            ]
        conn.execute(insert(evidence_codes), rows)
        conn.execute(
            delete(evidence_leases).where(
                evidence_leases.c.case_reference == reference,
                evidence_leases.c.item_id.in_([item_id, *dups]),
            )
        )
        op.returned([f"{reference}#{i}" for i in (item_id, *dups)])
        if stage == "elusion":
            _maybe_close_check(conn, cs, reference, at)
    m = model_of(cs)
    with store.read() as conn:
        decided = conn.execute(
            select(func.count(func.distinct(evidence_codes.c.item_id))).where(
                evidence_codes.c.case_reference == reference
            )
        ).scalar_one()
    if decided - m.trained_on >= m.batch and train != "never":
        if train == "background":
            _train_in_background(store, cs, reference, policy, clock)
        else:
            after_training(store, cs, reference, policy, clock)
    return {"item": item_id, "stage": stage, "duplicates": dups, "relevance": relevance}


def _train_in_background(
    store: Store, cs: CaseStore, reference: str, policy: Policy, clock: Callable[[], datetime]
) -> None:
    m = model_of(cs)
    with m.lock:
        if m.training:
            return
        m.training = True

    def work() -> None:
        try:
            after_training(store, cs, reference, policy, clock, in_process=False)
        finally:
            m.training = False

    threading.Thread(target=work, name=f"peel-review-train-{reference}", daemon=True).start()


def gains(conn: Connection, reference: str) -> list[int]:
    """The review's gain curve: relevant found among the first r ranked or search decisions."""
    out: list[int] = []
    total = 0
    for (rel,) in conn.execute(
        select(evidence_codes.c.relevance)
        .where(
            evidence_codes.c.case_reference == reference,
            evidence_codes.c.stage.in_(("ranked", "search")),
        )
        .order_by(evidence_codes.c.id)
    ):
        total += int(rel != "not_relevant")
        out.append(total)
    return out


def after_training(
    store: Store,
    cs: CaseStore,
    reference: str,
    policy: Policy,
    clock: Callable[[], datetime],
    *,
    in_process: bool = True,
) -> None:
    """Retrain, then run the knee check; open an elusion sample when it fires."""
    retrain(store, cs, reference, in_process=in_process)
    with store.begin() as conn:
        if _open_check(conn, reference) is not None:
            return
        g = gains(conn, reference)
        k = knee(g)
        if not k.fires:
            return
        reviewed = conn.execute(
            select(func.count(func.distinct(evidence_codes.c.item_id))).where(
                evidence_codes.c.case_reference == reference
            )
        ).scalar_one()
        last = conn.execute(
            select(func.max(evidence_checks.c.reviewed)).where(
                evidence_checks.c.case_reference == reference
            )
        ).scalar_one()
        if last is not None and reviewed < 1.1 * last:
            return
        first, _, _ = _coded(conn, reference)
        mask = np.ones(cs.count() + 1, bool)
        mask[0] = False
        mask[[i for i in first if i < len(mask)]] = False
        left = np.flatnonzero(mask)
        if len(left) == 0:
            return
        n_checks = conn.execute(
            select(func.count()).where(evidence_checks.c.case_reference == reference)
        ).scalar_one()
        seed = int(hashlib.sha256(f"{reference}:check:{n_checks}".encode()).hexdigest()[:8], 16)
        drawn = np.random.default_rng(seed).choice(left, size=min(SAMPLE, len(left)), replace=False)
        conn.execute(
            insert(evidence_checks).values(
                case_reference=reference,
                reviewed=int(reviewed),
                knee_rank=k.rank,
                sample_items=sorted(int(i) for i in drawn),
                target=target_recall(policy),
                status="sampling",
                opened_at=clock(),
            )
        )


def _maybe_close_check(conn: Connection, cs: CaseStore, reference: str, at: datetime) -> None:
    chk = _open_check(conn, reference)
    if chk is None:
        return
    labels = labels_of(conn, reference)
    sample = [int(i) for i in chk["sample_items"]]
    if any(i not in labels for i in sample):
        return
    k = sum(labels[i] for i in sample)
    found = sum(labels.values())
    unreviewed = cs.count() - len(labels)
    est = elusion_estimate(found, len(sample), k, unreviewed)
    conn.execute(
        update(evidence_checks)
        .where(evidence_checks.c.id == chk["id"])
        .values(
            sample_relevant=k,
            estimate=est.recall,
            low=est.low,
            high=est.high,
            status="reached" if est.recall >= chk["target"] else "not_reached",
            closed_at=at,
        )
    )


def status(store: Store, reference: str, items: int) -> dict[str, Any]:
    """Counts for the review record and the queue page (no item content)."""
    with store.read() as conn:
        decided = conn.execute(
            select(evidence_codes.c.stage, evidence_codes.c.relevance, func.count())
            .where(evidence_codes.c.case_reference == reference)
            .group_by(evidence_codes.c.stage, evidence_codes.c.relevance)
        ).all()
        seen = conn.execute(
            select(func.count(func.distinct(evidence_views.c.item_id))).where(
                evidence_views.c.case_reference == reference
            )
        ).scalar_one()
        checks = [
            dict(r._mapping)
            for r in conn.execute(
                select(evidence_checks)
                .where(evidence_checks.c.case_reference == reference)
                .order_by(evidence_checks.c.id)
            )
        ]
        first, _second, due = _coded(conn, reference)
        overturned, seconds = _overturns(conn, reference)
    with store.read() as conn:
        meets = conn.execute(
            select(func.count(func.distinct(evidence_codes.c.item_id))).where(
                evidence_codes.c.case_reference == reference,
                evidence_codes.c.meets_test.is_(True),
            )
        ).scalar_one()
    by: dict[str, dict[str, int]] = {}
    for stage, rel, n in decided:
        by.setdefault(str(stage), {})[str(rel)] = int(n)
    latest = next((c for c in reversed(checks) if c["status"] != "sampling"), None)
    return {
        "items": items,
        "decided": len(first),
        "decisions": by,
        "meets_test": int(meets),
        "seen_items": int(seen),
        "share_seen": (int(seen) / items) if items else 0.0,
        "second_reviews": seconds,
        "second_reviews_due": len(due),
        "overturned": overturned,
        "overturn_rate": (overturned / seconds) if seconds else None,
        "checks": [
            {
                k: (v.isoformat() if isinstance(v, datetime) else v)
                for k, v in c.items()
                if k != "sample_items"
            }
            | {"sample": len(c["sample_items"])}
            for c in checks
        ],
        "recall_estimate": latest["estimate"] if latest else None,
        "interval": [latest["low"], latest["high"]] if latest else None,
        "target_reached": bool(latest and latest["status"] == "reached"),
    }


def _overturns(conn: Connection, reference: str) -> tuple[int, int]:
    firsts: dict[int, str] = {}
    pairs: list[tuple[str, str]] = []
    for iid, stage, rel in conn.execute(
        select(evidence_codes.c.item_id, evidence_codes.c.stage, evidence_codes.c.relevance)
        .where(evidence_codes.c.case_reference == reference)
        .order_by(evidence_codes.c.id)
    ):
        if stage == "second":
            if int(iid) in firsts:
                pairs.append((firsts[int(iid)], str(rel)))
        else:
            firsts.setdefault(int(iid), str(rel))
    return sum(1 for a, b in pairs if a != b), len(pairs)


__all__ = [
    "LEASE_MINUTES",
    "RELEVANCE",
    "SAMPLE",
    "SECOND_REVIEW_SHARE",
    "Served",
    "after_training",
    "authorise",
    "code_item",
    "forget_models",
    "gains",
    "next_item",
    "record_views",
    "retrain",
    "second_review_due",
    "show_context",
    "status",
]
