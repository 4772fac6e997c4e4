"""The stopping rule's two parts (knee, elusion estimate) against hand-worked cases, and
`peel evidence simulate` end to end on a made-up labelled collection, with bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evidence.corpus import collection
from peel.cli.main import app
from peel.errors import InputRefused
from peel.evidence.simulate import load_input, simulate
from peel.evidence.stopping import elusion_estimate, knee


def test_knee_fires_on_a_steep_start_and_a_flat_tail_only() -> None:
    steep = [min(r, 40) for r in range(1, 401)]  # 40 relevant in the first 40, then nothing
    k = knee(steep)
    assert k.rank == 40 and k.fires
    # ratio = (40/40) / ((40 - 40 + 1) / (400 - 40)) = 360
    assert k.ratio == pytest.approx(360.0)
    assert not knee(steep[:100]).fires  # fewer than 150 reviewed
    linear = [r // 10 for r in range(1, 401)]  # one in ten all the way: no knee
    assert not knee(linear).fires
    assert not knee([0] * 300).fires and not knee([]).fires


def test_elusion_estimate_and_its_interval() -> None:
    est = elusion_estimate(found=90, sample=100, sample_relevant=1, unreviewed=900)
    # 1 in 100 of 900 left: about 9 missed, recall 90 / 99.
    assert est.recall == pytest.approx(90 / 99)
    assert est.low < est.recall < est.high <= 1.0
    none_seen = elusion_estimate(found=50, sample=385, sample_relevant=0, unreviewed=10_000)
    assert none_seen.recall == 1.0 and none_seen.high == 1.0
    # Clopper-Pearson upper bound for 0 of 385 at 95%: 1 - 0.025 ** (1 / 385)
    hi_rate = 1 - 0.025 ** (1 / 385)
    assert none_seen.low == pytest.approx(50 / (50 + hi_rate * 10_000))
    with pytest.raises(ValueError):
        elusion_estimate(found=1, sample=0, sample_relevant=0, unreviewed=1)


def test_a_replay_stops_near_the_target_and_says_how_sure_it_is() -> None:
    texts, labels = collection(3000, 60, seed=3)
    out = simulate(texts, labels, target=0.8, seed=2)
    assert out["items"] == 3000 and out["relevant"] == 60
    assert out["stopped"] and out["recall_at_stop"] >= 0.8
    lo, hi = out["interval"]
    assert lo <= out["estimate"] <= hi
    assert out["effort_to_target"] is not None
    # The sample counts as effort; the rule stops long before a random review would.
    assert out["stopped_at_effort"] >= out["checks"][-1]["sample"] / 3000
    assert out["stopped_at_effort"] < out["random_effort"]
    efforts = [e for e, _ in out["curve"]]
    assert efforts == sorted(efforts) and out["curve"][-1][0] == pytest.approx(
        out["stopped_at_effort"]
    )
    assert simulate(texts, labels, target=0.8, seed=2) == out  # repeatable


def test_a_target_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(InputRefused, match="--target-recall"):
        simulate(["a"], [1], target=1.5)


def _write(tmp_path: Path, texts: list[str], labels: list[int]) -> tuple[Path, Path]:
    items, marks = tmp_path / "items.jsonl", tmp_path / "labels.csv"
    with items.open("w", encoding="utf-8") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": f"m{i}", "text": t}) + "\n")
    marks.write_text(
        "id,label\n" + "".join(f"m{i},{v}\n" for i, v in enumerate(labels)), encoding="utf-8"
    )
    return items, marks


def test_the_command_prints_one_json_document(tmp_path: Path) -> None:
    texts, labels = collection(1200, 30, seed=5)
    items, marks = _write(tmp_path, texts, labels)
    with items.open("a", encoding="utf-8") as f:
        f.write("{not json\n")
    result = CliRunner().invoke(
        app,
        ["evidence", "simulate", "--input", str(items), "--labels", str(marks), "--json"],
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    for key in (
        "effort_to_target",
        "stopped_at_effort",
        "recall_at_stop",
        "interval",
        "random_effort",
        "curve",
    ):
        assert key in doc
    assert doc["rows_skipped"] == 1 and "items.jsonl:1201: not a JSON object" in result.stderr
    assert "term" not in result.stderr  # no item text in messages


def test_items_and_labels_that_do_not_match_are_refused_with_counts(tmp_path: Path) -> None:
    items, marks = _write(tmp_path, ["a b", "b c", "c d"], [0, 1, 0])
    marks.write_text("id,label\nm0,0\nm1,1\nm9,1\nm2,7\n", encoding="utf-8")
    with pytest.raises(InputRefused, match="1 item\\(s\\) without a label and 1 label\\(s\\)"):
        load_input(items, marks)
    result = CliRunner().invoke(
        app, ["evidence", "simulate", "--input", str(items), "--labels", str(marks)]
    )
    assert result.exit_code == 2 and "without a label" in result.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("identifier,label\nm0,1\n", encoding="utf-8")
    with pytest.raises(InputRefused, match=r"bad\.csv: missing column\(s\) id"):
        load_input(items, bad)
    with pytest.raises(InputRefused, match="no such file"):
        load_input(tmp_path / "nope.csv", marks)
