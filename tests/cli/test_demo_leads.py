"""The lead-search step of `peel demo`, on the tiny resolved city: the series is picked by the
fixed rule (the burglary series read near the most of its crimes), the search runs through the
API as the investigator under the demo case's authorisation (its reads are old by the data
clock), and the step prints the top lead's claim and returns the workbench page to open."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from helpers.appenv import PASSWORD, AppEnv, app_env
from helpers.published import copy_into
from helpers.resolved import ResolvedWorld
from peel.cli.demo_app import CASE, Login
from peel.cli.demo_leads import OFFENCE, demo_series, leads_step
from peel.settings import get_settings

__all__ = ["app_env"]  # the fixture, used by name


def test_the_demo_searches_a_planted_series_and_prints_the_page(
    app_env: AppEnv,
    resolved_world: ResolvedWorld,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    truth = resolved_world.city / "truth"
    series = demo_series(truth)
    assert series is not None
    crimes = {r["crime_ref"]: r for r in pq.read_table(truth / "crime.parquet").to_pylist()}
    assert {crimes[r]["series_id"] for r in series["refs"]} == {series["series_id"]}
    assert {crimes[r]["crime_type"] for r in series["refs"]} == {OFFENCE}

    copy_into(resolved_world, data_dir)
    monkeypatch.setenv("PEEL_REFERENCE_TIME", "2025-01-01T00:00:00+00:00")
    get_settings.cache_clear()
    grant = app_env.client.post(
        "/api/anpr/authorisations",
        headers=app_env.headers("manager"),
        json={
            "requester": "investigator",
            "investigation_reference": CASE,
            "offence_category": OFFENCE,
            "reason": "demo",
            "days": 14,
        },
    )
    assert grant.status_code == 201, grant.text
    login = Login("investigator", "investigator", PASSWORD, None, None, None)
    page = leads_step(app_env.app, [login], truth, "http://127.0.0.1:8000")
    assert page == (
        "http://127.0.0.1:8000/leads?crimes="
        + ",".join(series["refs"])
        + f"&authorisation_id={grant.json()['id']}"
    )
    printed = capsys.readouterr().err
    assert f"planted {OFFENCE} series {series['series_id']}" in printed
    assert "authorised under authorisation" in printed
    assert "top lead [" in printed and "would do this by chance" in printed
    get_settings.cache_clear()
