"""Published profiles read for a user, the why of a link, and analysts' corrections.

Every read goes through `access.operation`: authorised against the policy and audited with
the purpose and the profiles and records it returned. Special-category parts of a profile
(`special_category`, health detail) are withheld unless one of the caller's roles has
`person.marker_detail`; a health marker then shows its code, label and safety advice only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, insert, select

from peel import clock as data_clock
from peel.errors import NotFound, PeelError
from peel.governance.access import Caller, operation
from peel.governance.policy import Policy
from peel.lake import Lake
from peel.resolve.output import require_run
from peel.resolve.profiles import plain
from peel.resolve.run import model_for
from peel.serving import Store
from peel.serving.tables import person_profiles, resolve_overrides, vehicle_profiles
from peel.settings import Settings

PROFILE_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
RECORD_ID = re.compile(r"^[^\x00-\x1f]{1,300}$")
MAX_SPLIT_ROWS = 5000
Clock = Callable[[], datetime]


def _wall() -> datetime:
    return datetime.now(UTC)


def profile_id_ok(profile_id: str, field: str = "profile_id") -> str:
    if not PROFILE_ID.match(profile_id):
        raise PeelError(f"{field}: not a profile id (letters, digits and '-', at most 64)")
    return profile_id


def record_id_ok(record_id: str, field: str) -> str:
    if not RECORD_ID.match(record_id):
        raise PeelError(f"{field}: not a record id (1 to 300 printable characters)")
    return record_id


def may_see_detail(policy: Policy, caller: Caller) -> bool:
    return "person.marker_detail" in policy.permissions_of(caller.roles)


def redact(document: dict[str, Any], *, detail: bool) -> dict[str, Any]:
    """The document as this caller may see it."""
    if detail:
        return {**document, "withheld": []}
    out = dict(document)
    out["special_category"] = []
    out["warning_markers"] = [
        {k: v for k, v in m.items() if k != "marker_detail"} if m.get("special_category") else m
        for m in document.get("warning_markers", [])
    ]
    special = document.get("special_category", [])
    out["withheld"] = sorted({f"{s['field']} ({s['category']})" for s in special})
    return out


def load_profile(conn: Connection, profile_id: str) -> dict[str, Any]:
    row = conn.execute(
        select(person_profiles.c.document).where(person_profiles.c.profile_id == profile_id)
    ).first()
    if row is None:
        raise NotFound(f"no published profile {profile_id}")
    doc: dict[str, Any] = row[0]
    return doc


def read_profile(
    store: Store, policy: Policy, caller: Caller, profile_id: str, *, clock: Clock = _wall
) -> dict[str, Any]:
    profile_id_ok(profile_id)
    with operation(
        store,
        policy,
        caller,
        permission="person.profile",
        operation="consultation",
        object_type="person_profile",
        query={"profile_id": profile_id},
        clock=clock,
    ) as op:
        doc = load_profile(op.conn, profile_id)
        op.returned([profile_id, *doc["records"]])
    return redact(doc, detail=may_see_detail(policy, caller))


def recent_sightings(
    lake: Lake, policy: Policy, key: str, *, limit: int = 50
) -> list[dict[str, Any]]:
    """ANPR reads of the plate within the policy's recent tier (by the data clock), newest
    first, read live from the lake: only the day partitions of the tier are scanned."""
    now = data_clock.now()
    since = now - timedelta(days=policy.anpr.recent_days)
    days = {
        (since + timedelta(days=i)).date().isoformat() for i in range(policy.anpr.recent_days + 2)
    }
    engine = lake.engine()
    try:
        # The table name is Peel's own; the plate and times are bound parameters.
        rows = engine.query(
            "SELECT CAST(row_id AS VARCHAR) AS row_id, read_id, camera_id, read_at, confidence "
            f"FROM {engine.table_sql('anpr_read', days)} "
            "WHERE upper(regexp_replace(vrm, '\\s', '', 'g')) = $k "
            "AND read_at >= $since AND read_at <= $now ORDER BY read_at DESC LIMIT $n",
            {"k": key, "since": since, "now": now, "n": limit},
        ).to_pylist()
    finally:
        engine.close()
    return [{k: plain(v) for k, v in r.items()} for r in rows]


def read_vehicle(
    store: Store,
    policy: Policy,
    caller: Caller,
    vrm: str,
    *,
    lake: Lake | None = None,
    clock: Clock = _wall,
) -> dict[str, Any]:
    """The published vehicle profile, with the recent ANPR sightings read live from the lake
    when the caller's roles hold the ANPR permission (the policy's recent tier only)."""
    from peel.resolve.check import plate_ok

    key = plate_ok(vrm)
    anpr = policy.anpr.permission in policy.permissions_of(caller.roles)
    with operation(
        store,
        policy,
        caller,
        permission="vehicle.profile",
        operation="consultation",
        object_type="vehicle_profile",
        query={"vrm": key},
        clock=clock,
    ) as op:
        row = op.conn.execute(
            select(vehicle_profiles.c.document).where(vehicle_profiles.c.vrm == key)
        ).first()
        if row is None:
            raise NotFound(f"no published vehicle profile for plate {key}")
        doc: dict[str, Any] = dict(row[0])
        if anpr and lake is not None:
            reads = recent_sightings(lake, policy, key)
            doc["recent_sightings"] = {
                "tier": "recent",
                "days": policy.anpr.recent_days,
                "reads": reads,
            }
            op.returned(f"anpr_read:{r['row_id']}" for r in reads)
        else:
            doc["recent_sightings"] = {
                "withheld": f"needs the {policy.anpr.permission} permission",
                "reads": [],
            }
        op.returned([f"vehicle:{key}"])
    return doc


def why(
    store: Store,
    policy: Policy,
    settings: Settings,
    caller: Caller,
    profile_id: str,
    a: str,
    b: str,
    *,
    clock: Clock = _wall,
) -> dict[str, Any]:
    """Splink's match weight per field for two records of one profile (no record values)."""
    profile_id_ok(profile_id)
    record_id_ok(a, "a")
    record_id_ok(b, "b")
    if a == b:
        raise PeelError("b: name a record other than a")
    with operation(
        store,
        policy,
        caller,
        permission="person.profile",
        operation="consultation",
        object_type="person_profile_link",
        query={"profile_id": profile_id, "a": a, "b": b},
        clock=clock,
    ) as op:
        doc = load_profile(op.conn, profile_id)
        for name, rid in (("a", a), ("b", b)):
            if rid not in doc["records"]:
                raise NotFound(f"{name}: not a record of profile {profile_id}")
        run = require_run(settings)
        records = run.records()
        pair = records.filter(
            pc.is_in(records["record_id"], value_set=pa.array([a, b], pa.string()))
        )
        rows = {r["record_id"]: r for r in pair.to_pylist()}
        if a not in rows or b not in rows:
            raise NotFound("a, b: a record is not in the current resolution run")
        model = model_for(run, pair, settings)
        try:
            steps = model.waterfall(rows[a], rows[b])
        finally:
            model.close()
        op.returned([profile_id, a, b])
    total = next((s["match_weight"] for s in steps if s["field"] == "Final score"), None)
    return {
        "profile_id": profile_id,
        "a": a,
        "b": b,
        "run_id": run.run_id,
        "match_weight": total,
        "waterfall": steps,
    }


def _records_of(conn: Connection, profile_id: str) -> list[str]:
    records: list[str] = load_profile(conn, profile_id)["records"]
    return records


def split(
    store: Store,
    policy: Policy,
    caller: Caller,
    profile_id: str,
    records: list[str],
    reason: str,
    *,
    clock: Clock = _wall,
) -> dict[str, Any]:
    """Cannot-link between each listed record and each other member of the profile."""
    profile_id_ok(profile_id)
    for i, r in enumerate(records):
        record_id_ok(r, f"records[{i}]")
    if not reason.strip():
        raise PeelError("reason: say why the records are not one person")
    with operation(
        store,
        policy,
        caller,
        permission="resolve.run",
        operation="alteration",
        object_type="resolve_override",
        query={"kind": "split", "profile_id": profile_id},
        clock=clock,
    ) as op:
        members = _records_of(op.conn, profile_id)
        listed = sorted(set(records))
        unknown = [r for r in listed if r not in members]
        if unknown:
            raise PeelError(f"records: {len(unknown)} listed record(s) are not in the profile")
        rest = [m for m in members if m not in listed]
        if not rest:
            raise PeelError("records: list some but not all of the profile's records")
        pairs = [(r, m) for r in listed for m in rest]
        if len(pairs) > MAX_SPLIT_ROWS:
            raise PeelError(f"records: the split would need over {MAX_SPLIT_ROWS} constraints")
        now = clock()
        op.conn.execute(
            insert(resolve_overrides),
            [
                {
                    "kind": "split",
                    "record_a": r,
                    "record_b": m,
                    "reason": reason.strip(),
                    "created_by": caller.username,
                    "created_at": now,
                }
                for r, m in pairs
            ],
        )
        op.returned([profile_id, *listed])
    return {
        "kind": "split",
        "profile_id": profile_id,
        "constraints": len(pairs),
        "note": "takes effect at the next `peel resolve run` and `peel publish`",
    }


def merge(
    store: Store,
    policy: Policy,
    caller: Caller,
    profile_ids: list[str],
    reason: str,
    *,
    clock: Clock = _wall,
) -> dict[str, Any]:
    """One must-link between a representative record of each of two profiles."""
    if len(profile_ids) != 2 or profile_ids[0] == profile_ids[1]:
        raise PeelError("profile_ids: name two different profiles")
    for i, p in enumerate(profile_ids):
        profile_id_ok(p, f"profile_ids[{i}]")
    if not reason.strip():
        raise PeelError("reason: say why the profiles are one person")
    with operation(
        store,
        policy,
        caller,
        permission="resolve.run",
        operation="alteration",
        object_type="resolve_override",
        query={"kind": "merge", "profile_ids": profile_ids},
        clock=clock,
    ) as op:
        reps = [min(_records_of(op.conn, p)) for p in profile_ids]
        op.conn.execute(
            insert(resolve_overrides).values(
                kind="merge",
                record_a=reps[0],
                record_b=reps[1],
                reason=reason.strip(),
                created_by=caller.username,
                created_at=clock(),
            )
        )
        op.returned([*profile_ids, *reps])
    return {
        "kind": "merge",
        "profile_ids": profile_ids,
        "records": reps,
        "note": "takes effect at the next `peel resolve run` and `peel publish`",
    }


__all__ = [
    "may_see_detail",
    "merge",
    "read_profile",
    "read_vehicle",
    "recent_sightings",
    "redact",
    "split",
    "why",
]
