"""Profile documents assembled from the resolved tiny city (the shared world is only read;
the co-offending test changes a copy)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.resolved import ResolvedWorld, copy_world, resolve_as_service
from peel.ingest.pipeline import ingest_file
from peel.lake import Lake
from peel.resolve.output import require_run
from peel.resolve.profiles import Profiles, build_profiles, content_hash
from peel.sources.mapping import all_mappings


@pytest.fixture(scope="module")
def profiles(resolved_world: ResolvedWorld) -> Profiles:
    settings = resolved_world.settings
    return build_profiles(Lake(settings), require_run(settings))


def _health_texts(world: ResolvedWorld) -> set[str]:
    engine = Lake(world.settings).engine()
    try:
        engine.create_views()
        rows = engine.query(
            "SELECT health_detail FROM warning_marker_current WHERE health_detail IS NOT NULL "
            "UNION SELECT health_detail FROM custody_record_current "
            "WHERE health_detail IS NOT NULL"
        ).to_pylist()
    finally:
        engine.close()
    return {r["health_detail"] for r in rows}


def test_every_profile_of_the_run_has_a_document(
    resolved_world: ResolvedWorld, profiles: Profiles
) -> None:
    assert len(profiles.people) == resolved_world.summary["profiles"]
    records = sum(len(d["records"]) for d in profiles.people.values())
    assert records == resolved_world.summary["records"]
    again = build_profiles(Lake(resolved_world.settings), require_run(resolved_world.settings))
    assert {k: content_hash(d) for k, d in again.people.items()} == {
        k: content_hash(d) for k, d in profiles.people.items()
    }


def test_health_detail_appears_only_in_the_special_category_part(
    resolved_world: ResolvedWorld, profiles: Profiles
) -> None:
    texts = _health_texts(resolved_world)
    assert texts
    kept = set()
    for doc in profiles.people.values():
        rest = json.dumps({k: v for k, v in doc.items() if k != "special_category"})
        assert not any(t in rest for t in texts), doc["profile_id"]
        kept |= {s["value"] for s in doc["special_category"] if s["field"] == "health_detail"}
    assert kept == texts
    health = [
        m for d in profiles.people.values() for m in d["warning_markers"] if m["special_category"]
    ]
    assert health and all(m["marker_detail"] is None and m["safety_advice"] for m in health)


def test_facts_name_their_source_and_links_are_symmetric(profiles: Profiles) -> None:
    people = profiles.people
    for doc in people.values():
        for part in (
            "identities",
            "crimes",
            "convictions",
            "custody",
            "warrants",
            "intelligence",
            "vehicles",
            "warning_markers",
        ):
            assert all(f["record"] in doc["records"] and f["as_of"] for f in doc[part]), part
        assert all(i["fact_or_assessment"] in ("fact", "assessment") for i in doc["intelligence"])
    kinds = {a["kind"] for d in people.values() for a in d["associates"]}
    assert {"recorded association", "shared address"} <= kinds
    for doc in people.values():
        for a in doc["associates"]:
            back = people[a["profile_id"]]["associates"]
            assert any(
                b["profile_id"] == doc["profile_id"] and b["kind"] == a["kind"] for b in back
            )
    roles = {c["role"] for d in people.values() for c in d["crimes"]}
    assert {"suspect", "victim"} <= roles


def test_vehicle_keepers_say_plainly_who_kept_them(profiles: Profiles) -> None:
    keepers = [k for v in profiles.vehicles.values() for k in v["keepers"]]
    people = [k for k in keepers if k["keeper"] == "person"]
    others = [k for k in keepers if k["keeper"] != "person"]
    assert people and others
    assert all(k["profile_id"] in profiles.people for k in people)
    assert all(k["profile_id"] is None for k in others)
    assert {k["keeper"] for k in others} <= {"company", "hire", "lease", "dealer"}
    assert all(" " not in vrm and vrm == vrm.upper() for vrm in profiles.vehicles)
    seen = [v for v in profiles.vehicles.values() if v["anpr"]["sightings"]]
    assert seen and all(v["anpr"]["last_seen"] for v in seen)


def test_two_suspects_of_one_crime_are_co_offenders(
    resolved_world: ResolvedWorld, tmp_path: Path
) -> None:
    world = copy_world(resolved_world, tmp_path / "peel-data")
    csv = tmp_path / "cris-person-extra.csv"
    csv.write_text(
        "CRIS Number,Nominal Ref,Role,PNC ID,Surname,Forenames,Date of Birth,Sex,Address,"
        "Postcode,Phone,Self-Defined Ethnicity,Ethnic Appearance\n"
        "5200271/24,N5200271-99,Suspect,04/1807784H,NAIR,Vihaan,30/09/1969,M,"
        '"93 Laurel Way, London",LX2 5AL,,,\n',
        encoding="utf-8",
    )
    lake = Lake(world.settings)
    report = ingest_file(lake, csv, all_mappings()["cris-person"], dataset="city", synthetic=True)
    assert report.rows_stored == 1
    resolve_as_service(world.settings)
    built = build_profiles(lake, require_run(world.settings))
    owner = {r: pid for pid, d in built.people.items() for r in d["records"]}
    first, second = owner["pnc-person:02/1446256S"], owner["pnc-person:04/1807784H"]
    assert first != second
    for me, other in ((first, second), (second, first)):
        links = [a for a in built.people[me]["associates"] if a["kind"] == "co-offending"]
        assert [(a["profile_id"], a["crime_ref"]) for a in links] == [(other, "5200271/24")]
