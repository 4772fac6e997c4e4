"""Lake records read for a user, and ANPR authorisations, through the API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from helpers.appenv import CASE, AppEnv
from helpers.appworld import build_world
from peel.governance.records import WITHHELD
from peel.serving.tables import audit_log


def _last_entry(env: AppEnv) -> dict[str, Any]:
    with env.store.connect() as conn:
        row = conn.execute(select(audit_log).order_by(audit_log.c.seq.desc()).limit(1))
        return dict(row.mappings().one())


def test_a_lake_record_is_read_audited_and_special_category_withheld(app_env: AppEnv) -> None:
    world = build_world(app_env)
    r = app_env.client.get(
        f"/api/records/person/{world.person_row}", headers=app_env.headers("analyst")
    )
    assert r.status_code == 200, r.text
    row = r.json()["row"]
    assert row["self_defined_ethnicity"] == WITHHELD
    assert row["officer_observed_ethnicity"] == WITHHELD
    assert row["surname"] and row["_source"] == "pnc-person"
    entry = _last_entry(app_env)
    assert entry["actor"] == "analyst" and entry["operation"] == "consultation"
    assert f"person:{world.person_row}" in entry["object_ids"]
    assert entry["purpose"] == "investigation" and entry["case_reference"] == CASE
    # Hostile identifiers get a clear answer, not a crash.
    h = app_env.headers("analyst")
    assert app_env.client.get("/api/records/nosuchtable/x", headers=h).status_code == 404
    r = app_env.client.get("/api/records/person/not-a-uuid", headers=h)
    assert r.status_code == 400 and "row_id" in r.json()["detail"]
    r = app_env.client.get("/api/records/person/'%3B DROP TABLE x;--", headers=h)
    assert r.status_code in (400, 404)


def test_anpr_authorisations_follow_the_policy(app_env: AppEnv) -> None:
    world = build_world(app_env)
    c = app_env.client
    body = {
        "requester": "investigator",
        "investigation_reference": CASE,
        "offence_category": "burglary",
        "reason": "series",
        "days": 7,
    }
    # Only a role with anpr.authorise, of a configured rank, for someone else.
    assert (
        c.post(
            "/api/anpr/authorisations", headers=app_env.headers("investigator"), json=body
        ).status_code
        == 403
    )
    r = c.post(
        "/api/anpr/authorisations",
        headers=app_env.headers("manager"),
        json={**body, "requester": "manager"},
    )
    assert r.status_code == 403 and "own access" in r.json()["detail"]
    r = c.post(
        "/api/anpr/authorisations", headers=app_env.headers("manager"), json={**body, "days": 90}
    )
    assert r.status_code == 400 and "1 to 30 days" in r.json()["detail"]
    # The investigator's old read: refused without, allowed with the authorisation.
    old = (app_env.clock() - timedelta(days=200)).isoformat()
    h = app_env.headers("investigator")
    r = c.post("/api/anpr/access", headers=h, json={"read_time": old})
    assert r.json() == {
        "allowed": False,
        "tier": "denied",
        "reason": "read older than 90 days and no authorisation given",
    }
    r = c.post(
        "/api/anpr/access",
        headers=h,
        json={"read_time": old, "authorisation_id": world.authorisation_id},
    )
    assert r.json()["allowed"] is True and r.json()["tier"] == "authorised"
    # Under another investigation the same authorisation does not apply.
    other = {**h, "Peel-Case-Reference": "OP-OTHER"}
    r = c.post(
        "/api/anpr/access",
        headers=other,
        json={"read_time": old, "authorisation_id": world.authorisation_id},
    )
    assert r.json()["allowed"] is False and "another investigation" in r.json()["reason"]
