"""Leads raised: each reported lead of a search becomes a product (kind `anpr_lead`) with its
explanation, so an investigator can accept, reject or action it (with a reason, recorded), and
the keeper's self-defined ethnicity and age band at the time go to `lead_monitoring` for the
oversight page, never into the product an investigator reads.

The product id is derived from the query (case, crimes, parameters) and the plate, so running
the same search again finds the same lead, with its decisions, instead of raising it twice.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, insert, select

from peel.governance.products import Explanation, NewProduct, write_products
from peel.leads.crimes import Crime
from peel.resolve.output import ResolveRun
from peel.schema import get_registry
from peel.schema.model import normalise_code_text
from peel.serving.tables import lead_monitoring, products

KIND = "anpr_lead"
NOT_STATED = "NS"
NOT_APPLICABLE = "not applicable"
UNKNOWN_AGE = "unknown"


def product_id(
    case_reference: str | None, crimes: Sequence[Crime], params: dict[str, Any], vrm: str
) -> str:
    key = "\x1f".join(
        [
            KIND,
            case_reference or "",
            ",".join(sorted(c.crime_ref for c in crimes)),
            ",".join(f"{k}={params[k]}" for k in sorted(params)),
            vrm,
        ]
    )
    return "L-" + hashlib.sha256(key.encode()).hexdigest()[:30]


def age_band(dob: str | None, at: date) -> str:
    """The police.uk age range (schema code list `age_range`) of someone born on `dob`
    (YYYY-MM-DD) at `at`; "unknown" when the date is missing or not a date."""
    if not dob:
        return UNKNOWN_AGE
    try:
        born = date.fromisoformat(dob[:10])
    except ValueError:
        return UNKNOWN_AGE
    years = at.year - born.year - ((at.month, at.day) < (born.month, born.day))
    if years < 0:
        return UNKNOWN_AGE
    if years < 10:
        return "under-10"
    if years < 18:
        return "10-17"
    if years < 25:
        return "18-24"
    if years < 35:
        return "25-34"
    return "over-34"


def _ethnicity_codes() -> dict[str, str]:
    return dict(get_registry().codes("ethnicity_self_defined").lookup_table())


def keeper_bands(
    run: ResolveRun | None, profile_ids: set[str], at: date
) -> dict[str, tuple[str, str]]:
    """For each profile: (self-defined ethnicity code, age band at `at`), each the most
    frequent value among the profile's records (ties broken by code order). Values that are
    not codes of the list count as not stated."""
    if run is None or not profile_ids:
        return {}
    clusters = run.clusters()
    wanted = clusters.filter(pc.is_in(clusters["profile_id"], value_set=_arrow(profile_ids)))
    profile_of = dict(
        zip(wanted["record_id"].to_pylist(), wanted["profile_id"].to_pylist(), strict=True)
    )
    records = run.records()
    cols = [c for c in ("record_id", "dob", "self_defined_ethnicity") if c in records.column_names]
    records = records.select(cols)
    records = records.filter(pc.is_in(records["record_id"], value_set=_arrow(set(profile_of))))
    codes = _ethnicity_codes()
    eth: dict[str, Counter[str]] = {p: Counter() for p in profile_ids}
    dobs: dict[str, Counter[str]] = {p: Counter() for p in profile_ids}
    for r in records.to_pylist():
        p = profile_of[r["record_id"]]
        raw = r.get("self_defined_ethnicity")
        if raw:
            eth[p][codes.get(normalise_code_text(str(raw)), NOT_STATED)] += 1
        if r.get("dob"):
            dobs[p][r["dob"]] += 1
    out = {}
    for p in profile_ids:
        # A stated value wins over "not stated" records of the same person.
        stated = Counter({k: v for k, v in eth[p].items() if k != NOT_STATED})
        out[p] = (_most_common(stated) or NOT_STATED, age_band(_most_common(dobs[p]), at))
    return out


def _most_common(c: Counter[str]) -> str | None:
    if not c:
        return None
    top = max(c.values())
    return min(k for k, v in c.items() if v == top)


def _arrow(values: set[str]) -> pa.Array:
    return pa.array(sorted(values), pa.string())


def raise_leads(
    conn: Connection,
    out: dict[str, Any],
    crimes: Sequence[Crime],
    *,
    run: ResolveRun | None,
    case_reference: str | None,
    created_by: str,
    synthetic_datasets: set[str],
    now: datetime,
) -> list[str]:
    """Write each reported lead of `out` (a `find_leads` result) as a product, in the caller's
    transaction; set `product_id` on every reported lead and return the ids newly raised.
    A lead raised before by the same query keeps its product and decisions."""
    reported = [lead for lead in out["leads"] if lead["reported"]]
    if not reported:
        return []
    datasets = sorted({c.dataset for c in crimes if c.dataset})
    dataset = datasets[0] if len(datasets) == 1 else ",".join(datasets) or "unknown"
    ids = {
        id(lead): product_id(case_reference, crimes, out["params"], lead["vrm"])
        for lead in reported
    }
    existing = set(
        conn.execute(select(products.c.id).where(products.c.id.in_(list(ids.values()))))
        .scalars()
        .all()
    )
    at = max(c.committed_to for c in crimes).date()
    bands = keeper_bands(
        run, {lead["suspect_profile"] for lead in reported if lead["suspect_profile"]}, at
    )
    new: list[NewProduct] = []
    monitoring = []
    for lead in reported:
        pid = ids[id(lead)]
        lead["product_id"] = pid
        if pid in existing:
            continue
        e = lead["explanation"]
        new.append(
            NewProduct(
                kind=KIND,
                subject_type="vehicle",
                subject_ids=[lead["vrm"]],
                explanation=Explanation(
                    claim=e["claim"],
                    evidence=list(e["evidence"]),
                    arithmetic=list(e["arithmetic"]),
                    confidence=e["confidence"],
                    confidence_text=e["confidence_text"],
                    code_version=e["code_version"],
                    model_version=e["model_version"],
                ),
                dataset=dataset[:64],
                synthetic=bool(datasets) and set(datasets) <= synthetic_datasets,
                case_reference=case_reference,
                id=pid,
            )
        )
        suspect = lead["suspect_profile"]
        if suspect:
            kind, (eth, band) = "person", bands.get(suspect, (NOT_STATED, UNKNOWN_AGE))
        else:
            kinds = {k["kind"] for k in lead["keepers"]} or {"none on record"}
            kind = "possible clone" if lead["possible_clone"] else "/".join(sorted(kinds))
            eth, band = NOT_APPLICABLE, NOT_APPLICABLE
        monitoring.append(
            {
                "product_id": pid,
                "keeper_kind": kind[:32],
                "self_defined_ethnicity": eth,
                "age_band": band,
                "recorded_at": now,
            }
        )
    write_products(conn, new, created_by=created_by, now=now)
    if monitoring:
        conn.execute(insert(lead_monitoring), monitoring)
    return [p.id for p in new]


__all__ = ["KIND", "age_band", "keeper_bands", "product_id", "raise_leads"]
