"""Leads raised as products, advice not action: a lead search on the tiny city raises its
reported leads as products (once per query), an investigator accepts or rejects them, marks
one actioned only after confirming every read's image and OCR confidence (recorded with the
lake's values), exports an accepted lead as an evidence pack whose manifest hashes check out
(audited as a disclosure), and the oversight figures count the leads by the keeper's
self-defined ethnicity and age band with intervals."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from helpers.published import copy_into
from helpers.resolved import ResolvedWorld
from peel.errors import AccessDenied, PeelError
from peel.governance import history, identity, products
from peel.governance.access import Caller
from peel.governance.accounts import Accounts
from peel.governance.policy import Policy
from peel.lake import Lake
from peel.leads import action, oversight
from peel.leads.crimes import by_refs
from peel.leads.find import authorised_find
from peel.leads.raised import age_band
from peel.serving import Store
from peel.serving.tables import audit_log, decisions, lead_monitoring
from peel.serving.tables import products as products_table
from peel.settings import get_settings

CASE = "OP-LEADS-1"


@dataclass
class World:
    lake: Lake
    store: Store
    policy: Policy
    investigator: Caller
    panel: Caller
    series: list[list[str]]
    monkeypatch: pytest.MonkeyPatch


def _series(city: Path) -> list[list[str]]:
    rows = pq.read_table(city / "truth" / "crime.parquet").to_pylist()
    by: dict[int, list[str]] = {}
    for r in rows:
        if r["series_id"] is not None and r["series_id"] >= 0:
            by.setdefault(r["series_id"], []).append(r["crime_ref"])
    return [sorted(v) for _, v in sorted(by.items())]


@pytest.fixture
def world(
    store: Store, resolved_world: ResolvedWorld, monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    copy_into(resolved_world, store.settings.data_dir)
    with store.begin() as conn:
        policy = history.ensure_installed(conn).loaded.policy
    acc = Accounts(store, policy)
    for name, role in (("inv", "investigator"), ("panel", "oversight_panel")):
        acc.seed_user(
            username=name,
            display_name=name,
            roles=[role],
            password="a long test password",
            rank="constable",
            totp=False,
        )
    with store.begin() as conn:
        inv = identity.caller_for(conn, policy, "inv", purpose="investigation", case_reference=CASE)
        panel = identity.caller_for(conn, policy, "panel", purpose="oversight")
    yield World(
        Lake(store.settings), store, policy, inv, panel, _series(resolved_world.city), monkeypatch
    )
    get_settings.cache_clear()


def _search(w: World, refs: list[str]) -> dict[str, Any] | None:
    """The search as the investigator, or None for a series too long for the recent tier."""
    engine = w.lake.engine()
    try:
        crimes, _ = by_refs(engine, refs)
    finally:
        engine.close()
    # The data clock a week after the series, so its reads are in the recent tier.
    now = max(c.committed_to for c in crimes) + timedelta(days=7)
    if now - min(c.committed_from for c in crimes) > timedelta(days=85):
        return None
    w.monkeypatch.setenv("PEEL_REFERENCE_TIME", now.isoformat())
    get_settings.cache_clear()
    return authorised_find(w.lake, w.store, w.policy, w.investigator, crimes, calibration_sets=40)


def _a_reported_lead(w: World) -> tuple[list[str], dict[str, Any], dict[str, Any]]:
    for refs in w.series:
        out = _search(w, refs)
        if out is None:
            continue
        reported = [lead for lead in out["leads"] if lead["reported"]]
        if reported:
            return refs, out, reported[0]
    pytest.fail("no planted series of the tiny city gave a reported lead")


def _count(store: Store, table: Any) -> int:
    with store.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_age_bands_are_the_police_uk_ranges() -> None:
    at = date(2024, 6, 1)
    assert age_band("2014-06-02", at) == "under-10"
    assert age_band("2006-06-01", at) == "18-24"  # 18 on the day
    assert age_band("2006-06-02", at) == "10-17"
    assert age_band("1989-06-02", at) == "25-34"  # 35 tomorrow
    assert age_band("1989-06-01", at) == "over-34"
    assert age_band("1999-06-01", at) == "25-34"
    assert age_band(None, at) == age_band("not a date", at) == age_band("2030-01-01", at)


def test_reported_leads_become_products_once_per_query(world: World) -> None:
    refs, out, lead = _a_reported_lead(world)
    reported = [x for x in out["leads"] if x["reported"]]
    assert all(x.get("product_id") for x in reported)
    assert not any(x.get("product_id") for x in out["leads"] if not x["reported"])
    assert sorted(out["raised"]) == sorted(x["product_id"] for x in reported)
    n = _count(world.store, products_table)
    again = _search(world, refs)
    assert again is not None and again["raised"] == []  # the same query finds the same products
    assert _count(world.store, products_table) == n
    item = products.get_product(world.store, world.policy, world.investigator, lead["product_id"])
    assert item["kind"] == "anpr_lead" and item["subject_ids"] == [lead["vrm"]]
    assert item["case_reference"] == CASE and item["synthetic"] is True
    assert item["explanation"]["claim"] == lead["explanation"]["claim"]
    assert any(e.startswith("anpr_read:") for e in item["explanation"]["evidence"])
    with world.store.connect() as conn:
        mon = conn.execute(
            select(lead_monitoring).where(lead_monitoring.c.product_id == lead["product_id"])
        ).one()
    if lead["suspect_profile"]:
        assert mon.keeper_kind == "person" and mon.age_band != "not applicable"
    else:
        assert mon.self_defined_ethnicity == "not applicable"
    # The search's audit entry names the products it raised.
    with world.store.connect() as conn:
        entry = conn.execute(
            select(audit_log)
            .where(audit_log.c.object_type == "anpr_lead_search")
            .order_by(audit_log.c.seq)
        ).first()
    assert entry is not None and f"product:{lead['product_id']}" in entry.object_ids


def test_actioned_only_after_accepting_and_confirming_every_read(world: World) -> None:
    _, _, lead = _a_reported_lead(world)
    pid = lead["product_id"]
    reads = action.cited_reads(world.store, pid)
    assert reads
    inv = world.investigator

    def act(confirmed: list[str], matches: bool = True) -> dict[str, Any]:
        return action.confirm_and_action(
            world.store,
            world.policy,
            world.lake,
            inv,
            pid,
            reason="stopped the car",
            confirmed=confirmed,
            plate_matches_image=matches,
        )

    with pytest.raises(PeelError, match="accepted before"):
        act(reads)
    products.decide(world.store, world.policy, inv, pid, decision="accepted", reason="fits")
    with pytest.raises(PeelError, match="not confirmed"):
        act(reads[:-1] if len(reads) > 1 else [])
    with pytest.raises(PeelError, match="not cited"):
        act([*reads, "00000000-0000-0000-0000-000000000000"])
    with pytest.raises(PeelError, match="does not show the plate"):
        act(reads, matches=False)
    with pytest.raises(PeelError, match="needs each of its"):
        products.decide(world.store, world.policy, inv, pid, decision="actioned", reason="x")
    done = act(reads)
    assert done["status"] == "actioned"
    with world.store.connect() as conn:
        last = conn.execute(
            select(decisions).where(decisions.c.product_id == pid).order_by(decisions.c.id.desc())
        ).first()
    assert last is not None and last.decision == "actioned"
    # Recorded with the lake's own image reference and OCR confidence for every read.
    lake_reads = action.read_details(world.lake, reads)
    assert sorted(c["read"] for c in last.confirmation) == sorted(reads)
    for c in last.confirmation:
        assert c["image_ref"] == lake_reads[c["read"]]["image_ref"]
        assert c["ocr_confidence"] == lake_reads[c["read"]]["ocr_confidence"]
        assert c["confirmed_by"] == "inv" and c["plate_matches_image"] is True


def test_evidence_pack_of_an_accepted_lead(world: World) -> None:
    _, _, lead = _a_reported_lead(world)
    pid = lead["product_id"]
    inv = world.investigator
    with pytest.raises(PeelError, match="only an accepted"):
        action.evidence_pack(world.store, world.policy, world.lake, inv, pid, recipient="CPS")
    products.decide(world.store, world.policy, inv, pid, decision="accepted", reason="fits")
    with pytest.raises(PeelError, match="recipient"):
        action.evidence_pack(world.store, world.policy, world.lake, inv, pid, recipient=" ")
    data, manifest = action.evidence_pack(
        world.store, world.policy, world.lake, inv, pid, recipient="CPS reviewing lawyer"
    )
    zf = zipfile.ZipFile(io.BytesIO(data))
    raw_manifest = zf.read("manifest.json")
    assert hashlib.sha256(raw_manifest).hexdigest() == manifest["manifest_sha256"]
    listed = json.loads(raw_manifest)["files"]
    assert set(listed) == set(zf.namelist()) - {"manifest.json"}
    for name, meta in listed.items():
        assert hashlib.sha256(zf.read(name)).hexdigest() == meta["sha256"]
    pack = json.loads(zf.read("lead.json"))
    assert pack["evidence_missing"] == []
    assert [d["decision"] for d in pack["decisions"]] == ["accepted"]
    reads = [json.loads(x) for x in zf.read("records/anpr_read.jsonl").splitlines()]
    cited = set(action.cited_reads(world.store, pid))
    assert {r["row_id"] for r in reads} == cited
    crimes = [json.loads(x) for x in zf.read("records/crime.jsonl").splitlines()]
    assert {c["crime_ref"] for c in crimes} == set(lead["crimes_covered"])
    with world.store.connect() as conn:
        entry = conn.execute(
            select(audit_log)
            .where(audit_log.c.object_type == "evidence_pack")
            .order_by(audit_log.c.seq.desc())
        ).first()
    assert entry is not None and entry.operation == "disclosure"
    assert entry.recipient == "CPS reviewing lawyer"
    assert manifest["manifest_sha256"] in entry.query
    # A caller working under another case cannot export it.
    with world.store.begin() as conn:
        other = identity.caller_for(
            conn, world.policy, "inv", purpose="investigation", case_reference="OP-OTHER"
        )
    with pytest.raises(AccessDenied):
        action.evidence_pack(world.store, world.policy, world.lake, other, pid, recipient="CPS")


def test_oversight_counts_leads_by_group_with_intervals(world: World) -> None:
    raised: list[str] = []
    for refs in world.series:
        out = _search(world, refs)
        if out is not None:
            raised += [x["product_id"] for x in out["leads"] if x["reported"]]
    assert raised
    inv = world.investigator
    products.decide(world.store, world.policy, inv, raised[0], decision="accepted", reason="a")
    if len(raised) > 1:
        products.decide(world.store, world.policy, inv, raised[1], decision="rejected", reason="b")
    with pytest.raises(AccessDenied):
        oversight.lead_figures(world.store, world.policy, inv)
    fig = oversight.lead_figures(world.store, world.policy, world.panel)
    assert fig["leads_raised"] == len(set(raised))
    for key in ("by_ethnic_group", "by_age_band", "by_ethnicity_code"):
        rows = fig[key]
        assert sum(r["raised"] for r in rows) == len(set(raised))
        assert sum(r["accepted"] for r in rows) == 1
        assert sum(r["rejected"] for r in rows) == (1 if len(raised) > 1 else 0)
        for r in rows:
            lo, hi = r["share_of_raised_ci95"]
            assert lo <= r["share_of_raised"] <= hi
            if r["decided"]:
                lo, hi = r["acceptance_rate_ci95"]
                assert lo <= r["acceptance_rate"] <= hi
            assert r["too_small"] == (r["decided"] < oversight.MIN_GROUP)
    with world.store.connect() as conn:
        entry = conn.execute(
            select(audit_log)
            .where(audit_log.c.object_type == "lead_oversight")
            .order_by(audit_log.c.seq.desc())
        ).first()
    assert entry is not None and entry.actor == "panel"


def test_find_ranks_by_the_keepers_history_and_says_so(world: World) -> None:
    # The policy's odds reach the search; reported leads come first; within each group the
    # order is the chance figure over the history factor; a lead whose factor counted says so
    # in its claim and arithmetic, and one whose factor did not, does not.
    lifted = 0
    for refs in world.series:
        out = _search(world, refs)
        if out is None or not out["leads"]:
            continue
        assert out["history_odds_ratio"] == world.policy.leads.history_odds_ratio == 30
        leads = out["leads"]
        keys = [(not x["reported"], x["chance"] / x["history_factor"]) for x in leads]
        assert keys == sorted(keys)
        for x in leads:
            said = "that history counts in the ranking" in x["explanation"]["claim"]
            shown = any(line.startswith("ranked by") for line in x["explanation"]["arithmetic"])
            assert said == shown == (x["history_factor"] > 1)
            if x["history_factor"] > 1:
                assert not x["possible_clone"] and x["keepers"]
                lifted += 1
        if lifted:
            break
    assert lifted, "no lead of the tiny city's series had a keeper with relevant history"
