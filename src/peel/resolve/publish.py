"""`peel publish`: the current resolution run's profiles into the serving store.

Incremental: each document has a content hash; only new and changed profiles are written,
profiles that vanished are deleted, and the rest are left alone, so a rerun with nothing new
writes no profile. Search keys for the person check are written with their profile.

Runs as the service identity `peel-resolve` (permission `resolve.run`, purpose
`combination`) and is audited in the same transaction as the writes (operation
"combination", naming every profile written or deleted).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, delete, insert, select

from peel.governance.access import Caller, check, operation
from peel.governance.policy import Policy
from peel.lake import Lake
from peel.resolve.output import require_run
from peel.resolve.profiles import build_profiles, content_hash
from peel.resolve.search import Keys
from peel.serving import Store
from peel.serving.tables import (
    person_profiles,
    person_search_keys,
    publish_runs,
    vehicle_profiles,
)

log = logging.getLogger(__name__)
CHUNK = 500


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]


def _sync(
    conn: Connection,
    table: Table,
    key: str,
    docs: dict[str, dict[str, Any]],
    extra: Callable[[str, dict[str, Any]], dict[str, Any]],
    now: datetime,
    children: Iterable[Table] = (),
) -> tuple[list[str], list[str], int]:
    """Write new and changed documents, delete vanished ones: (written, deleted, unchanged)."""
    col = table.c[key]
    existing = {r[0]: r[1] for r in conn.execute(select(col, table.c.content_hash))}
    hashes = {k: content_hash(d) for k, d in docs.items()}
    written = sorted(k for k, h in hashes.items() if existing.get(k) != h)
    deleted = sorted(k for k in existing if k not in hashes)
    stale = [k for k in written if k in existing] + deleted
    for part in _chunks(stale):
        for child in children:
            conn.execute(delete(child).where(child.c[key].in_(part)))
        conn.execute(delete(table).where(col.in_(part)))
    rows = [
        {
            key: k,
            "content_hash": hashes[k],
            "document": docs[k],
            "published_at": now,
            **extra(k, docs[k]),
        }
        for k in written
    ]
    for i in range(0, len(rows), CHUNK):
        conn.execute(insert(table), rows[i : i + CHUNK])
    return written, deleted, len(hashes) - len(written)


def publish_profiles(
    lake: Lake,
    store: Store,
    policy: Policy,
    caller: Caller,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Any]:
    """Publish the current run; returns the counts and seconds."""
    check(policy, caller, "resolve.run")
    started = time.perf_counter()
    run = require_run(lake.settings)
    profiles = build_profiles(lake, run)
    t_build = time.perf_counter() - started
    datasets = run.card().get("datasets", [])
    now = clock()
    with operation(
        store,
        policy,
        caller,
        permission="resolve.run",
        operation="combination",
        object_type="person_profile",
        query={"run_id": run.run_id, "datasets": datasets},
        clock=clock,
    ) as op:
        conn = op.conn
        p_written, p_deleted, p_same = _sync(
            conn,
            person_profiles,
            "profile_id",
            profiles.people,
            lambda _, d: {"run_id": run.run_id, "record_count": len(d["records"])},
            now,
            children=[person_search_keys],
        )
        keys = [
            {"profile_id": pid, **Keys(sur, fore, dob).row()}
            for pid in p_written
            for sur, fore, dob in sorted(
                profiles.identities.get(pid, set()), key=lambda t: tuple(x or "" for x in t)
            )
        ]
        for i in range(0, len(keys), CHUNK):
            conn.execute(insert(person_search_keys), keys[i : i + CHUNK])
        v_written, v_deleted, v_same = _sync(
            conn, vehicle_profiles, "vrm", profiles.vehicles, lambda _, d: {}, now
        )
        counts = {
            "profiles_written": len(p_written),
            "profiles_unchanged": p_same,
            "profiles_deleted": len(p_deleted),
            "vehicles_written": len(v_written),
            "vehicles_unchanged": v_same,
            "vehicles_deleted": len(v_deleted),
        }
        conn.execute(
            insert(publish_runs).values(
                run_id=run.run_id, published_at=now, datasets=datasets, counts=counts
            )
        )
        op.returned([*p_written, *p_deleted, *(f"vehicle:{v}" for v in v_written + v_deleted)])
        op.query["counts"] = counts
    seconds = round(time.perf_counter() - started, 2)
    log.info("published run %s: %s in %.2fs", run.run_id, counts, seconds)
    return {
        "run_id": run.run_id,
        "datasets": datasets,
        **counts,
        "written": len(p_written) + len(v_written),
        "unchanged": p_same + v_same,
        "deleted": len(p_deleted) + len(v_deleted),
        "seconds": {"build": round(t_build, 2), "total": seconds},
    }


__all__ = ["publish_profiles"]
