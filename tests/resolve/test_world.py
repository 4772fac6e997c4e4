"""The shared resolved world builds, and its run is current and scored."""

from __future__ import annotations

from helpers.resolved import ResolvedWorld
from peel.resolve.evaluate import score, truth_labels
from peel.resolve.output import require_run


def test_resolved_world_has_a_current_run(resolved_world: ResolvedWorld) -> None:
    run = require_run(resolved_world.settings)
    assert run.run_id == resolved_world.summary["run_id"]
    figures = score(run, truth_labels(resolved_world.city / "truth"))
    assert figures["records_scored"] == resolved_world.summary["records"]
    assert figures["f1"] > 0.9
