"""ANPR access through the API on SQLite and PostgreSQL, driven by the data clock: the tier
boundaries at 89/90/91 days (recent, recent, needs an authorisation) and at 365/366 days
(authorised, past retention), with and without an authorisation; and the request workflow's
routes (request, pending, grant, refuse, withdraw, revoke) with their refusals."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from helpers.appenv import CASE, AppEnv
from peel.settings import get_settings

READ = datetime(2024, 1, 15, 8, 30, tzinfo=UTC)  # one ANPR read, taken at this time
ASK = {
    "investigation_reference": CASE,
    "offence_category": "burglary",
    "reason": "reads near the burglary series",
    "days": 7,
}


@pytest.fixture
def data_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """set(when): the data clock (PEEL_REFERENCE_TIME) at `when`."""

    def set_(when: datetime) -> None:
        monkeypatch.setenv("PEEL_REFERENCE_TIME", when.isoformat())
        get_settings.cache_clear()

    yield set_
    get_settings.cache_clear()


def _granted(env: AppEnv) -> int:
    """An authorisation for the investigator, requested and granted through the API now."""
    c = env.client
    r = c.post("/api/anpr/requests", headers=env.headers("investigator"), json=ASK)
    assert r.status_code == 201, r.text
    r = c.post(
        f"/api/anpr/requests/{r.json()['id']}/grant", headers=env.headers("manager"), json={}
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _ask(env: AppEnv, authorisation_id: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"read_time": READ.isoformat(), "authorisation_id": authorisation_id}
    r = env.client.post("/api/anpr/access", headers=env.headers("investigator"), json=body)
    assert r.status_code == 200, r.text
    return dict(r.json())


# (days since the read by the data clock, without an authorisation, with one)
TIERS = [
    (89, ("recent", "within 90 days"), ("recent", "within 90 days")),
    (90, ("recent", "within 90 days"), ("recent", "within 90 days")),
    (91, ("denied", "no authorisation"), ("authorised", "authorised by authorisation")),
    (365, ("denied", "no authorisation"), ("authorised", "authorised by authorisation")),
    (366, ("denied", "past the retention period"), ("denied", "past the retention period")),
]


def test_tiers_at_89_90_91_and_365_366_days_by_the_data_clock(
    app_env: AppEnv, data_clock: Any
) -> None:
    seen = []
    for age, without, with_auth in TIERS:
        data_clock(READ + timedelta(days=age))
        auth_id = _granted(app_env)
        plain, authorised = _ask(app_env, None), _ask(app_env, auth_id)
        seen.append((age, plain["tier"], authorised["tier"]))
        assert (plain["tier"], authorised["tier"]) == (without[0], with_auth[0]), age
        assert without[1] in plain["reason"] and with_auth[1] in authorised["reason"], age
        assert plain["allowed"] is (plain["tier"] != "denied")
        assert authorised["allowed"] is (authorised["tier"] != "denied")
    assert seen == [
        (89, "recent", "recent"),
        (90, "recent", "recent"),
        (91, "denied", "authorised"),
        (365, "denied", "authorised"),
        (366, "denied", "denied"),
    ]
    # An authorisation ends with its period, by the data clock: granted at 200 days for 7,
    # it has expired at 207.
    data_clock(READ + timedelta(days=200))
    auth_id = _granted(app_env)
    assert _ask(app_env, auth_id)["tier"] == "authorised"
    data_clock(READ + timedelta(days=206, hours=23))
    still = _ask(app_env, auth_id)
    assert still["tier"] == "authorised", still
    data_clock(READ + timedelta(days=207))
    late = _ask(app_env, auth_id)
    assert late["tier"] == "denied" and "expired" in late["reason"]
    r = app_env.client.get("/api/anpr/authorisations", headers=app_env.headers("investigator"))
    statuses = {a["id"]: a["status"] for a in r.json()}
    assert statuses[auth_id] == "expired"


def test_the_request_routes_follow_the_workflow(app_env: AppEnv, data_clock: Any) -> None:
    data_clock(READ + timedelta(days=150))
    c = app_env.client
    inv, mgr = app_env.headers("investigator"), app_env.headers("manager")
    ids = []
    for _ in range(3):
        r = c.post("/api/anpr/requests", headers=inv, json=ASK)
        assert r.status_code == 201 and r.json()["status"] == "pending", r.text
        ids.append(r.json()["id"])
    granted, refused, withdrawn = ids
    pending = c.get("/api/anpr/requests/pending", headers=mgr)
    assert [p["id"] for p in pending.json()] == ids
    assert c.get("/api/anpr/requests/pending", headers=inv).status_code == 403

    # Refusals name the rule: too long, a note required, not the requester's to withdraw.
    r = c.post(f"/api/anpr/requests/{granted}/grant", headers=mgr, json={"days": 8})
    assert r.status_code == 400 and "the request asked for 7 days" in r.json()["detail"]
    r = c.post("/api/anpr/requests", headers=inv, json={**ASK, "days": 31})
    assert r.status_code == 400 and "1 to 30 days" in r.json()["detail"]
    r = c.post(f"/api/anpr/requests/{refused}/refuse", headers=mgr, json={"note": ""})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "body.note"
    other = app_env.headers("analyst")
    r = c.post(f"/api/anpr/requests/{withdrawn}/withdraw", headers=other)
    assert r.status_code == 403 and "not yours" in r.json()["detail"]
    r = c.post("/api/anpr/requests/999/grant", headers=mgr, json={})
    assert r.status_code == 404

    r = c.post(f"/api/anpr/requests/{granted}/grant", headers=mgr, json={"days": 5})
    assert r.status_code == 201, r.text
    auth_id = r.json()["id"]
    assert r.json()["expires_at"] == (READ + timedelta(days=155)).isoformat()
    r = c.post(f"/api/anpr/requests/{refused}/refuse", headers=mgr, json={"note": "not enough"})
    assert r.status_code == 200 and r.json()["status"] == "refused"
    r = c.post(f"/api/anpr/requests/{withdrawn}/withdraw", headers=inv)
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    r = c.post(f"/api/anpr/requests/{withdrawn}/withdraw", headers=inv)
    assert r.status_code == 400 and "not pending" in r.json()["detail"]

    mine = c.get("/api/anpr/requests", headers=inv).json()
    assert [(m["id"], m["status"]) for m in mine] == [
        (withdrawn, "withdrawn"),
        (refused, "refused"),
        (granted, "granted"),
    ]
    assert mine[1]["decision_note"] == "not enough" and mine[2]["authorisation_id"] == auth_id
    assert c.get("/api/anpr/requests/pending", headers=mgr).json() == []

    assert _ask(app_env, auth_id)["tier"] == "authorised"
    r = c.post(f"/api/anpr/authorisations/{auth_id}/revoke", headers=inv)
    assert r.status_code == 403
    r = c.post(f"/api/anpr/authorisations/{auth_id}/revoke", headers=mgr)
    assert r.status_code == 200, r.text
    after = _ask(app_env, auth_id)
    assert after["tier"] == "denied" and "revoked" in after["reason"]
    r = c.post(f"/api/anpr/authorisations/{auth_id}/revoke", headers=mgr)
    assert r.status_code == 400 and "already revoked" in r.json()["detail"]
