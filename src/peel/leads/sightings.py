"""The reads behind a lead, for a timeline and a map: for each vehicle, every read of its
plate during each crime's window (widened by the search's margin), at any camera, with the
camera's position and its distance from the scene, marked near (within the search radius),
far (at least `Params.far_m` away: where it could not have been at the scene) or between.

`authorised_sightings` runs it for a caller under the same ANPR access rules as the lead
search (the oldest read it touches) and audits it as a consultation of those reads.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from peel.errors import InputRefused
from peel.governance.access import Caller, operation
from peel.governance.anpr import require_access
from peel.governance.policy import Policy
from peel.lake import Lake
from peel.lake.engine import Engine
from peel.leads.crimes import Crime, current_sql
from peel.leads.find import read_times
from peel.leads.score import Params
from peel.leads.window import PLATE, windows_table
from peel.serving import Store

# At most this many reads of one vehicle per crime window (near ones kept first): a vehicle
# that passes cameras all day over a fortnight's window would otherwise swamp the timeline.
PER_CRIME = 60
MAX_PLATES = 20


def sightings(
    engine: Engine,
    crimes: Sequence[Crime],
    plates: Sequence[str],
    params: Params | None = None,
    *,
    per_crime: int = PER_CRIME,
) -> dict[str, list[dict[str, Any]]]:
    """plate -> its reads in the crimes' widened windows, by crime then time (see above)."""
    p = params or Params()
    if not plates or not crimes:
        return {}
    windows = windows_table(crimes, margin_min=p.margin_min)
    wanted = pa.table({"plate": pa.array(list(dict.fromkeys(plates)), pa.string())})
    with (
        engine.temp_table("peel_sightings_windows", windows),
        engine.temp_table("peel_sightings_plates", wanted),
    ):
        rows = engine.query(
            f"""
            WITH cams AS (
              SELECT camera_id, location_x AS cx, location_y AS cy
              FROM {current_sql(engine, "anpr_camera", "camera_id")} c
              WHERE location_x IS NOT NULL AND location_y IS NOT NULL
            ), reads AS (
              SELECT {PLATE.format(c="r.vrm")} AS plate, r.camera_id, r.read_at,
                     CAST(r.row_id AS VARCHAR) AS read_id
              FROM {engine.table_sql("anpr_read")} r
              WHERE r.vrm IS NOT NULL
                AND {PLATE.format(c="r.vrm")} IN (SELECT plate FROM peel_sightings_plates)
            )
            SELECT w.ci, s.plate, s.camera_id, s.read_at, s.read_id, c.cx, c.cy
            FROM reads s
            JOIN peel_sightings_windows w ON s.read_at >= w.lo AND s.read_at <= w.hi
            JOIN cams c ON c.camera_id = s.camera_id
            ORDER BY s.plate, w.ci, s.read_at, s.read_id
            """
        ).to_pylist()
    grouped: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        crime = crimes[int(r["ci"])]
        d = math.hypot(r["cx"] - crime.x, r["cy"] - crime.y)
        kind = "near" if d <= p.radius_m else "far" if d >= p.far_m else "between"
        t = r["read_at"]
        grouped[(r["plate"], int(r["ci"]))].append(
            {
                "crime_ref": crime.crime_ref,
                "read": f"anpr_read:{r['read_id']}",
                "read_at": t.isoformat(),
                "camera_id": r["camera_id"],
                "easting": r["cx"],
                "northing": r["cy"],
                "distance_m": round(d),
                "kind": kind,
                "in_committed_window": crime.committed_from <= t <= crime.committed_to,
            }
        )
    out: dict[str, list[dict[str, Any]]] = {
        plate: [] for plate in wanted.column("plate").to_pylist()
    }
    for (plate, _), reads in sorted(grouped.items()):
        if len(reads) > per_crime:
            rank = {"near": 0, "far": 1, "between": 2}
            keep = sorted(reads, key=lambda x: (rank[x["kind"]], x["read_at"]))[:per_crime]
            reads = sorted(keep, key=lambda x: x["read_at"])
        out[plate].extend(reads)
    return out


def authorised_sightings(
    lake: Lake,
    store: Store,
    policy: Policy,
    caller: Caller,
    crimes: Sequence[Crime],
    plates: Sequence[str],
    *,
    authorisation_id: int | None = None,
    params: Params | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, list[dict[str, Any]]]:
    """`sightings` for a caller: refused (and the refusal audited) unless the oldest read it
    could touch passes the ANPR access rules; audited with the reads returned."""
    p = params or Params()
    if len(plates) > MAX_PLATES:
        raise InputRefused(f"at most {MAX_PLATES} vehicles at once")
    oldest, _ = read_times(crimes, p.margin_min)
    query = {"crimes": [c.crime_ref for c in crimes], "vehicles": len(plates)}
    require_access(
        store,
        policy,
        caller,
        read_time=oldest,
        authorisation_id=authorisation_id,
        object_type="anpr_read",
        query=query,
    )
    with operation(
        store,
        policy,
        caller,
        permission=policy.anpr.permission,
        operation="consultation",
        object_type="anpr_read",
        query=query,
        clock=clock,
    ) as op:
        engine = lake.engine()
        try:
            out = sightings(engine, crimes, plates, p)
        finally:
            engine.close()
        op.returned(f"vrm:{plate}" for plate in out)
        op.returned(r["read"] for reads in out.values() for r in reads)
    return out


__all__ = ["MAX_PLATES", "PER_CRIME", "authorised_sightings", "sightings"]
