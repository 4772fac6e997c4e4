"""The ANPR leads API on the tiny resolved city (copied into the test's data dir): a search
over a planted series finds the series vehicle first, with its explanation and its reads near
the scenes; every step is audited; old reads are refused without an authorisation (audited,
with the reason) and allowed with one; bad input gets a clear 4xx naming what is wrong."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from helpers.appenv import CASE, AppEnv
from helpers.published import copy_into
from helpers.resolved import ResolvedWorld
from helpers.series import Series, planted_series
from peel.serving.tables import audit_log
from peel.settings import get_settings


@pytest.fixture
def series(
    app_env: AppEnv, resolved_world: ResolvedWorld, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Series]:
    """The tiny city's lake in this test's data dir; the data clock a day after the series."""
    copy_into(resolved_world, data_dir)
    s = planted_series(resolved_world.city)
    monkeypatch.setenv("PEEL_REFERENCE_TIME", s.reference_time)
    get_settings.cache_clear()
    yield s
    get_settings.cache_clear()


def _audit(env: AppEnv, object_type: str) -> list[dict[str, Any]]:
    with env.store.connect() as conn:
        rows = conn.execute(
            select(audit_log)
            .where(audit_log.c.object_type == object_type)
            .order_by(audit_log.c.seq)
        )
        return [dict(r) for r in rows.mappings()]


def test_a_search_over_a_planted_series_finds_its_vehicle_first(
    app_env: AppEnv, series: Series
) -> None:
    c, h = app_env.client, app_env.headers("investigator")
    r = c.post("/api/leads/search", headers=h, json={"crimes": series.refs})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["crimes"] == series.refs
    top = out["leads"][0]
    assert top["vrm"] == series.vrm and top["rank"] == 1 and top["reported"]
    assert set(top["crimes_covered"]) == set(series.refs)
    assert top["explanation"]["claim"].startswith(f"read near {len(series.refs)} of")
    assert any(line.startswith("chance figure") for line in top["explanation"]["arithmetic"])
    assert out["access"]["tier"] == "recent"
    assert top["product_id"]  # a reported lead is raised as a product (peel.leads.find)
    # Its sightings: at least one read near every scene, each with time, camera and position.
    near = [s for s in top["sightings"] if s["kind"] == "near"]
    assert {s["crime_ref"] for s in near} == set(series.refs)
    assert all(s["distance_m"] <= 500 and s["camera_id"] and s["read_at"] for s in near)
    assert all(s["read"].startswith("anpr_read:") for s in top["sightings"])
    assert {d["crime_ref"] for d in out["crime_details"]} == set(series.refs)
    assert out["cameras"] and all("easting" in cam for cam in out["cameras"])
    assert all("sightings" in lead for lead in out["leads"])

    # Audited: the search (crimes asked about, plates returned) and the reads shown.
    search = _audit(app_env, "anpr_lead_search")[-1]
    assert search["actor"] == "investigator" and search["outcome"] == "ok"
    assert search["purpose"] == "investigation" and search["case_reference"] == CASE
    assert f"vrm:{series.vrm}" in json.loads(search["object_ids"])
    shown = _audit(app_env, "anpr_read")[-1]
    ids = json.loads(shown["object_ids"])
    assert f"vrm:{series.vrm}" in ids and near[0]["read"] in ids

    # The crime list: filtered by type and dates, paged, audited.
    first, last = series.first.date().isoformat(), series.last.date().isoformat()
    params = {"crime_type": series.crime_type, "committed_from": first, "committed_to": last}
    r = c.get("/api/leads/crimes", headers=h, params={**params, "limit": 200})
    assert r.status_code == 200, r.text
    page = r.json()
    refs = {x["crime_ref"] for x in page["crimes"]}
    assert set(series.refs) <= refs and page["total"] == len(page["crimes"])
    assert all(x["crime_type"] == series.crime_type and x["searchable"] for x in page["crimes"])
    assert series.crime_type in page["crime_types"]
    listed = _audit(app_env, "crime")[-1]
    assert listed["operation"] == "consultation" and len(json.loads(listed["object_ids"])) == len(
        refs
    )
    r = c.get("/api/leads/crimes", headers=h, params={**params, "limit": 2, "offset": 1})
    assert [x["crime_ref"] for x in r.json()["crimes"]] == [x["crime_ref"] for x in page["crimes"]][
        1:3
    ]


def test_old_reads_are_refused_without_an_authorisation_and_allowed_with_one(
    app_env: AppEnv, series: Series, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PEEL_REFERENCE_TIME", (series.last + timedelta(days=120)).isoformat())
    get_settings.cache_clear()
    c, h = app_env.client, app_env.headers("investigator")
    r = c.post("/api/leads/search", headers=h, json={"crimes": series.refs})
    assert r.status_code == 403
    assert "older than 90 days and no authorisation given" in r.json()["detail"]
    assert series.vrm not in r.text
    denied = _audit(app_env, "anpr_lead_search")[-1]
    assert denied["outcome"] == "denied" and "no authorisation" in denied["query"]

    grant = c.post(
        "/api/anpr/authorisations",
        headers=app_env.headers("manager"),
        json={
            "requester": "investigator",
            "investigation_reference": CASE,
            "offence_category": series.crime_type,
            "reason": "the series",
            "days": 7,
        },
    )
    assert grant.status_code == 201, grant.text
    auth = grant.json()["id"]
    # Another officer's authorisation does not open the reads for the analyst.
    r = c.post(
        "/api/leads/search",
        headers=app_env.headers("analyst"),
        json={"crimes": series.refs, "authorisation_id": auth},
    )
    assert r.status_code == 403 and "another officer" in r.json()["detail"]
    r = c.post(
        "/api/leads/search", headers=h, json={"crimes": series.refs, "authorisation_id": auth}
    )
    assert r.status_code == 200, r.text
    assert r.json()["access"]["tier"] == "authorised"
    assert r.json()["leads"][0]["vrm"] == series.vrm


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"crimes": ["NOSUCH/99"]}, 400, "unknown crime reference: NOSUCH/99"),
        ({"crimes": [f"X{i}/24" for i in range(51)]}, 422, "crimes"),
        ({"crimes": []}, 422, "crimes"),
        ({"crimes": ["<script>alert(1)</script>"]}, 422, "crimes.0"),
        ({"crimes": ["1'; DROP TABLE crime;--"]}, 422, "crimes.0"),
        ({"crimes": ["A\u0000B"]}, 422, "crimes.0"),
        ({}, 422, "give either crimes"),
        ({"crimes": ["A/1"], "radius_m": -5}, 422, "radius_m"),
        ({"crimes": ["A/1"], "margin_min": 1e9}, 422, "margin_min"),
        ({"crimes": ["A/1"], "authorisation_id": "x"}, 422, "authorisation_id"),
        (
            {"filter": {"crime_type": "Burglary; --", "committed_from": "2024-01-01"}},
            422,
            "filter.crime_type",
        ),
        (
            {
                "filter": {
                    "crime_type": "burglary",
                    "committed_from": "2024-02-01",
                    "committed_to": "2024-01-01",
                }
            },
            422,
            "committed_to is before committed_from",
        ),
    ],
)
def test_bad_input_gets_a_clear_answer(
    app_env: AppEnv, body: dict[str, Any], status: int, says: str
) -> None:
    r = app_env.client.post("/api/leads/search", headers=app_env.headers("investigator"), json=body)
    assert r.status_code == status, r.text
    assert says in r.text
    assert "DROP TABLE" not in r.text and "<script>" not in r.text


def test_bad_crime_list_filters_are_refused_naming_the_field(app_env: AppEnv) -> None:
    h = app_env.headers("investigator")
    for params, field in [
        ({"committed_from": "yesterday"}, "committed_from"),
        ({"crime_type": "x' OR 1=1"}, "crime_type"),
        ({"near_easting": 530000, "km": 1}, "near_northing"),
        ({"km": -1}, "km"),
        ({"limit": 100000}, "limit"),
    ]:
        r = app_env.client.get("/api/leads/crimes", headers=h, params=params)
        assert r.status_code in (400, 422), (params, r.text)
        assert field in r.text, (params, r.text)
    # No purpose: refused, and the refusal is audited.
    r = app_env.client.get(
        "/api/leads/crimes", headers=app_env.headers("investigator", purpose=False)
    )
    assert r.status_code == 403 and "purpose" in r.json()["detail"]


def test_the_page_refuses_bad_references_without_echoing_them(app_env: AppEnv) -> None:
    h = app_env.headers("investigator")
    r = app_env.client.get("/leads", headers=h, params={"crimes": "A/1,<script>x</script>"})
    assert r.status_code == 400
    assert "are not crime references" in r.text and "<script>x" not in r.text
    many = [f"X{i}/24" for i in range(51)]
    r = app_env.client.post("/leads/search", headers=h, data={"crimes": many})
    assert r.status_code == 400 and "at most 50 crimes" in r.text
    r = app_env.client.post("/leads/search", headers=h, data={"crimes": ["NOSUCH/1"]})
    assert r.status_code == 400 and "unknown crime reference" in r.text
    r = app_env.client.post(
        "/leads/search", headers=h, data={"crimes": ["A/1"], "radius_m": "wide"}
    )
    assert r.status_code == 400 and "radius: not a number" in r.text
