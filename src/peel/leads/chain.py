"""From a vehicle to the person behind it: the keeper at the time of the reads (a resolved
profile; a hire or company keeper said plainly), the keeper's history relevant to the crime
type (convictions, crimes with a role, intelligence), and the possible-clone check that stops
a keeper being presented as the suspect when the plate is probably on another car."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from peel.lake.engine import Engine
from peel.leads.crimes import current_sql
from peel.leads.window import PLATE
from peel.resolve.output import ResolveRun


@dataclass
class Keeper:
    kind: str  # "person", "hire", "company", ... as the register says
    profile_id: str | None
    record: str
    start: str | None
    end: str | None
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    row_id: str = ""  # the keeper row in the lake's person_vehicle table (evidence)


def _record_key(row: dict[str, Any]) -> str:
    rk = (row.get("rk") or "").replace(chr(31), "|")
    return f"{row['_source']}:{rk or row['row_id']}"


def keepers(
    engine: Engine, plates: Sequence[str], when: dict[str, tuple[date, date]]
) -> dict[str, list[Keeper]]:
    """Keepers of each plate whose keeping overlaps the days of its reads (`when`)."""
    if not plates:
        return {}
    kplates = pa.table({"plate": pa.array(list(plates), pa.string())})
    with engine.temp_table("peel_leads_kplates", kplates):
        rows = engine.query(
            f"SELECT {PLATE.format(c='vrm')} AS plate, keeper_type, start_date, end_date, "
            "_source, _record_key AS rk, CAST(row_id AS VARCHAR) AS row_id "
            # Every keeping row (each has its own row_id, so "the latest version by row_id",
            # which this read before, was every row, at the cost of a sort of the table).
            f"FROM {engine.table_sql('person_vehicle')} k "
            f"WHERE vrm IS NOT NULL AND row_id IS NOT NULL AND {PLATE.format(c='vrm')} IN "
            "(SELECT plate FROM peel_leads_kplates) ORDER BY plate, start_date, row_id"
        ).to_pylist()
    out: dict[str, list[Keeper]] = defaultdict(list)
    for r in rows:
        first, last = when[r["plate"]]
        if r["start_date"] is not None and r["start_date"] > last:
            continue
        if r["end_date"] is not None and r["end_date"] < first:
            continue
        out[r["plate"]].append(
            Keeper(
                kind=(r["keeper_type"] or "private").lower().replace("private", "person"),
                profile_id=None,
                record=_record_key(r),
                start=r["start_date"].isoformat() if r["start_date"] else None,
                end=r["end_date"].isoformat() if r["end_date"] else None,
                row_id=r["row_id"],
            )
        )
    return dict(out)


def _words(crime_type: str) -> list[str]:
    return [w for w in crime_type.lower().replace("-", " ").split() if len(w) > 3]


def attach_history(
    engine: Engine,
    run: ResolveRun | None,
    found: dict[str, list[Keeper]],
    crime_types: set[str],
    *,
    exclude: frozenset[str] | set[str] = frozenset(),
) -> None:
    """Set each person keeper's profile id and history relevant to `crime_types`. Records
    tied to the crimes in `exclude` (the crimes searched about) are left out: the search's
    own crimes are its evidence, and must not count a second time as the keeper's history."""
    persons = [k for ks in found.values() for k in ks if k.kind == "person"]
    if not persons or run is None:
        return
    clusters = run.clusters()
    profile_of = dict(
        zip(clusters["record_id"].to_pylist(), clusters["profile_id"].to_pylist(), strict=True)
    )
    for k in persons:
        k.profile_id = profile_of.get(k.record)
    wanted = {k.profile_id for k in persons if k.profile_id}
    if not wanted:
        return
    records = run.records().select(["record_id", "lake_table", "row_id"])
    members = [
        (profile_of[r["record_id"]], r["lake_table"], r["row_id"])
        for r in records.to_pylist()
        if profile_of.get(r["record_id"]) in wanted
    ]
    member_table = pa.table(
        {
            "profile_id": [m[0] for m in members],
            "lake_table": [m[1] for m in members],
            "row_id": [m[2] for m in members],
        }
    )
    crimes = current_sql(engine, "crime", "crime_ref")
    hist: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    words = {w for t in crime_types for w in _words(t)}
    with engine.temp_table("peel_leads_members", member_table):
        for r in engine.query(
            "SELECT m.profile_id, CAST(v.row_id AS VARCHAR) AS row_id, v.offence_description, "
            "v.conviction_date, v.crime_ref, c.crime_type FROM "
            f"{engine.table_sql('conviction')} v JOIN peel_leads_members m "
            "ON m.lake_table = 'conviction' AND m.row_id = CAST(v.row_id AS VARCHAR) "
            f"LEFT JOIN {crimes} c ON c.crime_ref = v.crime_ref ORDER BY v.conviction_date"
        ).to_pylist():
            if r["crime_ref"] in exclude:
                continue
            text = (r["offence_description"] or "").lower()
            if r["crime_type"] in crime_types or any(w in text for w in words):
                hist[r["profile_id"]]["convictions"].append(
                    {"record": f"conviction:{r['row_id']}", "date": _iso(r["conviction_date"])}
                )
        for r in engine.query(
            "SELECT m.profile_id, CAST(p.row_id AS VARCHAR) AS row_id, p.role, p.crime_ref, "
            "c.crime_type "
            f"FROM {engine.table_sql('person_crime')} p JOIN peel_leads_members m "
            "ON m.lake_table = 'person_crime' AND m.row_id = CAST(p.row_id AS VARCHAR) "
            f"LEFT JOIN {crimes} c ON c.crime_ref = p.crime_ref"
        ).to_pylist():
            if r["crime_ref"] in exclude:
                continue
            if r["crime_type"] in crime_types and r["role"] in ("suspect", "arrested", "convicted"):
                hist[r["profile_id"]]["crimes"].append(
                    {"record": f"person_crime:{r['row_id']}", "role": r["role"]}
                )
        for r in engine.query(
            "SELECT m.profile_id, CAST(i.row_id AS VARCHAR) AS row_id, i.crime_ref, c.crime_type "
            f"FROM {engine.table_sql('intelligence_report')} i JOIN peel_leads_members m "
            "ON m.lake_table = 'intelligence_report' AND m.row_id = CAST(i.row_id AS VARCHAR) "
            f"LEFT JOIN {crimes} c ON c.crime_ref = i.crime_ref"
        ).to_pylist():
            if r["crime_ref"] in exclude:
                continue
            key = "intelligence" if r["crime_type"] in crime_types else "other_intelligence"
            hist[r["profile_id"]][key].append({"record": f"intelligence_report:{r['row_id']}"})
    for k in persons:
        if k.profile_id:
            k.history = {key: list(v) for key, v in hist.get(k.profile_id, {}).items()}


RELEVANT = ("convictions", "crimes", "intelligence")  # history of the crime type


def history_factor(keepers_: Sequence[Keeper], clone: bool, odds: float) -> float:
    """The policy's odds ratio (`leads.history_odds_ratio`) when a person keeper at the time
    has a recorded history of the crime type, else 1. Never for a possibly cloned plate (the
    keeper is then not presented as the suspect) or a hire or company keeper."""
    if odds <= 1.0 or clone:
        return 1.0
    for k in keepers_:
        if k.kind == "person" and any(k.history.get(key) for key in RELEVANT):
            return float(odds)
    return 1.0


def _iso(v: Any) -> str | None:
    return v.isoformat() if isinstance(v, date | datetime) else None


def clone_flags(
    engine: Engine,
    plates: Sequence[str],
    *,
    max_kmh: float = 200.0,
    min_km: float = 1.0,
    days: set[str] | None = None,
    spellings: pa.Table | None = None,
    reads: Sequence[dict[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Plates among `plates` read twice in a row at cameras at least `min_km` apart, faster
    than `max_kmh` in a straight line (the rule of peel.resolve.vehicles.clone_flags, for the
    candidates only, with a shorter minimum distance so a borough-sized area can show it).
    `days`: look at reads on these UTC days only (a lead search passes the days around its
    crimes; the vehicle profile's flag from resolution covers the whole history).
    `spellings`: the plates' raw spellings, if known (see `window.plate_reads`). `reads`:
    these plates' reads on those days, already fetched (`search.Result.reads`), in
    `plate_reads`'s order within each plate."""
    if not plates:
        return {}
    from peel.leads.window import ALL_TIME, plate_reads

    if reads is None:
        reads = plate_reads(
            engine, plates, ALL_TIME[0], ALL_TIME[1], days=days, spellings=spellings
        ).to_pylist()
    out: dict[str, dict[str, Any]] = {}
    prev: dict[str, dict[str, Any]] = {}
    for r in reads:
        q = prev.get(r["plate"])
        prev[r["plate"]] = r
        if q is None or r["x"] is None or q["x"] is None:
            continue
        metres = float(np.hypot(r["x"] - q["x"], r["y"] - q["y"]))
        if metres < min_km * 1000:
            continue
        hours = max((r["read_at"] - q["read_at"]).total_seconds() / 3600.0, 1 / 3600)
        kmh = metres / 1000 / hours
        if kmh > max_kmh:
            f = out.setdefault(
                r["plate"], {"impossible_pairs": 0, "fastest_kmh": 0.0, "evidence": []}
            )
            f["impossible_pairs"] += 1
            if kmh > f["fastest_kmh"]:
                f["fastest_kmh"] = round(kmh)
                f["evidence"] = [f"anpr_read:{q['read_id']}", f"anpr_read:{r['read_id']}"]
    return out


__all__ = ["RELEVANT", "Keeper", "attach_history", "clone_flags", "history_factor", "keepers"]
