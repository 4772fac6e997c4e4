"""The disclosure step of `peel demo` on the tiny city's phone case: the case opened, the phone
ingested as the demo disclosure officer, a first stretch of review, the schedules written;
a rerun ingests and codes nothing new."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.appenv import PASSWORD, AppEnv, app_env
from helpers.resolved import ResolvedWorld
from peel.cli.demo_evidence import DECISIONS, DISC_CASE, FOLDER, evidence_step
from peel.evidence import review

__all__ = ["app_env"]  # the fixture, used by name


def test_the_demo_ingests_the_phone_reviews_a_stretch_and_writes_the_schedules(
    app_env: AppEnv,
    resolved_world: ResolvedWorld,
    data_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    review.forget_models()
    state = app_env.app.state.peel
    state.accounts.seed_user(
        username="disclosure",
        display_name="Demo disclosure officer",
        roles=["disclosure_officer"],
        password=PASSWORD,
        rank="constable",
        team="T1",
        collar_number=None,
        totp=False,
    )
    pages = evidence_step(app_env.app, resolved_world.city, "http://127.0.0.1:8000")
    assert pages and "/evidence" in pages[0]
    printed = capsys.readouterr().err
    assert f"disclosure case {DISC_CASE}: 9 files" in printed
    st = review.status(app_env.store, DISC_CASE, 1)
    assert DECISIONS <= st["decided"] <= DECISIONS + 10
    out = state.settings.data_dir / "evidence-schedules" / FOLDER
    assert {p.name for p in out.iterdir()} >= {"MG6C.csv", "MG6C.pdf", "review-record.json"}
    evidence_step(app_env.app, resolved_world.city, "http://127.0.0.1:8000")
    again = capsys.readouterr().err
    assert "0 items stored now" in again
    assert review.status(app_env.store, DISC_CASE, 1)["decided"] == st["decided"]
    review.forget_models()
