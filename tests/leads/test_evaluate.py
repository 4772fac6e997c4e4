from __future__ import annotations

import pytest

from helpers.resolved import ResolvedWorld
from peel.lake import Lake
from peel.leads.evaluate import evaluate, wilson


def test_wilson_interval_holds_the_rate() -> None:
    lo, hi = wilson(25, 500)
    assert lo < 0.05 < hi and hi - lo < 0.05


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_small_city_evaluate_floor(resolved_world: ResolvedWorld) -> None:
    figures = evaluate(Lake(resolved_world.settings), resolved_world.city / "truth", null_count=100)
    assert figures["null_sets"] >= 50
    assert figures["false_lead_rate"] <= 0.15
    assert figures["series"] >= 1
    # Regression floor: the planted series' vehicles rank in the first three on average.
    ranks = [r["rank"] for r in figures["by_series"] if r["camera_covered"] >= 2]
    assert ranks and sum(1 for r in ranks if r is not None and r <= 3) / len(ranks) >= 0.5
