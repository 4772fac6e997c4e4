"""The roadside checks and the profile API on the published tiny city, on SQLite and
PostgreSQL: safety first, every read audited, nothing withheld data leaks, clear refusals."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from helpers.appenv import AppEnv
from peel.resolve import check
from peel.resolve.check import misread_variants
from peel.serving.tables import audit_log, resolve_overrides

# Synthetic people of the tiny city (seed 3).
WANTED = {"surname": "Fasasi", "forename": "Lere", "date_of_birth": "1995-05-04"}
NAMESAKES = {"surname": "Khan", "forename": "Amina"}
STOLEN = "UQ22 FRX"


def _audits(env: AppEnv, object_type: str) -> list[dict[str, Any]]:
    with env.store.connect() as conn:
        rows = conn.execute(
            select(audit_log).where(audit_log.c.object_type == object_type)
        ).mappings()
        return [dict(r) for r in rows]


def test_before_any_publish_a_check_says_so(app_env: AppEnv) -> None:
    h = app_env.headers("patrol_officer")
    for path in ("/api/check/vehicle/AB12CDE", "/api/check/person?surname=Smith"):
        r = app_env.client.get(path, headers=h)
        assert r.status_code == 503, r.text
        assert "no profiles have been published" in r.json()["detail"]
        assert "says nothing about warnings" in r.json()["detail"]


def test_person_check_puts_safety_first_and_hides_health_detail(published: AppEnv) -> None:
    env = published
    h = env.headers("patrol_officer")
    r = env.client.get("/api/check/person", params=WANTED, headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ok" and body["complete"] is True
    assert body["searched"]["run_id"] and body["searched"]["parts"]
    top = body["candidates"][0]
    assert list(top)[:4] == ["profile_id", "warnings", "warrants", "identity"]
    assert [w["warrant_ref"] for w in top["warrants"]] == ["WA-000001"]
    assert top["warrants"][0]["record"] == "warrant:WA-000001" and top["warrants"][0]["as_of"]
    marker = next(m for m in top["warnings"] if m["code"] == "mental-health")
    assert set(marker) == {
        "code",
        "label",
        "safety_advice",
        "marker_date",
        "source",
        "record",
        "as_of",
    }
    assert "community mental health" not in r.text.lower()  # the health detail itself
    assert top["identity"]["confidence"] == "high"


def test_a_typo_in_the_surname_still_finds_the_profile(published: AppEnv) -> None:
    env = published
    h = env.headers("patrol_officer")
    exact = env.client.get("/api/check/person", params=WANTED, headers=h).json()
    typo = env.client.get(
        "/api/check/person", params={**WANTED, "surname": "Fassasi"}, headers=h
    ).json()
    assert typo["candidates"][0]["profile_id"] == exact["candidates"][0]["profile_id"]
    assert any("surname" in d for d in typo["candidates"][0]["identity"]["differs"])
    swapped = env.client.get(
        "/api/check/person", params={**WANTED, "date_of_birth": "1995-04-05"}, headers=h
    ).json()
    assert swapped["candidates"][0]["profile_id"] == exact["candidates"][0]["profile_id"]
    assert "day and month swapped" in " ".join(swapped["candidates"][0]["identity"]["differs"])


def test_several_plausible_people_are_all_listed(published: AppEnv) -> None:
    env = published
    r = env.client.get("/api/check/person", params=NAMESAKES, headers=env.headers("patrol_officer"))
    body = r.json()
    assert body["ambiguous"] is True and len(body["candidates"]) >= 2
    ids = [c["profile_id"] for c in body["candidates"]]
    assert len(set(ids)) == len(ids)
    for c in body["candidates"]:
        assert c["identity"]["confidence"].startswith("ambiguous")
        assert "score" in c["identity"]
    assert "none is chosen for you" in body["message"]


def test_a_too_broad_name_says_incomplete_and_lists_the_closest_names(
    published: AppEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = published
    h = env.headers("patrol_officer")
    whole = env.client.get("/api/check/person", params=NAMESAKES, headers=h).json()
    assert whole["complete"] is True
    monkeypatch.setattr(check, "MAX_KEY_ROWS", 2)  # a large force: the bucket overflows
    body = env.client.get("/api/check/person", params=NAMESAKES, headers=h).json()
    assert body["complete"] is False and "narrow the search" in body["message"]
    # Only the closest tier is scored: the surname as given, the forename as given or
    # sounding alike; every one of those the whole search listed is still listed.
    closest = [
        c["profile_id"]
        for c in whole["candidates"]
        if not any(
            d.startswith(("surname", "forename", "no forename")) for d in c["identity"]["differs"]
        )
    ]
    assert closest and {c["profile_id"] for c in body["candidates"]} >= set(closest)
    assert all(
        not any(d.startswith("surname") for d in c["identity"]["differs"])
        for c in body["candidates"]
    )


def test_vehicle_check_exact_plate_and_misreads_apart(published: AppEnv) -> None:
    env = published
    h = env.headers("patrol_officer")
    r = env.client.get(f"/api/check/vehicle/{STOLEN}", headers=h)
    body = r.json()
    assert r.status_code == 200 and body["found"] is True and body["complete"] is True
    warning = body["exact"]["warnings"][0]
    assert warning["reason"] == "stolen-vehicle" and warning["record"].startswith(
        "vehicle_of_interest:"
    )
    assert body["possible_misread"] == []
    misread = env.client.get("/api/check/vehicle/UQ2ZFRX", headers=h).json()
    assert misread["found"] is False and misread["exact"] is None
    assert [v["vrm"] for v in misread["possible_misread"]] == ["UQ22FRX"]
    assert misread["possible_misread"][0]["warnings"][0]["reason"] == "stolen-vehicle"


def test_misread_variants_keep_uk_formats_only() -> None:
    assert "AB12CDE" in misread_variants("A812CDE")
    assert all(v != "AB12CDE" for v in misread_variants("AB12CDE"))
    # The letters of a current plate's age identifier must stay digits.
    assert "AB1ZCDE" not in misread_variants("AB12CDE")


def test_every_check_and_read_is_audited_with_its_purpose(published: AppEnv) -> None:
    env = published
    h = env.headers("patrol_officer")
    before = len(_audits(env, "person_check")) + len(_audits(env, "vehicle_check"))
    for params in (WANTED, NAMESAKES, {"surname": "Nobody"}):
        assert env.client.get("/api/check/person", params=params, headers=h).status_code == 200
    for vrm in (STOLEN, "UQ2ZFRX"):
        assert env.client.get(f"/api/check/vehicle/{vrm}", headers=h).status_code == 200
    entries = _audits(env, "person_check") + _audits(env, "vehicle_check")
    assert len(entries) - before == 5
    assert {e["purpose"] for e in entries} == {"patrol_check"}
    assert {e["operation"] for e in entries} == {"consultation"}
    first = env.client.get("/api/check/person", params=WANTED, headers=h).json()
    pid = first["candidates"][0]["profile_id"]
    assert pid in _audits(env, "person_check")[-1]["object_ids"]


def test_profile_read_withholds_special_category_and_why_explains(published: AppEnv) -> None:
    env = published
    pid = env.client.get(
        "/api/check/person", params=WANTED, headers=env.headers("patrol_officer")
    ).json()["candidates"][0]["profile_id"]
    assert (
        env.client.get(f"/api/profiles/{pid}", headers=env.headers("patrol_officer")).status_code
        == 403
    )
    h = env.headers("analyst")
    r = env.client.get(f"/api/profiles/{pid}", headers=h)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["special_category"] == [] and "health_detail (health)" in doc["withheld"]
    assert "community mental health" not in r.text.lower()
    assert [w["warrant_status"] for w in doc["warrants"]] == ["outstanding"]
    entry = _audits(env, "person_profile")[-1]
    assert entry["actor"] == "analyst" and pid in entry["object_ids"]
    a, b = doc["records"][:2]
    w = env.client.get(f"/api/profiles/{pid}/why", params={"a": a, "b": b}, headers=h)
    assert w.status_code == 200, w.text
    fields = [s["field"] for s in w.json()["waterfall"]]
    assert "surname_norm" in fields or "forename1" in fields
    other = env.client.get(f"/api/profiles/{pid}/why", params={"a": a, "b": "x:1"}, headers=h)
    assert other.status_code == 404 and "b:" in other.json()["detail"]


def test_split_and_merge_write_overrides_audited(published: AppEnv) -> None:
    env = published
    h = env.headers("analyst")
    pid = env.client.get(
        "/api/check/person", params=WANTED, headers=env.headers("patrol_officer")
    ).json()["candidates"][0]["profile_id"]
    records = env.client.get(f"/api/profiles/{pid}", headers=h).json()["records"]
    r = env.client.post(
        f"/api/profiles/{pid}/split", headers=h, json={"records": records[:1], "reason": "test"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["constraints"] == len(records) - 1
    bad = env.client.post(
        f"/api/profiles/{pid}/split", headers=h, json={"records": ["x:1"], "reason": "test"}
    )
    assert bad.status_code == 400 and "records" in bad.json()["detail"]
    names = env.client.get(
        "/api/check/person", params=NAMESAKES, headers=env.headers("patrol_officer")
    ).json()
    two = [c["profile_id"] for c in names["candidates"][:2]]
    m = env.client.post(
        "/api/profiles/merge", headers=h, json={"profile_ids": two, "reason": "same DOB docs"}
    )
    assert m.status_code == 201, m.text
    with env.store.connect() as conn:
        kinds = conn.execute(
            select(resolve_overrides.c.kind, func.count()).group_by(resolve_overrides.c.kind)
        ).all()
    assert dict((k, n) for k, n in kinds) == {"split": len(records) - 1, "merge": 1}
    assert [e["operation"] for e in _audits(env, "resolve_override")] == ["alteration"] * 2
    denied = env.client.post(
        "/api/profiles/merge",
        headers=env.headers("investigator"),
        json={"profile_ids": two, "reason": "x"},
    )
    assert denied.status_code == 403


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/check/vehicle/" + "A" * 5000, 400),
        ("/api/check/vehicle/AB%0012CDE", 400),
        ("/api/check/vehicle/'%3B DROP TABLE vehicle_profiles;--", 400),
        ("/api/check/person?surname=" + "x" * 1000, 422),
        ("/api/check/person?surname=Smi%00th", 400),
        ("/api/check/person?surname=' OR 1=1 --", 200),
        ("/api/check/person?surname=Smith&date_of_birth=1990-13-45", 422),
        ("/api/check/person", 422),
        ("/api/profiles/P-1%00", 400),
        ("/api/profiles/..%2F..%2Fetc", 404),
        ("/api/vehicles/%00", 400),
    ],
)
def test_hostile_inputs_get_a_clear_answer(published: AppEnv, path: str, status: int) -> None:
    role = "analyst" if path.startswith(("/api/profiles", "/api/vehicles")) else "patrol_officer"
    r = published.client.get(path, headers=published.headers(role))
    assert r.status_code == status, r.text
    if status == 200:
        assert r.json()["candidates"] == [] and r.json()["complete"] is True
    else:
        assert "detail" in r.json()


def test_vehicle_profile_reads_recent_sightings_live_within_the_tier(published: AppEnv) -> None:
    env = published
    r = env.client.get("/api/vehicles/SQ62 ZNZ", headers=env.headers("analyst"))
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["anpr"]["sightings"] > 0  # published: a count and the last time only
    reads = doc["recent_sightings"]["reads"]
    assert 0 < len(reads) <= 50 and doc["recent_sightings"]["days"] == 90
    # The data clock is 2024-12-01: nothing after it, nothing older than 90 days.
    assert all("2024-09-02" <= x["read_at"][:10] <= "2024-12-01" for x in reads)
    entry = _audits(env, "vehicle_profile")[-1]
    assert "vehicle:SQ62ZNZ" in entry["object_ids"]
    assert f"anpr_read:{reads[0]['row_id']}" in entry["object_ids"]
