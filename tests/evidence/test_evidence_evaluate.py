"""`peel evidence evaluate` on a tiny city's phone case, with regression floors: redaction
recall per kind (the issue's targets: phone, e-mail, postcode 95%; contact names 90%) and
the replayed review finding the relevant messages well before a random review would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from peel.cli.main import app
from peel.synth import build_params, generate


@pytest.fixture(scope="module")
def tiny_city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("city") / "tiny-5"
    generate(build_params("tiny"), 5, out)
    return out


def test_evaluate_scores_redaction_and_the_review_on_the_phone_case(tiny_city: Path) -> None:
    res = CliRunner().invoke(
        app, ["evidence", "evaluate", "--truth", str(tiny_city / "truth"), "--json"]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    (case,) = doc["cases"]
    assert case["case"] == "DEMO/DISC/1" and case["messages"] > 1000
    red = case["redaction"]
    for kind in ("phone", "email", "postcode"):
        assert red[kind]["planted"] > 50 and red[kind]["recall"] >= 0.95, kind
    assert red["name"]["planted"] > 50 and red["name"]["recall"] >= 0.90
    rev = case["review"]
    assert rev["effort_to_target"] is not None and rev["effort_to_target"] < 0.5
    assert rev["recall_at_stop"] >= 0.5


def test_evaluate_refuses_a_truth_folder_without_a_case(tmp_path: Path) -> None:
    (tmp_path / "truth").mkdir()
    res = CliRunner().invoke(app, ["evidence", "evaluate", "--truth", str(tmp_path / "truth")])
    assert res.exit_code == 2 and "no disclosure case" in " ".join(res.output.split())
