"""`peel anpr retention`: ANPR reads past the policy's retention period leave the lake and
everything derived from them.

The cutoff is the data clock (`peel.clock.now()`) minus `policy.retention.anpr_reads_days`.
Under the lake's writer lock (no ingest runs meanwhile):

1. **Held reads.** Reads cited as evidence (`anpr_read:<row_id>`) by a product whose status is
   accepted or actioned stay, whatever their age: they belong to a case now and are kept under
   the case's retention. The output and the audit entry name those products and their case
   references, with how many old reads each holds.
2. **Plan.** `peel.lake.retention.plan` finds the old reads and the quarantined ANPR rows past
   the cutoff.
3. **Erasure entry and products** (one serving-store transaction, audited as operation
   "erasure"): lead products that are neither accepted nor actioned and cite a purged read are
   removed. A product nothing else refers to (status "new", no decision, no equality-monitoring
   row) is *deleted* with its explanation; one that other rows refer to (decisions of a rejected
   lead, `lead_monitoring`) is *redacted* instead: its subjects, claim, evidence and arithmetic,
   and its decisions' reasons and confirmations are blanked, and its status, decision history
   and monitoring bands stay, so the oversight figures stay true.
   The entry records the cutoff, counts, the held product ids and a SHA-256 of the purged ids,
   never a plate or a purged id. The statuses are checked again inside the transaction: if a
   product citing an old read was accepted since the plan, nothing is erased and the job asks
   to be run again.
4. **Lake** (`peel.lake.retention.apply`): the affected day files are rewritten without the
   purged reads and committed, one manifest per dataset, superseding the old files, which are
   then deleted; the quarantine likewise.
5. **Derived stores** (`peel.leads.derived`): caches, clone flags and published vehicle
   documents are brought in line with the lake (a second "erasure" entry when a document
   changes). On SQLite the store's deletions and updates overwrite the old bytes
   (`secure_delete`) and the write-ahead log is checkpointed and truncated.

A crash anywhere leaves a consistent lake (old or new files per dataset) and a rerun finishes:
steps 1 to 4 find what is still there, step 5 looks only at the lake as it is. The erasure
entry is written before the lake changes, so a crash between the two leaves an entry for an
erasure the rerun then completes (and records again).

The audit log itself is not rewritten: its entries about earlier searches may name purged read
ids (s.62 logs are kept for their own period, `retention.audit_years`); the ids then point at
nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Connection, Table, Text, cast, delete, select, update

from peel import clock as data_clock
from peel.errors import AccessDenied, PeelError
from peel.governance.access import Caller, check, operation, record_denial
from peel.governance.policy import Policy
from peel.lake import Lake
from peel.lake import retention as lake_retention
from peel.leads import derived
from peel.serving import Store
from peel.serving.tables import decisions, explanations, metadata, products

log = logging.getLogger(__name__)
PERMISSION = "retention.run"
HOLDING = ("accepted", "actioned")
READ = "anpr_read:"
REDACTED = "[redacted: the ANPR reads behind this product passed their retention period]"
Clock = Callable[[], datetime]


def _wall() -> datetime:
    return datetime.now(UTC)


@dataclass
class Cited:
    """A product whose evidence cites ANPR reads."""

    id: str
    status: str
    case_reference: str | None
    reads: list[str]
    referenced: bool = False  # a decision or a monitoring row refers to it

    @property
    def deletable(self) -> bool:
        return self.status == "new" and not self.referenced


@dataclass
class ProductChanges:
    deleted: list[str] = field(default_factory=list)
    redacted: list[str] = field(default_factory=list)


def cited_reads(conn: Connection, *, holding: bool) -> list[Cited]:
    """Products citing ANPR reads: those holding them (accepted, actioned) or the others."""
    status = products.c.status.in_(HOLDING) if holding else products.c.status.not_in(HOLDING)
    rows = conn.execute(
        select(products.c.id, products.c.status, products.c.case_reference, explanations.c.evidence)
        .join(explanations, explanations.c.product_id == products.c.id)
        .where(status, cast(explanations.c.evidence, Text).like(f"%{READ}%"))
        .order_by(products.c.id)
    ).all()
    referenced = _referenced(conn, [r.id for r in rows]) if rows and not holding else set()
    out = []
    for r in rows:
        reads = [str(e)[len(READ) :] for e in (r.evidence or []) if str(e).startswith(READ)]
        if reads:
            out.append(Cited(r.id, r.status, r.case_reference, reads, r.id in referenced))
    return out


def _referring_tables() -> list[Table]:
    """Tables other than explanations whose rows refer to a product (decisions, equality
    monitoring, and whatever is added later)."""
    return [
        t
        for t in metadata.sorted_tables
        if t is not explanations and any(fk.column.table is products for fk in t.foreign_keys)
    ]


def _referenced(conn: Connection, ids: list[str]) -> set[str]:
    """The products among `ids` that some other row refers to."""
    out: set[str] = set()
    for table in _referring_tables():
        col = next(fk.parent for fk in table.foreign_keys if fk.column.table is products)
        for i in range(0, len(ids), 500):
            out.update(r[0] for r in conn.execute(select(col).where(col.in_(ids[i : i + 500]))))
    return out


def _citing(items: list[Cited], ids: np.ndarray) -> list[Cited]:
    """The products citing any of `ids` (sorted 16-byte values)."""
    if not len(ids):
        return []
    return [c for c in items if np.isin(lake_retention.ids_array(c.reads), ids).any()]


def _held_summary(held: list[Cited], found: np.ndarray) -> list[dict[str, Any]]:
    out = []
    for c in held:
        n = int(np.isin(lake_retention.ids_array(c.reads), found).sum()) if len(found) else 0
        if n:
            out.append(
                {
                    "product_id": c.id,
                    "case_reference": c.case_reference,
                    "status": c.status,
                    "reads_held": n,
                }
            )
    return out


def erase_products(conn: Connection, items: list[Cited]) -> ProductChanges:
    """Delete the products nothing refers to, redact the others (see the module docstring)."""
    out = ProductChanges()
    for c in items:
        if c.deletable:
            conn.execute(delete(explanations).where(explanations.c.product_id == c.id))
            conn.execute(delete(products).where(products.c.id == c.id))
            out.deleted.append(c.id)
            continue
        conn.execute(update(products).where(products.c.id == c.id).values(subject_ids=[]))
        conn.execute(
            update(explanations)
            .where(explanations.c.product_id == c.id)
            .values(claim=REDACTED, evidence=[], arithmetic=[])
        )
        conn.execute(
            update(decisions)
            .where(decisions.c.product_id == c.id)
            .values(reason=REDACTED, confirmation=None)
        )
        out.redacted.append(c.id)
    return out


def _secure_delete(conn: Connection) -> None:
    """SQLite: deleted and replaced rows are overwritten with zeros, not left in free pages."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA secure_delete = ON")


def _checkpoint(store: Store) -> None:
    """SQLite: copy the write-ahead log into the database and truncate it, so the old pages
    are gone from both files (best effort: a long reader can hold it back)."""
    if store.dialect != "sqlite":
        return
    raw = store.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        busy = cur.fetchone()
        cur.close()
        if busy and busy[0]:
            log.warning("retention: the write-ahead log could not be truncated (a reader is open)")
    finally:
        raw.close()


def _authorise(
    store: Store, policy: Policy, caller: Caller, *, dry_run: bool, clock: Clock
) -> None:
    try:
        check(policy, caller, PERMISSION)
    except AccessDenied:
        record_denial(
            store,
            caller,
            operation="consultation" if dry_run else "erasure",
            object_type="anpr_read",
            query={"dry_run": dry_run},
            clock=clock,
        )
        raise


def run_retention(
    lake: Lake,
    store: Store,
    policy: Policy,
    caller: Caller,
    *,
    dry_run: bool = False,
    clock: Clock = _wall,
) -> dict[str, Any]:
    """Apply the ANPR read retention (or, with `dry_run`, report what it would do)."""
    started = time.perf_counter()
    _authorise(store, policy, caller, dry_run=dry_run, clock=clock)
    days = policy.retention.anpr_reads_days
    cutoff = data_clock.now() - timedelta(days=days)
    with lake.catalog.writer_lock():
        lake.catalog.recover()
        with store.read() as conn:
            held = cited_reads(conn, holding=True)
            others = cited_reads(conn, holding=False)
        held_ids = lake_retention.ids_array({r for c in held for r in c.reads})
        plan = lake_retention.plan(lake, cutoff, held_ids)
        erase = _citing(others, plan.purged)
        summary: dict[str, Any] = {
            "cutoff": cutoff.isoformat(),
            "policy_days": days,
            "reads_examined": plan.examined,
            "reads_deleted": plan.reads_deleted,
            "reads_held": len(plan.held_found),
            "held_by_product": _held_summary(held, plan.held_found),
            "purged_ids_sha256": plan.sha256(),
            "quarantine_rows_examined": plan.quarantine_examined,
            "quarantine_rows_deleted": plan.quarantine_deleted,
        }
        if dry_run:
            caches = derived.stale_caches(lake, remove=False)
            report = {
                **summary,
                "dry_run": True,
                "files_to_rewrite": len(plan.files) + len(plan.quarantine),
                "derived": {
                    "products_to_delete": sum(1 for c in erase if c.deletable),
                    "products_to_redact": sum(1 for c in erase if not c.deletable),
                    "background_cache_files": caches.background_files,
                    "calibration_entries": caches.calibration_entries,
                },
            }
            with operation(
                store,
                policy,
                caller,
                permission=PERMISSION,
                operation="consultation",
                object_type="anpr_read",
                query={k: v for k, v in report.items() if k != "derived"},
                clock=clock,
            ):
                pass
            report["seconds"] = round(time.perf_counter() - started, 2)
            return report
        with operation(
            store,
            policy,
            caller,
            permission=PERMISSION,
            operation="erasure",
            object_type="anpr_read",
            query=summary,
            clock=clock,
        ) as op:
            _secure_delete(op.conn)
            # Decisions taken since the plan: a product now holding a purged read stops the job.
            now_held = lake_retention.ids_array(
                {r for c in cited_reads(op.conn, holding=True) for r in c.reads}
            )
            if len(now_held) and np.isin(now_held, plan.purged).any():
                raise PeelError(
                    "retention: a product citing an old read was accepted or actioned while the "
                    "job ran; nothing was erased, run it again"
                )
            changes = erase_products(
                op.conn, _citing(cited_reads(op.conn, holding=False), plan.purged)
            )
            op.query["products_deleted"] = len(changes.deleted)
            op.query["products_redacted"] = len(changes.redacted)
            op.returned(f"product:{p}" for p in changes.deleted + changes.redacted)
        applied = lake_retention.apply(
            lake,
            plan,
            details={
                "cutoff": summary["cutoff"],
                "policy_days": days,
                "purged_ids_sha256": summary["purged_ids_sha256"],
                "run_by": caller.username,
            },
        )
        counts = _sync(lake, store, policy, caller, clock=clock)
    _checkpoint(store)
    return {
        **summary,
        "dry_run": False,
        "files_rewritten": applied.files_rewritten + applied.quarantine_files_rewritten,
        "files_deleted": applied.files_deleted,
        "manifests": applied.manifests,
        "derived": {
            "products_deleted": len(changes.deleted),
            "products_redacted": len(changes.redacted),
            **counts,
        },
        "seconds": round(time.perf_counter() - started, 2),
    }


def _sync(
    lake: Lake, store: Store, policy: Policy, caller: Caller, *, clock: Clock
) -> dict[str, int]:
    """Step 5: derived stores in line with the lake (audited when a document changes)."""
    caches = derived.stale_caches(lake, remove=True)
    with store.read() as conn:
        docs = derived.vehicle_documents(conn)
    clone_rows = derived.sync_clone_flags(lake, docs)
    fresh = derived.refreshed_documents(lake, docs)
    if fresh:
        with operation(
            store,
            policy,
            caller,
            permission=PERMISSION,
            operation="erasure",
            object_type="vehicle_profile",
            # Counts only: the documents are keyed by plate.
            query={"step": "derived", "vehicle_profiles_updated": len(fresh)},
            clock=clock,
        ) as op:
            _secure_delete(op.conn)
            derived.write_documents(op.conn, fresh)
    return {
        "vehicle_profiles_updated": len(fresh),
        "plate_clone_rows_removed": clone_rows,
        "background_cache_files_removed": caches.background_files,
        "calibration_entries_removed": caches.calibration_entries,
    }


__all__ = ["HOLDING", "PERMISSION", "cited_reads", "erase_products", "run_retention"]
