"""The profile, vehicle and patrol pages through the TestClient, on the published tiny city:
what they show, one audit entry per read, health detail withheld, refusals; and how the
patrol search box reads its input."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from helpers.appenv import AppEnv
from peel.app.pages_patrol import BadInput, Search, parse
from peel.serving.tables import audit_log

WANTED = {"surname": "Fasasi", "forename": "Lere", "date_of_birth": "1995-05-04"}
STOLEN = "UQ22FRX"
HEALTH_DETAIL = "community mental health"  # a phrase of the synthetic health detail


def _audits(env: AppEnv, object_type: str) -> list[dict[str, Any]]:
    with env.store.connect() as conn:
        rows = conn.execute(
            select(audit_log)
            .where(audit_log.c.object_type == object_type)
            .order_by(audit_log.c.seq)
        ).mappings()
        return [dict(r) for r in rows]


def _wanted_profile(env: AppEnv) -> str:
    r = env.client.get("/api/check/person", params=WANTED, headers=env.headers("patrol_officer"))
    pid: str = r.json()["candidates"][0]["profile_id"]
    return pid


@pytest.mark.parametrize("role", ["analyst", "investigator", "specialist_team"])
def test_profile_page_shows_sourced_facts_and_why_audited(published: AppEnv, role: str) -> None:
    env = published
    pid = _wanted_profile(env)
    reads = len(_audits(env, "person_profile"))
    links = len(_audits(env, "person_profile_link"))
    r = env.client.get(f"/profiles/{pid}", headers=env.headers(role))
    assert r.status_code == 200, r.text[:500]
    page = r.text
    for part in ("Warning markers", "Warrants", "Identities", "Crimes", "Convictions"):
        assert part in page
    for part in ("Custody", "Intelligence", "Vehicles kept", "Associates"):
        assert part in page
    assert "WA-000001" in page and "<code>warrant:WA-000001</code>" in page
    assert "Mental health" in page  # the marker's label and advice stay
    assert HEALTH_DETAIL not in page.lower()
    assert "health_detail (health)" in page  # says what was withheld
    assert "Special-category detail" not in page
    # Why are these one person: the waterfall of the first two records, drawn and tabled.
    assert "Why are these one person?" in page
    assert '<svg class="waterfall"' in page and "Final score" in page
    entries = _audits(env, "person_profile")
    assert len(entries) == reads + 1
    assert entries[-1]["actor"] == env.username(role) and pid in entries[-1]["object_ids"]
    why = _audits(env, "person_profile_link")
    assert len(why) == links + 1 and pid in why[-1]["object_ids"]


def test_profile_page_compares_the_two_records_chosen(published: AppEnv) -> None:
    env = published
    pid = _wanted_profile(env)
    h = env.headers("analyst")
    records = env.client.get(f"/api/profiles/{pid}", headers=h).json()["records"]
    assert len(records) >= 3
    a, b = records[1], records[2]
    r = env.client.get(f"/profiles/{pid}", params={"a": a, "b": b}, headers=h)
    assert r.status_code == 200
    assert f"Records <code>{a}</code> and <code>{b}</code>" in r.text
    ids = _audits(env, "person_profile_link")[-1]["object_ids"]
    assert a in ids and b in ids
    bad = env.client.get(f"/profiles/{pid}", params={"a": a, "b": "x:1"}, headers=h)
    assert bad.status_code == 200  # the profile still shows; the comparison says why not
    assert "b: not a record of profile" in bad.text
    assert '<svg class="waterfall"' not in bad.text


def test_patrol_officer_is_refused_the_profile_page_and_the_refusal_audited(
    published: AppEnv,
) -> None:
    env = published
    pid = _wanted_profile(env)
    r = env.client.get(f"/profiles/{pid}", headers=env.headers("patrol_officer"))
    assert r.status_code == 403 and "Not allowed" in r.text
    assert "WA-000001" not in r.text
    denied = [e for e in _audits(env, "person") if e["outcome"] == "denied"]
    assert denied and denied[-1]["actor"] == "patrol-officer"
    assert (
        env.client.get(f"/vehicles/{STOLEN}", headers=env.headers("patrol_officer")).status_code
        == 403
    )


def test_vehicle_page_shows_hotlist_keepers_and_recent_reads_audited(published: AppEnv) -> None:
    env = published
    before = len(_audits(env, "vehicle_profile"))
    r = env.client.get(f"/vehicles/{STOLEN}", headers=env.headers("analyst"))
    assert r.status_code == 200, r.text[:500]
    assert "stolen-vehicle" in r.text and "<code>vehicle_of_interest:" in r.text
    assert "Keepers" in r.text and "Recent ANPR sightings" in r.text
    entries = _audits(env, "vehicle_profile")
    assert len(entries) == before + 1 and f"vehicle:{STOLEN}" in entries[-1]["object_ids"]
    missing = env.client.get("/vehicles/ZZ99ZZZ", headers=env.headers("analyst"))
    assert missing.status_code == 404 and "no published vehicle profile" in missing.text


def test_patrol_page_links_profiles_only_for_roles_that_may_see_them(published: AppEnv) -> None:
    env = published
    q = {"q": "Fasasi, Lere, 04/05/1995"}
    patrol = env.client.get("/patrol", params=q, headers=env.headers("patrol_officer"))
    assert patrol.status_code == 200 and "WANTED: breach warrant outstanding" in patrol.text
    assert "/profiles/" not in patrol.text
    inv = env.client.get("/patrol", params=q, headers=env.headers("investigator"))
    assert inv.status_code == 200 and f'href="/profiles/{_wanted_profile(env)}"' in inv.text
    vehicle = env.client.get(
        "/patrol", params={"q": "uq22 frx"}, headers=env.headers("investigator")
    )
    assert f'href="/vehicles/{STOLEN}"' in vehicle.text and "STOLEN VEHICLE" in vehicle.text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("AB12 CDE", Search("vehicle", vrm="AB12CDE")),
        (" uq22frx ", Search("vehicle", vrm="UQ22FRX")),
        ("Smith", Search("person", surname="Smith")),
        ("Smith, John", Search("person", surname="Smith", forename="John")),
        (
            "Fasasi, Lere, 04/05/1995",
            Search("person", surname="Fasasi", forename="Lere", date_of_birth=date(1995, 5, 4)),
        ),
        ("Fasasi, , 4-5-1995", Search("person", surname="Fasasi", date_of_birth=date(1995, 5, 4))),
        ("", "empty"),
        ("AB12 CDE FGH", "a plate is 1 to 8"),
        ("Smith, John, 31/02/1990", "date of birth"),
        ("Smith, John, 01/01/1990, x", "at most three parts"),
        (", John", "surname"),
        ("Smith\x00, John", "control characters"),
        ("x" * 300, "at most 200"),
    ],
)
def test_the_search_box_reads_a_plate_or_a_person(text: str, expected: Search | str) -> None:
    if isinstance(expected, Search):
        assert parse(text) == expected
    else:
        with pytest.raises(BadInput, match=expected) as e:
            parse(text)
        assert "John" not in str(e.value) and "Smith" not in str(e.value)
