"""When a review may stop, and how sure it is: the knee method (Cormack and Grossman, 2016)
to decide when to look, and a random elusion sample of the unreviewed items (reviewed, so it
counts as effort) for the recall estimate and its interval.

Knee: on the gain curve g(r) (relevant items found among the first r reviewed), the knee i
is the rank farthest above the straight line from the origin to (s, g(s)), s the items
reviewed so far; the slope ratio is (g(i) / i) / ((g(s) - g(i) + 1) / (s - i)). The rule
fires when s >= 150 and the ratio is at least 156 - min(g(s), 150): a steep start and a flat
tail, judged more strictly while few relevant items have been found.

Elusion: k relevant among m items drawn at random from the u unreviewed ones estimates the
share of relevant items the review would leave behind; with Clopper-Pearson bounds on that
share (scipy), recall is estimated as found / (found + share x (u - m)) and its interval
from the share's bounds (the found count includes the sample's k).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import beta

KNEE_MIN_RANK = 150


@dataclass(frozen=True)
class Knee:
    rank: int  # the knee i
    ratio: float  # the slope ratio
    fires: bool


def knee(gains: Sequence[int]) -> Knee:
    """The knee of a gain curve: `gains[r - 1]` = relevant found among the first r reviewed."""
    g = np.asarray(gains, dtype=float)
    s = len(g)
    if s == 0 or g[-1] == 0:
        return Knee(0, 0.0, False)
    r = np.arange(1, s + 1, dtype=float)
    # Distance above the line from (0, 0) to (s, g(s)), up to a constant factor.
    dist = g * s - r * g[-1]
    i = int(np.argmax(dist)) + 1
    if i >= s:
        return Knee(i, 0.0, False)
    gi = g[i - 1]
    ratio = float((gi / i) / ((g[-1] - gi + 1) / (s - i)))
    fires = s >= KNEE_MIN_RANK and ratio >= 156 - min(g[-1], 150)
    return Knee(i, ratio, bool(fires))


@dataclass(frozen=True)
class Estimate:
    recall: float
    low: float
    high: float
    sample: int
    sample_relevant: int
    unreviewed: int  # left unreviewed after the sample


def elusion_estimate(
    found: int, sample: int, sample_relevant: int, unreviewed: int, *, confidence: float = 0.95
) -> Estimate:
    """Recall and its interval from an elusion sample: `found` relevant items in all (the
    sample's included), `sample_relevant` of `sample` drawn from the unreviewed items, and
    `unreviewed` items left after the sample."""
    if sample <= 0:
        raise ValueError("an elusion sample needs at least one item")
    if not 0 <= sample_relevant <= sample:
        raise ValueError("relevant items in the sample must be between 0 and its size")
    a = 1.0 - confidence
    k, m = sample_relevant, sample
    lo = 0.0 if k == 0 else float(beta.ppf(a / 2, k, m - k + 1))
    hi = 1.0 if k == m else float(beta.ppf(1 - a / 2, k + 1, m - k))
    point = k / m

    def recall(rate: float) -> float:
        missed = rate * unreviewed
        return found / (found + missed) if found + missed > 0 else 1.0

    return Estimate(recall(point), recall(hi), recall(lo), m, k, unreviewed)


__all__ = ["KNEE_MIN_RANK", "Estimate", "Knee", "elusion_estimate", "knee"]
