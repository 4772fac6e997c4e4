"""Person resolution end to end on the tiny city: the CLI, reruns, analysts' overrides, the
policy on special-category comparisons, the waterfall, and the evaluation's arithmetic."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from helpers.resolved import ResolvedWorld, copy_world, resolve_as_service
from peel.cli.main import app
from peel.errors import PeelError, PolicyRefusal
from peel.governance.policy import Policy, default_policy_text, load_policy
from peel.resolve.config import load_config
from peel.resolve.evaluate import score, truth_labels
from peel.resolve.output import ResolveRun, require_run
from peel.resolve.run import model_for
from peel.schema import get_registry
from peel.serving import Store
from peel.serving.tables import resolve_overrides

runner = CliRunner()


def test_cli_run_and_evaluate_json(
    resolved_world: ResolvedWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = copy_world(resolved_world, tmp_path / "d")
    monkeypatch.setenv("PEEL_DATA_DIR", str(world.data_dir))
    monkeypatch.setenv("PEEL_ENV", "test")
    monkeypatch.setenv("PEEL_FSYNC", "false")
    from peel.settings import get_settings

    get_settings.cache_clear()
    done = runner.invoke(app, ["resolve", "run", "--json"])
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout)
    assert summary["records"] == resolved_world.summary["records"]
    # Same records, same settings: every profile keeps its id.
    assert summary["profile_ids_new"] == 0
    assert summary["profile_ids_kept"] == summary["profiles"]
    done = runner.invoke(
        app, ["resolve", "evaluate", "--json", "--truth", str(world.city / "truth")]
    )
    assert done.exit_code == 0, done.output
    figures = json.loads(done.stdout)
    for key in (
        "precision",
        "recall",
        "f1",
        "bcubed_precision",
        "bcubed_recall",
        "false_merge_share",
        "misattributed_warnings",
    ):
        assert key in figures
    assert figures["f1"] >= 0.97
    # The figures are written on the run's card.
    assert require_run(world.settings).card()["evaluation"]["f1"] == figures["f1"]
    get_settings.cache_clear()


def test_evaluate_without_a_run_or_truth_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PEEL_DATA_DIR", str(tmp_path / "empty"))
    from peel.settings import get_settings

    get_settings.cache_clear()
    done = runner.invoke(app, ["resolve", "evaluate"])
    assert done.exit_code == 2
    assert "peel resolve run" in done.stderr
    get_settings.cache_clear()


def _clusters(run: ResolveRun) -> dict[str, str]:
    t = run.clusters()
    return dict(zip(t["record_id"].to_pylist(), t["profile_id"].to_pylist(), strict=True))


def _override(world: ResolvedWorld, kind: str, a: str, b: str) -> None:
    store = Store(world.settings)
    try:
        with store.begin() as conn:
            conn.execute(
                resolve_overrides.insert().values(
                    kind=kind,
                    record_a=a,
                    record_b=b,
                    reason="test",
                    created_by="analyst",
                    created_at=datetime.now(UTC),
                )
            )
    finally:
        store.dispose()


def test_split_and_merge_overrides_survive_reruns(
    resolved_world: ResolvedWorld, tmp_path: Path
) -> None:
    world = copy_world(resolved_world, tmp_path / "d")
    before = _clusters(require_run(world.settings))
    sizes = Counter(before.values())
    big = next(p for p, n in sizes.items() if n >= 2)
    members = sorted(r for r, p in before.items() if p == big)
    singles = sorted(r for r, p in before.items() if sizes[p] == 1)
    _override(world, "split", members[0], members[1])
    _override(world, "merge", singles[0], singles[1])
    summary = resolve_as_service(world.settings)
    assert summary["overrides_split"] == 1 and summary["overrides_merge"] == 1
    for _ in range(2):  # and again: the overrides still hold on the next run
        after = _clusters(require_run(world.settings))
        assert after[members[0]] != after[members[1]]
        assert after[singles[0]] == after[singles[1]]
        resolve_as_service(world.settings)
    figures = score(require_run(world.settings), truth_labels(world.city / "truth"))
    assert figures["overrides"] == 2


def test_a_special_category_comparison_needs_the_policy(tmp_path: Path) -> None:
    extra = tmp_path / "resolve.yaml"
    extra.write_text(
        "comparisons:\n  - {kind: exact, column: self_defined_ethnicity}\n", encoding="utf-8"
    )
    cfg = load_config(extra)
    policy = load_policy(default_policy_text()).policy
    with pytest.raises(PolicyRefusal) as refused:
        cfg.check(policy, get_registry())
    assert refused.value.rule == "model_rules.special_category_uses.record_linkage"
    data = policy.model_dump()
    data["model_rules"]["special_category_uses"]["record_linkage"] = [
        "Person.self_defined_ethnicity"
    ]
    cfg.check(Policy.model_validate(data), get_registry())


def test_bad_settings_are_refused_with_the_key_named(tmp_path: Path) -> None:
    extra = tmp_path / "resolve.yaml"
    extra.write_text("link_probability: 2\n", encoding="utf-8")
    with pytest.raises(PeelError, match="link_probability"):
        load_config(extra)
    extra.write_text("comparisons:\n  - {kind: exact, column: shoe_size}\n", encoding="utf-8")
    with pytest.raises(PeelError, match="shoe_size"):
        load_config(extra).check(load_policy(default_policy_text()).policy, get_registry())


def test_waterfall_explains_a_pair_field_by_field(resolved_world: ResolvedWorld) -> None:
    run = require_run(resolved_world.settings)
    records = run.records()
    by_profile: dict[str, list[str]] = {}
    for r, p in _clusters(run).items():
        by_profile.setdefault(p, []).append(r)
    pair = next(sorted(m)[:2] for m in by_profile.values() if len(m) >= 2)
    rows = {r["record_id"]: r for r in records.to_pylist() if r["record_id"] in pair}
    model = model_for(run, records, resolved_world.settings)
    try:
        parts = model.waterfall(rows[pair[0]], rows[pair[1]])
    finally:
        model.close()
    fields = [p["field"] for p in parts]
    assert fields[0] == "Prior" and fields[-1] == "Final score"
    assert {"forename1", "surname_norm", "dob", "residence"} <= set(fields)
    total = sum(p["match_weight"] for p in parts[:-1])
    assert total == pytest.approx(parts[-1]["match_weight"], abs=1e-6)
    assert parts[-1]["match_weight"] > 0  # the two records of one profile


def _run_with(tmp_path: Path, clusters: dict[str, str], tables: dict[str, str]) -> ResolveRun:
    path = tmp_path / "run"
    path.mkdir()
    ids = sorted(clusters)
    pq.write_table(
        pa.table({"record_id": ids, "profile_id": [clusters[i] for i in ids]}),
        path / "clusters.parquet",
    )
    pq.write_table(
        pa.table({"record_id": ids, "lake_table": [tables.get(i, "person") for i in ids]}),
        path / "records.parquet",
    )
    (path / "card.json").write_text(json.dumps({"counts": {}}), encoding="utf-8")
    return ResolveRun("t", path)


def test_evaluation_arithmetic_on_a_hand_made_run(tmp_path: Path) -> None:
    # Truth: a, b, c are person 1; d, e person 2. Run: {a, b} {c, d, e}, e is a warrant.
    run = _run_with(
        tmp_path,
        {"s:a": "P1", "s:b": "P1", "s:c": "P2", "s:d": "P2", "s:e": "P2"},
        {"s:e": "warrant"},
    )
    truth = tmp_path / "truth.csv"
    truth.write_text("record_id,entity_id\na,1\nb,1\nc,1\nd,2\ne,2\n", encoding="utf-8")
    f = score(run, truth_labels(truth))
    # predicted pairs: ab, cd, ce, de = 4; correct: ab, de = 2; true pairs: ab ac bc de = 4
    assert (f["pairs_predicted"], f["pairs_correct"], f["pairs_true"]) == (4, 2, 4)
    assert f["precision"] == 0.5 and f["recall"] == 0.5
    assert f["false_merge_share"] == 0.5  # P2 of 2 profiles
    assert f["misattributed_warnings"] == 1
    # B-cubed precision: a 1, b 1, c 1/3, d 2/3, e 2/3 -> 11/15
    assert f["bcubed_precision"] == pytest.approx(11 / 15, abs=1e-6)


def test_a_truth_csv_with_a_bad_line_names_it(tmp_path: Path) -> None:
    truth = tmp_path / "truth.csv"
    truth.write_text("record_id,entity_id\na,1\n,2\n", encoding="utf-8")
    with pytest.raises(PeelError, match="line 3"):
        truth_labels(truth)
    truth.write_text("id,who\na,1\n", encoding="utf-8")
    with pytest.raises(PeelError, match="record_id,entity_id"):
        truth_labels(truth)
