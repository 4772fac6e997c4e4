"""Profile documents from the current resolution run: one per person profile and one per
vehicle (by exact plate), assembled from the lake's current rows.

Every fact names the record it came from (`record`: the resolution record id, or
`<table>:<row id>` for rows that are not person records) and `as_of`, the day Peel took the
source's copy (its ingest batch). Special-category values (health detail, DPA 2018 s.35(8))
never sit among the ordinary facts: they are kept under `special_category` in the document,
each with the record it qualifies, so a reader without `person.marker_detail` can drop the
whole part. Warning markers whose code is itself health data carry
`special_category: "health"`.

Documents hold no run id and no time of assembly, so the same facts give the same document,
and publishing can compare content hashes.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

from peel.lake import Lake
from peel.lake.engine import DuckDBEngine
from peel.resolve.output import ResolveRun
from peel.resolve.records import person_tables
from peel.schema import Registry, get_registry

# Crime roles that make two people co-offenders on one crime.
OFFENDER_ROLES = ("suspect", "convicted")
# An address shared by more profiles than this (a hostel, a custody suite) links nobody.
SHARED_ADDRESS_MAX = 6
WARRANT_ACTIVE = "outstanding"


def plain(value: Any) -> Any:
    """A lake value as JSON (dates as ISO text)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    return value


def content_hash(document: dict[str, Any]) -> str:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def plate_key(vrm: str) -> str:
    """A plate as Peel compares plates: upper case, no spaces."""
    return re.sub(r"\s+", "", vrm).upper()


def _as_of(batch: Any) -> str | None:
    """The ingest day from a batch id (`YYYYMMDD-hex`)."""
    if isinstance(batch, str) and len(batch) >= 8 and batch[:8].isdigit():
        return f"{batch[:4]}-{batch[4:6]}-{batch[6:8]}"
    return None


@dataclass
class Profiles:
    people: dict[str, dict[str, Any]]
    vehicles: dict[str, dict[str, Any]]
    # Per profile: distinct (surname_norm, forename1, dob) for the search keys.
    identities: dict[str, set[tuple[str | None, str | None, str | None]]]


class _Builder:
    def __init__(self, engine: DuckDBEngine, run: ResolveRun, registry: Registry) -> None:
        self.engine = engine
        self.registry = registry
        records = run.records()
        clusters = run.clusters()
        profile_of = dict(
            zip(clusters["record_id"].to_pylist(), clusters["profile_id"].to_pylist(), strict=True)
        )
        members = records.select(
            ["record_id", "lake_table", "row_id", "person_system", "person_ref"]
        ).append_column(
            "profile_id",
            pa.array([profile_of[r] for r in records["record_id"].to_pylist()], pa.string()),
        )
        self.members = members
        self.records = records
        engine.con.register("peel_members", members)
        self.by_ref: dict[tuple[str, str], set[str]] = defaultdict(set)
        for row in members.select(["person_system", "person_ref", "profile_id"]).to_pylist():
            if row["person_ref"]:
                self.by_ref[(row["person_system"] or "", row["person_ref"])].add(row["profile_id"])
        marker_codes = registry.codes("warning_marker").codes
        self.marker_code = {c.code: c for c in marker_codes}
        self.people: dict[str, dict[str, Any]] = {}
        for pid in sorted(set(profile_of.values())):
            self.people[pid] = {
                "profile_id": pid,
                "records": [],
                "identities": [],
                "addresses": [],
                "crimes": [],
                "convictions": [],
                "custody": [],
                "warrants": [],
                "intelligence": [],
                "vehicles": [],
                "associates": [],
                "warning_markers": [],
                "special_category": [],
            }
        for rid, pid in sorted(profile_of.items()):
            self.people[pid]["records"].append(rid)

    def rows(self, table: str, columns: Iterable[str]) -> list[dict[str, Any]]:
        """Current rows of `table` that are person records, with their record and profile."""
        spec = self.registry.by_table(table)
        cols = ", ".join(f't."{c}"' if spec.has_field(c) else f'NULL AS "{c}"' for c in columns)
        sql = (
            f"SELECT m.record_id, m.profile_id, t._batch, {cols} "
            f'FROM "{table}_current" t JOIN peel_members m '
            f"ON m.lake_table = '{table}' AND m.row_id = CAST(t.row_id AS VARCHAR) "
            "ORDER BY m.record_id"
        )
        return self.engine.query(sql).to_pylist()

    def fact(self, row: dict[str, Any], fields: Iterable[str]) -> dict[str, Any]:
        out = {f: plain(row.get(f)) for f in fields}
        out["record"] = row["record_id"]
        out["as_of"] = _as_of(row.get("_batch"))
        return out

    def special(self, pid: str, row: dict[str, Any], field: str, category: str) -> None:
        if row.get(field):
            self.people[pid]["special_category"].append(
                {
                    "record": row["record_id"],
                    "field": field,
                    "category": category,
                    "value": row[field],
                    "as_of": _as_of(row.get("_batch")),
                }
            )

    def identities(self) -> None:
        fields = (
            "forenames",
            "surname",
            "date_of_birth",
            "date_of_birth_text",
            "sex",
            "pnc_id",
            "cro_number",
            "address_text",
            "postcode",
        )
        for table in person_tables(self.registry):
            for row in self.rows(table, fields):
                doc = self.people[row["profile_id"]]
                ident = self.fact(
                    row, ("forenames", "surname", "date_of_birth", "sex", "pnc_id", "cro_number")
                )
                if ident["date_of_birth"] is None and row.get("date_of_birth_text"):
                    ident["date_of_birth_text"] = row["date_of_birth_text"]
                doc["identities"].append(ident)
                if row.get("address_text") or row.get("postcode"):
                    doc["addresses"].append(
                        {**self.fact(row, ("address_text", "postcode")), "kind": "as recorded"}
                    )
        # Addresses a source holds by person reference.
        rows = self.engine.query(
            "SELECT _source, _batch, CAST(row_id AS VARCHAR) AS row_id, person_system, "
            "person_ref, address_text, postcode, address_type, start_date, end_date "
            "FROM person_address_current ORDER BY row_id"
        ).to_pylist()
        for row in rows:
            for pid in sorted(self.by_ref.get((row["person_system"] or "", row["person_ref"]), ())):
                self.people[pid]["addresses"].append(
                    {
                        "address_text": row["address_text"],
                        "postcode": row["postcode"],
                        "kind": row["address_type"] or "address",
                        "start_date": plain(row["start_date"]),
                        "end_date": plain(row["end_date"]),
                        "record": f"person_address:{row['row_id']}",
                        "as_of": _as_of(row["_batch"]),
                    }
                )

    def crimes(self) -> dict[str, set[str]]:
        """Crimes with role; returns crime_ref -> profiles suspected or convicted on it."""
        rows = self.engine.query(
            "SELECT m.record_id, m.profile_id, p._batch, p.crime_ref, p.role, c.crime_type, "
            "c.offence_code, c.committed_from, c.location_text, c.last_outcome "
            "FROM person_crime_current p JOIN peel_members m "
            "ON m.lake_table = 'person_crime' AND m.row_id = CAST(p.row_id AS VARCHAR) "
            "LEFT JOIN crime_current c ON c.crime_ref = p.crime_ref ORDER BY m.record_id"
        ).to_pylist()
        offenders: dict[str, set[str]] = defaultdict(set)
        for row in rows:
            self.people[row["profile_id"]]["crimes"].append(
                self.fact(
                    row,
                    (
                        "crime_ref",
                        "role",
                        "crime_type",
                        "offence_code",
                        "committed_from",
                        "location_text",
                        "last_outcome",
                    ),
                )
            )
            if row["role"] in OFFENDER_ROLES and row["crime_ref"]:
                offenders[row["crime_ref"]].add(row["profile_id"])
        return offenders

    def simple(self) -> None:
        """Convictions, custody, warrants, intelligence, vehicles kept, markers."""
        conv = (
            "conviction_ref",
            "crime_ref",
            "offence_code",
            "offence_description",
            "offence_date",
            "conviction_date",
            "court_name",
            "disposal",
            "sentence_text",
        )
        for row in self.rows("conviction", conv):
            self.people[row["profile_id"]]["convictions"].append(self.fact(row, conv))
        cust = (
            "custody_ref",
            "custody_suite",
            "arrived_at",
            "released_at",
            "offence_description",
            "crime_ref",
            "custody_outcome",
        )
        for row in self.rows("custody_record", (*cust, "health_detail")):
            self.people[row["profile_id"]]["custody"].append(self.fact(row, cust))
            self.special(row["profile_id"], row, "health_detail", "health")
        war = (
            "warrant_ref",
            "warrant_type",
            "warrant_status",
            "issued_date",
            "court_name",
            "offence_description",
            "crime_ref",
            "executed_date",
        )
        for row in self.rows("warrant", war):
            f = self.fact(row, war)
            f["active"] = row["warrant_status"] == WARRANT_ACTIVE and row["executed_date"] is None
            self.people[row["profile_id"]]["warrants"].append(f)
        intel = (
            "intel_ref",
            "submitted_at",
            "grading_scheme",
            "source_evaluation",
            "intelligence_assessment",
            "handling_code",
            "fact_or_assessment",
            "intel_text",
            "crime_ref",
            "vrm",
            "review_date",
        )
        for row in self.rows("intelligence_report", intel):
            self.people[row["profile_id"]]["intelligence"].append(self.fact(row, intel))
        kept = ("vrm", "start_date", "end_date")
        for row in self.rows("person_vehicle", kept):
            self.people[row["profile_id"]]["vehicles"].append(self.fact(row, kept))
        mark = (
            "marker_ref",
            "marker_code",
            "marker_source",
            "marker_date",
            "review_date",
            "marker_detail",
        )
        for row in self.rows("warning_marker", (*mark, "health_detail")):
            code = self.marker_code.get(row["marker_code"])
            f = self.fact(row, mark)
            f["label"] = code.label if code else row["marker_code"]
            f["safety_advice"] = code.description if code else ""
            f["special_category"] = code.special_category if code else None
            if f["special_category"]:
                # The reason in words reveals the health condition too.
                self.special(row["profile_id"], row, "marker_detail", f["special_category"])
                f["marker_detail"] = None
            self.people[row["profile_id"]]["warning_markers"].append(f)
            self.special(row["profile_id"], row, "health_detail", "health")

    def associates(self, offenders: dict[str, set[str]]) -> None:
        rows = self.engine.query(
            "SELECT _batch, CAST(row_id AS VARCHAR) AS row_id, person_system, person_ref, "
            "associate_system, associate_ref, basis, start_date, end_date "
            "FROM person_person_current ORDER BY row_id"
        ).to_pylist()
        for row in rows:
            left = self.by_ref.get((row["person_system"] or "", row["person_ref"]), set())
            right = self.by_ref.get((row["associate_system"] or "", row["associate_ref"]), set())
            for a in sorted(left):
                for b in sorted(right):
                    if a == b:
                        continue
                    for me, other in ((a, b), (b, a)):
                        self.people[me]["associates"].append(
                            {
                                "profile_id": other,
                                "kind": "recorded association",
                                "basis": row["basis"],
                                "start_date": plain(row["start_date"]),
                                "end_date": plain(row["end_date"]),
                                "record": f"person_person:{row['row_id']}",
                                "as_of": _as_of(row["_batch"]),
                            }
                        )
        for crime_ref, pids in sorted(offenders.items()):
            for me in sorted(pids):
                for other in sorted(pids - {me}):
                    self.people[me]["associates"].append(
                        {
                            "profile_id": other,
                            "kind": "co-offending",
                            "crime_ref": crime_ref,
                            "record": f"crime:{crime_ref}",
                            "as_of": None,
                        }
                    )
        at: dict[str, set[str]] = defaultdict(set)
        pid_of = dict(
            zip(
                self.members["record_id"].to_pylist(),
                self.members["profile_id"].to_pylist(),
                strict=True,
            )
        )
        for rid, addr, pc in zip(
            self.records["record_id"].to_pylist(),
            self.records["address_norm"].to_pylist(),
            self.records["postcode"].to_pylist(),
            strict=True,
        ):
            if addr and pc:
                at[f"{addr}|{pc}"].add(pid_of[rid])
        for key, pids in sorted(at.items()):
            if 1 < len(pids) <= SHARED_ADDRESS_MAX:
                for me in sorted(pids):
                    for other in sorted(pids - {me}):
                        self.people[me]["associates"].append(
                            {
                                "profile_id": other,
                                "kind": "shared address",
                                "postcode": key.split("|")[-1],
                                "record": None,
                                "as_of": None,
                            }
                        )


def _vehicles(engine: DuckDBEngine, profile_of_record: dict[str, str]) -> dict[str, dict[str, Any]]:
    """One document per plate: register details, keepers over time, hotlist entries,
    intelligence and crimes linked by the plate, and the count and last ANPR sighting."""
    norm = "upper(regexp_replace(vrm, '\\s', '', 'g'))"
    docs: dict[str, dict[str, Any]] = {}

    def doc(key: str, vrm: str) -> dict[str, Any]:
        if key not in docs:
            docs[key] = {
                "vrm": key,
                "as_recorded": vrm,
                "register": [],
                "keepers": [],
                "vehicle_of_interest": [],
                "intelligence": [],
                "linked_crimes": [],
                "anpr": {"sightings": 0, "last_seen": None},
            }
        return docs[key]

    for row in engine.query(
        f"SELECT {norm} AS k, vrm, _batch, CAST(row_id AS VARCHAR) AS row_id, make, model, "
        "colour, body_type, first_registered FROM vehicle_current WHERE vrm IS NOT NULL "
        "ORDER BY k, row_id"
    ).to_pylist():
        doc(row["k"], row["vrm"])["register"].append(
            {
                "make": row["make"],
                "model": row["model"],
                "colour": row["colour"],
                "body_type": row["body_type"],
                "first_registered": plain(row["first_registered"]),
                "record": f"vehicle:{row['row_id']}",
                "as_of": _as_of(row["_batch"]),
            }
        )
    for row in engine.query(
        f"SELECT {norm} AS k, vrm, _batch, _source, replace(_record_key, chr(31), '|') AS rk, "
        "CAST(row_id AS VARCHAR) AS row_id, keeper_type, start_date, end_date "
        "FROM person_vehicle_current WHERE vrm IS NOT NULL ORDER BY k, start_date, row_id"
    ).to_pylist():
        record_id = f"{row['_source']}:{row['rk'] or row['row_id']}"
        kind = (row["keeper_type"] or "private").lower()
        pid = profile_of_record.get(record_id) if kind == "private" else None
        doc(row["k"], row["vrm"])["keepers"].append(
            {
                "keeper": "person" if kind == "private" else kind,
                "profile_id": pid,
                "start_date": plain(row["start_date"]),
                "end_date": plain(row["end_date"]),
                "record": record_id if pid else f"person_vehicle:{row['row_id']}",
                "as_of": _as_of(row["_batch"]),
            }
        )
    for row in engine.query(
        f"SELECT {norm} AS k, vrm, _batch, CAST(row_id AS VARCHAR) AS row_id, voi_ref, "
        "voi_source, voi_reason, required_action, created_at, expiry_date "
        "FROM vehicle_of_interest_current WHERE vrm IS NOT NULL ORDER BY k, voi_ref"
    ).to_pylist():
        doc(row["k"], row["vrm"])["vehicle_of_interest"].append(
            {
                "voi_ref": row["voi_ref"],
                "source": row["voi_source"],
                "reason": row["voi_reason"],
                "required_action": row["required_action"],
                "created_at": plain(row["created_at"]),
                "expiry_date": plain(row["expiry_date"]),
                "record": f"vehicle_of_interest:{row['row_id']}",
                "as_of": _as_of(row["_batch"]),
            }
        )
    for row in engine.query(
        f"SELECT {norm} AS i, i.vrm, i._batch, CAST(i.row_id AS VARCHAR) AS row_id, i.intel_ref, "
        "i.submitted_at, i.fact_or_assessment, i.crime_ref, c.crime_type, c.committed_from "
        "FROM intelligence_report_current i LEFT JOIN crime_current c ON c.crime_ref = "
        "i.crime_ref WHERE i.vrm IS NOT NULL ORDER BY 1, i.intel_ref"
    ).to_pylist():
        if row["i"] not in docs:
            continue  # a plate no register, keeper or hotlist knows: no profile
        d = docs[row["i"]]
        d["intelligence"].append(
            {
                "intel_ref": row["intel_ref"],
                "submitted_at": plain(row["submitted_at"]),
                "fact_or_assessment": row["fact_or_assessment"],
                "crime_ref": row["crime_ref"],
                "record": f"intelligence_report:{row['row_id']}",
                "as_of": _as_of(row["_batch"]),
            }
        )
        if row["crime_ref"]:
            d["linked_crimes"].append(
                {
                    "crime_ref": row["crime_ref"],
                    "crime_type": row["crime_type"],
                    "committed_from": plain(row["committed_from"]),
                    "via": row["intel_ref"],
                    "record": f"intelligence_report:{row['row_id']}",
                    "as_of": _as_of(row["_batch"]),
                }
            )
    if docs:
        engine.con.register("peel_plates", pa.table({"k": sorted(docs)}))
        for row in engine.query(
            "SELECT p.k, count(*) AS n, max(r.read_at) AS last FROM anpr_read r "
            "JOIN peel_plates p ON p.k = upper(regexp_replace(r.vrm, '\\s', '', 'g')) "
            "GROUP BY p.k"
        ).to_pylist():
            docs[row["k"]]["anpr"] = {"sightings": int(row["n"]), "last_seen": plain(row["last"])}
    return docs


def add_plate_flags(docs: dict[str, dict[str, Any]], run: ResolveRun) -> None:
    """Resolution's plate flags (never merges): a possible clone (reads too far apart for
    the time between) and the rarely read unregistered plates that look like misreads of this
    one."""
    for doc in docs.values():
        doc.setdefault("flags", {"possible_clone": None, "misreads_seen": []})
    if (run.path / "plate_clones.parquet").exists():
        for row in run.table("plate_clones").to_pylist():
            if row["plate"] in docs:
                docs[row["plate"]]["flags"]["possible_clone"] = {
                    "impossible_pairs": int(row["impossible_pairs"]),
                    "fastest_kmh": round(float(row["fastest_kmh"])),
                    "evidence": [f"anpr_read:{r}" for r in row["example_reads"]],
                }
    if (run.path / "plate_misreads.parquet").exists():
        for row in run.table("plate_misreads").to_pylist():
            for plate in row["misread_of"]:
                if plate in docs:
                    docs[plate]["flags"]["misreads_seen"].append(
                        {"plate": row["plate"], "reads": int(row["reads"])}
                    )


def build_profiles(lake: Lake, run: ResolveRun, registry: Registry | None = None) -> Profiles:
    """Every person profile of `run` and every vehicle profile, as documents."""
    reg = registry or get_registry()
    engine = lake.engine()
    try:
        engine.create_views()
        b = _Builder(engine, run, reg)
        b.identities()
        offenders = b.crimes()
        b.simple()
        b.associates(offenders)
        profile_of_record = dict(
            zip(
                b.members["record_id"].to_pylist(), b.members["profile_id"].to_pylist(), strict=True
            )
        )
        vehicles = _vehicles(engine, profile_of_record)
        add_plate_flags(vehicles, run)
    finally:
        engine.close()
    identities: dict[str, set[tuple[str | None, str | None, str | None]]] = defaultdict(set)
    for rid, sur, fore, dob in zip(
        b.records["record_id"].to_pylist(),
        b.records["surname_norm"].to_pylist(),
        b.records["forename1"].to_pylist(),
        b.records["dob"].to_pylist(),
        strict=True,
    ):
        identities[profile_of_record[rid]].add((sur, fore, dob))
    return Profiles(people=b.people, vehicles=vehicles, identities=dict(identities))


__all__ = [
    "OFFENDER_ROLES",
    "Profiles",
    "build_profiles",
    "content_hash",
    "plain",
    "plate_key",
]
