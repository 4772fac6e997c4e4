"""Convoy search: the interval join, the background, the access tier, the audit, the CLI."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from peel.cli.leads_convoy import convoy
from peel.errors import AccessDenied
from peel.governance import anpr, history, identity
from peel.governance.access import Caller
from peel.governance.accounts import Accounts
from peel.governance.policy import Policy
from peel.ingest.pipeline import ingest_file
from peel.lake import Lake
from peel.leads.convoy import (
    ConvoyError,
    ConvoyQuery,
    expected_as_unlikely,
    find_convoys,
    poisson_tail,
    search,
)
from peel.serving import Store
from peel.serving.tables import audit_log
from peel.settings import get_settings

CASE = "OP-CONVOY-1"
DAY0 = datetime(2024, 6, 1, tzinfo=UTC)
NOW = datetime(2024, 6, 30, 23, 0, tzinfo=UTC)
TARGET = "AB12 CDE"
PARTNER = "CV01 NVY"  # follows the target 10 s behind on 5 days
COMMUTER = "CM01 MTR"  # passes CAM-A at 08:15:20 every day, whether the target is there or not
STRADDLE = "ST01 RDL"  # 59 s after the target, across a minute boundary
FAR = "FA01 RRR"  # 61 s after the target
CONVOY_DAYS = (3, 8, 13, 18, 23)
COMMUTE_DAYS = (1, 4, 6, 9, 11, 14, 16, 19, 21, 24)
STRADDLE_DAYS = (5, 10, 15)


@dataclass
class World:
    lake: Lake
    store: Store
    policy: Policy
    analyst: Caller


def _reads() -> list[tuple[str, str, datetime]]:
    out: list[tuple[str, str, datetime]] = []
    for d in range(30):
        day = DAY0 + timedelta(days=d)
        # The target's daily trip at a time that moves from day to day.
        t = day + timedelta(hours=7, seconds=(d * 97) % 1800)
        for i, cam in enumerate(("CAM-A", "CAM-B", "CAM-C")):
            out.append((TARGET, cam, t + timedelta(seconds=120 * i)))
            if d in CONVOY_DAYS:
                out.append((PARTNER, cam, t + timedelta(seconds=120 * i + 10)))
        # A habit the target shares on some days.
        out.append((COMMUTER, "CAM-A", day + timedelta(hours=8, minutes=15, seconds=20 + d % 5)))
        if d in COMMUTE_DAYS:
            out.append((TARGET, "CAM-A", day + timedelta(hours=8, minutes=15, seconds=d % 7)))
        if d in STRADDLE_DAYS:
            t = day + timedelta(hours=13, seconds=30)  # 13:00:30
            out.append((TARGET, "CAM-D", t))
            out.append((STRADDLE, "CAM-D", t + timedelta(seconds=59)))  # 13:01:29
            out.append((FAR, "CAM-D", t + timedelta(seconds=61)))
    # Background traffic at the same cameras.
    rng = random.Random(7)
    for v in range(40):
        for _ in range(30):
            at = DAY0 + timedelta(seconds=rng.randrange(30 * 86400))
            out.append((f"BG{v:02d} XYZ", rng.choice(["CAM-A", "CAM-B", "CAM-C", "CAM-D"]), at))
    return out


def _write_lake(lake: Lake, folder: Path, reads: list[tuple[str, str, datetime]]) -> None:
    path = folder / "anpr-read.csv"
    lines = ["Read ID,VRM,Camera ID,Read Time (UTC),Confidence,Image Ref,Lane"]
    for i, (vrm, cam, at) in enumerate(sorted(reads, key=lambda r: r[2])):
        lines.append(f"RD-{i:06d},{vrm},{cam},{at.strftime('%Y-%m-%dT%H:%M:%SZ')},0.97,img/{i},1")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    from peel.sources import get_mapping

    report = ingest_file(lake, path, get_mapping("anpr-read"), dataset="convoy-test")
    assert report.rows_quarantined == 0


def _set_clock(monkeypatch: pytest.MonkeyPatch, when: datetime) -> None:
    monkeypatch.setenv("PEEL_REFERENCE_TIME", when.isoformat())
    get_settings.cache_clear()


@pytest.fixture
def world(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    _set_clock(monkeypatch, NOW)
    lake = Lake(store.settings)
    _write_lake(lake, tmp_path, _reads())
    with store.begin() as conn:
        policy = history.ensure_installed(conn).loaded.policy
    acc = Accounts(store, policy)
    for name, role, rank in (
        ("analyst", "analyst", "constable"),
        ("manager", "manager", "superintendent"),
        ("clerk", "disclosure_officer", "constable"),
    ):
        acc.seed_user(
            username=name,
            display_name=name,
            roles=[role],
            password="a long test password",
            rank=rank,
            totp=False,
        )
    with store.begin() as conn:
        analyst = identity.caller_for(
            conn, policy, "analyst", purpose="investigation", case_reference=CASE
        )
    yield World(lake=lake, store=store, policy=policy, analyst=analyst)


def _find(w: World, caller: Caller | None = None, **kw: Any) -> dict[str, Any]:
    return find_convoys(w.lake, w.store, w.policy, caller or w.analyst, **{"vrm": TARGET, **kw})


def _by_plate(out: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["vrm"]: c for c in out["companions"]}


def _audit(store: Store) -> list[dict[str, Any]]:
    with store.connect() as conn:
        rows = conn.execute(select(audit_log).order_by(audit_log.c.seq)).mappings()
        return [dict(r) for r in rows]


def test_a_convoy_partner_is_reported_first_with_evidence_and_audited(world: World) -> None:
    out = _find(world)
    comp = _by_plate(out)
    top = out["companions"][0]
    assert top["vrm"] == "CV01NVY" and top["rank"] == 1 and top["reported"]
    assert top["passes"] == 15 and top["days"] == 5 and top["trips"] == 5
    assert top["cameras"] == ["CAM-A", "CAM-B", "CAM-C"]
    assert all(e["gap_seconds"] == 10 for e in top["evidence"])
    assert top["expected_by_chance"] < 0.01
    assert "15 of its" in top["explanation"]["claim"]
    assert any("Poisson" in line for line in top["explanation"]["arithmetic"])
    # Evidence ids are the lake's row ids of both sides of every pair.
    assert len(top["explanation"]["evidence"]) == 30
    assert "AB12CDE" not in comp
    entries = _audit(world.store)
    last = entries[-1]
    assert last["operation"] == "consultation" and last["object_type"] == "anpr_read"
    assert last["actor"] == "analyst" and last["outcome"] == "ok"
    assert last["case_reference"] == CASE
    assert "AB12CDE" in last["query"]
    assert set(json.loads(last["object_ids"])) == set(comp)


def test_pairs_straddling_a_bucket_edge_are_found_and_pairs_past_n_are_not(
    world: World,
) -> None:
    out = _find(world, min_passes=1)
    comp = _by_plate(out)
    # The pair is 59 s apart across a minute boundary: fixed minute buckets would split it.
    ev = comp["ST01RDL"]["evidence"]
    assert {e["gap_seconds"] for e in ev} == {59} and comp["ST01RDL"]["passes"] == 3
    for e in ev:
        t = datetime.fromisoformat(e["target_at"].replace("Z", "+00:00")).timestamp()
        c = datetime.fromisoformat(e["companion_at"].replace("Z", "+00:00")).timestamp()
        assert math.floor(t / 60) != math.floor(c / 60)
    assert "FA01RRR" not in comp
    # One second wider and the 61 s companion joins.
    assert "FA01RRR" in _by_plate(_find(world, min_passes=1, seconds=61))


def test_a_daily_commuter_at_the_same_camera_is_not_reported(world: World) -> None:
    comp = _by_plate(_find(world))
    commuter = comp["CM01MTR"]
    assert commuter["passes"] == len(COMMUTE_DAYS)
    assert not commuter["reported"]
    assert commuter["background_hits"] >= 100
    assert "could be coincidence" in commuter["explanation"]["claim"]
    assert comp["CV01NVY"]["reported"]


def test_the_date_range_is_obeyed(world: World) -> None:
    out = _find(world, date_from="2024-06-01", date_to="2024-06-09")
    partner = _by_plate(out)["CV01NVY"]
    assert partner["days"] == 2  # convoy days 3 and 8 only
    assert out["target"]["range_days"] == 9 and out["query"]["to"].startswith("2024-06-10")
    for e in partner["evidence"]:
        assert "2024-06-01" <= e["target_at"][:10] <= "2024-06-09"
    assert "CV01NVY" not in _by_plate(_find(world, date_from="2024-06-25", date_to="2024-06-30"))


def test_old_reads_need_an_authorisation(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    _set_clock(monkeypatch, NOW + timedelta(days=200))
    # Without --from the search covers the recent tier only: allowed, and nothing there.
    out = _find(world)
    assert out["access"]["tier"] == "recent" and out["target"]["passes"] == 0
    with pytest.raises(AccessDenied, match="no authorisation"):
        _find(world, date_from="2024-06-01", date_to="2024-06-30")
    denied = _audit(world.store)[-1]
    assert denied["outcome"] == "denied" and denied["object_type"] == "anpr_read"
    with world.store.begin() as conn:
        manager = identity.caller_for(conn, world.policy, "manager")
    auth = anpr.grant(
        world.store,
        world.policy,
        manager,
        requester="analyst",
        investigation_reference=CASE,
        offence_category="burglary",
        reason="series of burglaries",
        days=7,
    )
    out = _find(world, date_from="2024-06-01", date_to="2024-06-30", authorisation_id=auth["id"])
    assert out["access"]["tier"] == "authorised"
    assert _by_plate(out)["CV01NVY"]["reported"]
    # The authorisation is the analyst's: a caller without the ANPR permission is refused.
    with world.store.begin() as conn:
        clerk = identity.caller_for(
            conn, world.policy, "clerk", purpose="disclosure", case_reference=CASE
        )
    with pytest.raises(AccessDenied):
        _find(world, caller=clerk, date_from="2024-06-01", authorisation_id=auth["id"])


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"vrm": "AB-12!"}, "not a number plate"),
        ({"vrm": ""}, "not a number plate"),
        ({"vrm": "ABCDEFGHIJ"}, "not a number plate"),
        ({"date_from": "yesterday"}, "--from must be a date"),
        ({"date_to": "2024-13-01"}, "--to is not a calendar date"),
        ({"date_from": "2024-06-20", "date_to": "2024-06-10"}, "--from is after --to"),
        ({"date_from": "2025-01-01"}, "empty"),
        ({"seconds": 0}, "--seconds"),
        ({"min_passes": 0}, "--min-passes"),
    ],
)
def test_malformed_input_is_refused_clearly(world: World, kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConvoyError, match=message) as e:
        _find(world, **kw)
    assert "AB-12" not in str(e.value) and "ABCDEFGHIJ" not in str(e.value)


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("convoy")(convoy)

    @app.command("other")
    def _other() -> None:  # two commands keep `convoy` a named subcommand
        pass

    return app


def test_the_cli_prints_json_and_refuses_bad_input(world: World) -> None:
    runner = CliRunner()
    args = ["convoy", "--vrm", "ab12 cde", "--as", "analyst", "--case", CASE]
    r = runner.invoke(_cli(), [*args, "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["companions"][0]["vrm"] == "CV01NVY"
    r = runner.invoke(_cli(), [*args, "--from", "01/06/2024"])
    assert r.exit_code == 2 and "--from must be a date" in r.stderr
    r = runner.invoke(_cli(), ["convoy", "--vrm", "AB-12!", "--as", "analyst", "--case", CASE])
    assert r.exit_code == 2 and "AB-12" not in r.stderr and "number plate" in r.stderr
    # Investigation without a case reference is refused, and audited as denied.
    r = runner.invoke(_cli(), ["convoy", "--vrm", TARGET, "--as", "analyst"])
    assert r.exit_code == 2 and "case reference" in r.stderr


def test_the_join_is_exact_at_the_edge_of_n_for_every_offset(world: World) -> None:
    # The engine-level search, straight: 59 s and 60 s join, 61 s does not.
    q = ConvoyQuery(
        plate="AB12CDE",
        start=DAY0,
        end=DAY0 + timedelta(days=30),
        seconds=60,
        min_passes=1,
    )
    engine = world.lake.engine()
    try:
        found = _by_plate(search(engine, q))
    finally:
        engine.close()
    assert "ST01RDL" in found and "FA01RRR" not in found


def test_poisson_tail_and_the_expected_number_by_chance() -> None:
    for lam in (1e-6, 0.3, 4.0, 60.0):
        sf = poisson_tail(lam, 8)
        assert sf[0] == pytest.approx(1.0)
        assert sf[1] == pytest.approx(1 - math.exp(-lam), rel=1e-9)
        # P(X >= 2) = sum from 2 up: for tiny lambda, about lambda^2 / 2 (no cancellation).
        direct = sum(math.exp(-lam + j * math.log(lam) - math.lgamma(j + 1)) for j in range(2, 400))
        assert sf[2] == pytest.approx(direct, rel=1e-9)
    assert poisson_tail(1e-3, 5)[5] == pytest.approx(1e-15 / 120, rel=1e-3)
    # 1000 vehicles each with lambda 0.01: about 1000 x P(X >= 2) are as unlikely as 2 trips.
    p2 = float(poisson_tail(0.01, 2)[2])
    e = expected_as_unlikely(p2, np.array([0.01]), np.array([1000]))
    assert e == pytest.approx(1000 * p2)
    assert expected_as_unlikely(p2 / 10, np.array([0.01]), np.array([1000])) < 1000 * p2 / 10
