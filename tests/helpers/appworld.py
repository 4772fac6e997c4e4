"""A small world for the app tests: a lake with example records, a product citing one, an
ANPR authorisation and an audit sample, and one request that succeeds for every route that
touches personal data."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from evidence.review_world import chat_file
from helpers.appenv import CASE, AppEnv
from helpers.published import copy_into, publish
from helpers.resolved import ResolvedWorld
from helpers.series import planted_series
from peel.evidence.ingest import ingest
from peel.governance.access import Caller
from peel.governance.products import Explanation, NewProduct, write_products
from peel.ingest.pipeline import ingest_file
from peel.lake import Lake
from peel.serving import Store, tables
from peel.sources import get_mapping

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "peel" / "sources" / "examples"


@dataclass
class World:
    crime_row: str
    person_row: str
    product_id: str
    authorisation_id: int
    sample_id: str
    sample_seq: int
    profile_id: str = "P-000000000000"
    vrm: str = "AB12CDE"
    requests: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


def lake_rows(lake: Lake, table: str) -> list[dict[str, Any]]:
    engine = lake.engine()
    try:
        return engine.query(f"SELECT * FROM {engine.table_sql(table)}").to_pylist()
    finally:
        engine.close()


def build_world(env: AppEnv, published: ResolvedWorld | None = None) -> World:
    """`published`: copy this resolved city into the data dir and publish its profiles
    first, so the profile and check routes have something to answer."""
    settings = env.store.settings
    if published is not None:
        copy_into(published, settings.data_dir)
        publish(env.store)
    lake = Lake(settings)
    for source, name in (
        ("cris", "cris.csv"),
        ("pnc-person", "pnc-person.csv"),
        ("anpr-read", "anpr-read.csv"),
    ):
        ingest_file(lake, EXAMPLES / name, get_mapping(source), dataset="examples")
    crime_row = str(lake_rows(lake, "crime")[0]["row_id"])
    person_row = str(lake_rows(lake, "person")[0]["row_id"])
    product = NewProduct(
        kind="test-lead",
        subject_type="person",
        subject_ids=["P-1"],
        explanation=Explanation(
            claim="read near 2 of 2 test crimes",
            evidence=[f"crime:{crime_row}"],
            arithmetic=["2 crimes", "0.01 expected by chance"],
            confidence=0.9,
            confidence_text="high",
            code_version="test",
        ),
        dataset="examples",
        synthetic=False,
    )
    read_row = str(lake_rows(lake, "anpr_read")[0]["row_id"])
    lead = NewProduct(
        kind="anpr_lead",
        subject_type="vehicle",
        subject_ids=["LM21QZX"],
        explanation=Explanation(
            claim="read near 1 of 1 test crimes",
            evidence=[f"crime:{crime_row}", f"anpr_read:{read_row}"],
            arithmetic=["score = 1.00"],
            confidence=0.9,
            confidence_text="about 0.1 vehicles would do this by chance",
            code_version="test",
        ),
        dataset="examples",
        synthetic=False,
        case_reference=CASE,
    )
    with env.store.begin() as conn:
        write_products(conn, [product, lead], created_by="test", now=env.clock())
    r = env.client.post(
        f"/api/products/{lead.id}/decisions",
        headers=env.headers("investigator"),
        json={"decision": "accepted", "reason": "fits"},
    )
    assert r.status_code == 201, r.text
    c = env.client
    r = c.post(
        "/api/anpr/authorisations",
        headers=env.headers("manager"),
        json={
            "requester": "investigator",
            "investigation_reference": CASE,
            "offence_category": "burglary",
            "reason": "series of burglaries",
            "days": 7,
        },
    )
    assert r.status_code == 201, r.text
    auth_id = r.json()["id"]
    r = c.post("/api/audit/samples", headers=env.headers("oversight_panel"), json={"n": 3})
    assert r.status_code == 201, r.text
    sample = r.json()
    world = World(
        crime_row=crime_row,
        person_row=person_row,
        product_id=product.id,
        authorisation_id=auth_id,
        sample_id=sample["sample_id"],
        sample_seq=sample["entries"][0]["seq"],
    )
    old_read = (env.clock() - timedelta(days=200)).isoformat()
    on_lead = {"product_id": lead.id}
    ask = {
        "investigation_reference": CASE,
        "offence_category": "burglary",
        "reason": "reads near the series",
        "days": 7,
    }
    asked = []
    for _ in range(4):
        r = c.post("/api/anpr/requests", headers=env.headers("investigator"), json=ask)
        assert r.status_code == 201, r.text
        asked.append({"request_id": str(r.json()["id"])})
    world.requests = {
        ("GET", "/api/products"): {"role": "investigator"},
        ("GET", "/api/products/{product_id}"): {"role": "investigator"},
        ("POST", "/api/products/{product_id}/decisions"): {
            "role": "investigator",
            "json": {"decision": "accepted", "reason": "checked"},
        },
        ("GET", "/products"): {"role": "investigator"},
        ("GET", "/products/{product_id}"): {"role": "investigator"},
        ("POST", "/products/{product_id}/decisions"): {
            "role": "investigator",
            "data": {"decision": "rejected", "reason": "no"},
        },
        ("GET", "/api/records/{table}/{row_id}"): {"role": "investigator"},
        ("GET", "/api/products/{product_id}/reads"): {"role": "investigator", "path": on_lead},
        ("POST", "/api/products/{product_id}/action"): {
            "role": "investigator",
            "path": on_lead,
            "json": {
                "reason": "stopped",
                "confirmed_reads": [read_row],
                "plate_matches_image": True,
            },
        },
        ("POST", "/api/products/{product_id}/evidence-pack"): {
            "role": "investigator",
            "path": on_lead,
            "json": {"recipient": "CPS"},
        },
        ("POST", "/products/{product_id}/action"): {
            "role": "investigator",
            "path": on_lead,
            "data": {"reason": "stopped", "read": read_row, "plate_matches_image": "yes"},
        },
        ("POST", "/products/{product_id}/evidence-pack"): {
            "role": "investigator",
            "path": on_lead,
            "data": {"recipient": "CPS"},
        },
        ("GET", "/api/oversight/leads"): {"role": "oversight_panel"},
        ("GET", "/oversight/leads"): {"role": "oversight_panel"},
        ("GET", "/api/anpr/authorisations"): {"role": "investigator"},
        ("POST", "/api/anpr/access"): {
            "role": "investigator",
            "json": {"read_time": old_read, "authorisation_id": auth_id},
        },
        ("POST", "/api/anpr/requests"): {"role": "investigator", "json": ask},
        ("GET", "/api/anpr/requests"): {"role": "investigator"},
        ("POST", "/api/anpr/requests/{request_id}/withdraw"): {
            "role": "investigator",
            "values": (asked[0], asked[1]),
        },
        ("GET", "/anpr/authorisations"): {"role": "investigator"},
        ("POST", "/anpr/authorisations/requests"): {"role": "investigator", "data": ask},
        ("POST", "/anpr/authorisations/requests/{request_id}/withdraw"): {
            "role": "investigator",
            "values": (asked[2], asked[3]),
        },
        ("GET", "/api/audit"): {"role": "oversight_panel"},
        ("GET", "/api/audit/entries/{seq}"): {"role": "oversight_panel"},
        ("GET", "/api/audit/report"): {"role": "oversight_panel", "params": {"user": "admin"}},
        ("POST", "/api/audit/verify"): {"role": "oversight_panel"},
        ("POST", "/api/audit/samples"): {"role": "oversight_panel", "json": {"n": 2}},
        ("GET", "/api/audit/samples/{sample_id}"): {"role": "oversight_panel"},
        ("POST", "/api/audit/samples/{sample_id}/{seq}"): {
            "role": "oversight_panel",
            "json": {"verdict": "appropriate", "note": "ok"},
        },
        ("GET", "/audit"): {"role": "oversight_panel"},
        ("GET", "/audit/entries/{seq}"): {"role": "oversight_panel"},
        ("POST", "/audit/verify"): {"role": "oversight_panel"},
        ("POST", "/audit/samples"): {"role": "oversight_panel", "data": {"n": "2"}},
        ("GET", "/audit/samples/{sample_id}"): {"role": "oversight_panel"},
        ("POST", "/audit/samples/{sample_id}/{seq}"): {
            "role": "oversight_panel",
            "data": {"verdict": "unclear", "note": "?"},
        },
    }
    _evidence_requests(env, world)
    if published is not None:
        _profile_requests(env, world)
        _leads_requests(world, published)
    return world


def _evidence_requests(env: AppEnv, world: World) -> None:
    """Working requests for the disclosure review: the case CASE with the disclosure officer
    a member, a synthetic chat ingested, and items shown to the officer by a search (each
    coding request names one of them; an item is coded once)."""
    c = env.client
    r = c.post(
        "/api/cases", headers=env.headers("manager"), json={"reference": CASE, "title": "Test"}
    )
    assert r.status_code == 201, r.text
    officer = env.username("disclosure_officer")
    r = c.post(
        f"/api/cases/{CASE}/members", headers=env.headers("manager"), json={"username": officer}
    )
    assert r.status_code == 204, r.text
    settings = env.store.settings
    chat = chat_file(
        settings.data_dir.parent / "case-material" / "Garage.txt",
        [("Sam Example", f"ladder number {i} for the garage roof") for i in range(8)],
    )
    ingest(
        env.store,
        env.policy,
        Caller(
            username=officer,
            roles=("disclosure_officer",),
            purpose="disclosure",
            case_reference=CASE,
        ),
        data_dir=settings.data_dir,
        reference=CASE,
        paths=[chat],
    )
    r = c.get(
        f"/api/cases/{CASE}/evidence/search",
        headers=env.headers("disclosure_officer"),
        params={"q": "ladder"},
    )
    assert r.status_code == 200, r.text
    shown = [str(h["id"]) for h in r.json()["hits"]]
    assert len(shown) >= 4, shown
    officer_spec = {"role": "disclosure_officer"}
    ref = {"reference": CASE}
    item = {**ref, "item_id": shown[0]}
    code = {"relevance": "not_relevant", "meets_test": False, "reason": "routine"}
    base, page = "/api/cases/{reference:path}/evidence", "/cases/{reference:path}/evidence"
    world.requests |= {
        ("GET", f"{base}/next"): {**officer_spec, "path": ref},
        ("GET", f"{base}/items/{{item_id}}/context"): {**officer_spec, "path": item},
        ("POST", f"{base}/items/{{item_id}}/code"): {
            **officer_spec,
            "path": ref,
            "json": code,
            "values": ({"item_id": shown[0]}, {"item_id": shown[1]}),
        },
        ("GET", f"{base}/search"): {**officer_spec, "path": ref, "params": {"q": "ladder"}},
        ("GET", f"{base}/status"): {**officer_spec, "path": ref},
        ("GET", f"{base}/schedules"): {**officer_spec, "path": ref},
        ("GET", page): {**officer_spec, "path": ref},
        ("GET", f"{page}/items/{{item_id}}"): {**officer_spec, "path": item},
        ("POST", f"{page}/items/{{item_id}}/code"): {
            **officer_spec,
            "path": ref,
            "data": {**code, "meets_test": ""},
            "values": ({"item_id": shown[2]}, {"item_id": shown[3]}),
        },
        ("GET", f"{page}/search"): {**officer_spec, "path": ref, "params": {"q": "ladder"}},
        ("GET", f"{page}/record"): {**officer_spec, "path": ref},
        ("GET", f"{page}/schedules"): {**officer_spec, "path": ref},
        ("GET", f"{page}/schedules/{{name}}"): {
            **officer_spec,
            "path": {**ref, "name": "review-record.pdf"},
        },
    }


def _leads_requests(world: World, published: ResolvedWorld) -> None:
    """Working requests for the leads workbench: a planted series, with the data clock just
    after it so its reads are in the ANPR recent tier (by the wall clock they are past
    retention, which no authorisation opens)."""
    series = planted_series(published.city)
    when = {"role": "investigator", "reference_time": series.reference_time}
    world.requests |= {
        ("GET", "/api/leads/crimes"): {**when, "params": {"crime_type": series.crime_type}},
        ("POST", "/api/leads/search"): {**when, "json": {"crimes": series.refs}},
        ("GET", "/leads"): when,
        ("POST", "/leads/search"): {**when, "data": {"crimes": series.refs}},
    }


def _profile_requests(env: AppEnv, world: World) -> None:
    """Working requests for the profile and check routes, on the published city."""
    with env.store.connect() as conn:
        doc = conn.execute(
            select(tables.person_profiles.c.document)
            .where(tables.person_profiles.c.record_count >= 3)
            .order_by(tables.person_profiles.c.profile_id)
            .limit(1)
        ).scalar_one()
        other = conn.execute(
            select(tables.person_profiles.c.profile_id)
            .where(tables.person_profiles.c.profile_id != doc["profile_id"])
            .order_by(tables.person_profiles.c.profile_id)
            .limit(1)
        ).scalar_one()
        world.vrm = conn.execute(
            select(tables.vehicle_profiles.c.vrm).order_by(tables.vehicle_profiles.c.vrm).limit(1)
        ).scalar_one()
    world.profile_id = doc["profile_id"]
    a, b = doc["records"][:2]
    world.requests |= {
        ("GET", "/api/profiles/{profile_id}"): {"role": "analyst"},
        ("GET", "/api/profiles/{profile_id}/why"): {"role": "analyst", "params": {"a": a, "b": b}},
        ("POST", "/api/profiles/{profile_id}/split"): {
            "role": "analyst",
            "json": {"records": [a], "reason": "different people"},
        },
        ("POST", "/api/profiles/merge"): {
            "role": "analyst",
            "json": {"profile_ids": [doc["profile_id"], other], "reason": "one person"},
        },
        ("GET", "/api/vehicles/{vrm}"): {"role": "analyst"},
        ("GET", "/profiles/{profile_id}"): {"role": "analyst"},
        ("GET", "/vehicles/{vrm}"): {"role": "analyst"},
        ("GET", "/api/check/vehicle/{vrm}"): {"role": "patrol_officer"},
        ("GET", "/api/check/person"): {
            "role": "patrol_officer",
            "params": {"surname": doc["identities"][0]["surname"] or "X"},
        },
    }


def path_values(world: World) -> dict[str, str]:
    return {
        "product_id": world.product_id,
        "table": "crime",
        "row_id": world.crime_row,
        "seq": str(world.sample_seq),
        "sample_id": world.sample_id,
        "profile_id": world.profile_id,
        "vrm": world.vrm,
    }


@contextmanager
def audit_insert_fails(store: Store) -> Iterator[None]:
    """Make the audit INSERT itself fail inside the database: a trigger that raises on
    SQLite, INSERT revoked from the app role on PostgreSQL."""
    if store.dialect == "sqlite":
        path = make_url(store.url).database
        assert path
        raw = sqlite3.connect(path)
        raw.execute(
            "CREATE TRIGGER peel_test_fail BEFORE INSERT ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )
        raw.commit()
        try:
            yield
        finally:
            raw.execute("DROP TRIGGER peel_test_fail")
            raw.commit()
            raw.close()
    else:
        owner = create_engine(store.settings.serving_admin_url)
        role = store.settings.database_app_role
        with owner.begin() as conn:
            conn.execute(text(f"REVOKE INSERT ON audit_log FROM {role}"))
        try:
            yield
        finally:
            with owner.begin() as conn:
                conn.execute(text(f"GRANT INSERT ON audit_log TO {role}"))
            owner.dispose()


def snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but sessions (whose last-seen time every request touches
    before the operation starts)."""
    out = {}
    with store.connect() as conn:
        for t in tables.metadata.sorted_tables:
            if t.name == "sessions":
                continue
            rows = conn.execute(select(t)).all()
            out[t.name] = sorted(tuple(map(str, r)) for r in rows)
    return out


__all__ = ["World", "audit_insert_fails", "build_world", "path_values", "snapshot", "uuid"]
