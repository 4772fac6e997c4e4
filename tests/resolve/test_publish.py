"""`peel publish`: profiles of the current run into the serving store, incrementally."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import Table, func, select

from helpers.published import copy_into, publish, resolve
from helpers.resolved import ResolvedWorld
from peel.governance import history
from peel.governance.access import Caller
from peel.governance.policy import Policy
from peel.ingest.pipeline import ingest_file
from peel.lake import Lake
from peel.resolve.check import person_check
from peel.resolve.served import redact
from peel.serving import Store
from peel.serving.tables import audit_log, person_profiles, person_search_keys, vehicle_profiles
from peel.sources.mapping import all_mappings

HEADER = (
    "Warrant Ref,Type,Status,PNC ID,Surname,Forenames,Date of Birth,Sex,Address,Postcode,"
    "Issued,Court,Offence,Crime Ref,Executed\n"
)


def _count(store: Store, table: Table) -> int:
    with store.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_publish_writes_every_profile_then_nothing_on_a_rerun(
    resolved_world: ResolvedWorld, store: Store, data_dir: Path
) -> None:
    copy_into(resolved_world, data_dir)
    first = publish(store)
    assert first["profiles_written"] == resolved_world.summary["profiles"]
    assert first["profiles_unchanged"] == 0 and first["vehicles_written"] > 0
    assert first["seconds"]["total"] < 30
    assert _count(store, person_profiles) == resolved_world.summary["profiles"]
    assert _count(store, person_search_keys) >= resolved_world.summary["profiles"]
    again = publish(store)
    assert again["written"] == 0 and again["deleted"] == 0
    assert again["profiles_unchanged"] == first["profiles_written"]
    assert again["vehicles_unchanged"] == first["vehicles_written"]
    with store.connect() as conn:
        ops = conn.execute(
            select(audit_log.c.actor, audit_log.c.operation).where(
                audit_log.c.object_type == "person_profile"
            )
        ).all()
        assert [tuple(o) for o in ops] == [("peel-resolve", "combination")] * 2
        doc = conn.execute(select(person_profiles.c.document).limit(1)).scalar_one()
    assert _count(store, vehicle_profiles) == first["vehicles_written"]
    # Every fact names its source record.
    for part in ("identities", "crimes", "convictions", "warrants", "warning_markers"):
        assert all(f["record"] for f in doc[part])


def test_a_new_warrant_shows_at_the_person_check_after_one_publish(
    resolved_world: ResolvedWorld, store: Store, data_dir: Path, tmp_path: Path
) -> None:
    copy_into(resolved_world, data_dir)
    publish(store)
    # A PNC nominal with no warrant: Vihaan NAIR, 04/1807784H, born 30/09/1969.
    policy, caller = _patrol(store)
    before = person_check(
        store,
        policy,
        caller,
        surname="Nair",
        forename="Vihaan",
        date_of_birth=date(1969, 9, 30),
    )
    assert before["candidates"] and before["candidates"][0]["warrants"] == []
    csv = tmp_path / "warrant-new.csv"
    csv.write_text(
        HEADER + "WA-999001,FTA,outstanding,04/1807784H,NAIR,Vihaan,30/09/1969,M,"
        '"93 Laurel Way, London",LX2 5AL,01/11/2024,Test Court,Failed to appear,,\n',
        encoding="utf-8",
    )
    lake = Lake(store.settings)
    report = ingest_file(lake, csv, all_mappings()["warrant"], dataset="city", synthetic=True)
    assert report.rows_stored == 1
    resolve(store)
    out = publish(store)
    assert 1 <= out["profiles_written"] <= 3  # the profile with the warrant, nothing wholesale
    after = person_check(
        store,
        policy,
        caller,
        surname="Nair",
        forename="Vihaan",
        date_of_birth=date(1969, 9, 30),
    )
    top = after["candidates"][0]
    assert top["profile_id"] == before["candidates"][0]["profile_id"]
    assert [w["warrant_ref"] for w in top["warrants"]] == ["WA-999001"]
    assert top["warrants"][0]["record"] == "warrant:WA-999001"


def test_health_detail_is_kept_apart_and_withheld_without_the_permission() -> None:
    doc = {
        "records": ["a:1"],
        "warning_markers": [
            {
                "marker_code": "mental-health",
                "special_category": "health",
                "record": "a:1",
                "marker_detail": None,
                "safety_advice": "advice",
            },
            {
                "marker_code": "violent",
                "special_category": None,
                "record": "a:1",
                "marker_detail": "threatened staff",
            },
        ],
        "special_category": [
            {"record": "a:1", "field": "health_detail", "category": "health", "value": "x"}
        ],
    }
    hidden = redact(doc, detail=False)
    assert hidden["special_category"] == [] and hidden["withheld"] == ["health_detail (health)"]
    assert "marker_detail" not in hidden["warning_markers"][0]
    assert hidden["warning_markers"][1]["marker_detail"] == "threatened staff"
    shown = redact(doc, detail=True)
    assert shown["special_category"][0]["value"] == "x"


def _patrol(store: Store) -> tuple[Policy, Caller]:
    with store.begin() as conn:
        policy = history.ensure_installed(conn).loaded.policy
    return policy, Caller("patrol-test", ("patrol_officer",), purpose="patrol_check")
