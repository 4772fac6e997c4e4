"""The baseline every review method of issue 7 is measured against: BMI (Cormack and
Grossman's baseline model implementation of continuous active learning), run exactly as the
issue fixes it, and the recall-effort curve of a review replayed with known labels.

BMI as fixed here: tf-idf over word 1-2-grams with sublinear tf and min_df 2 (fitted on the
whole collection, as BMI does); logistic regression with C = 1 and balanced class weights;
seeded with one random relevant and one random non-relevant item; then batches of the
top-scored unreviewed items, the batch size starting at 1 and growing by max(1, b // 10) after
each batch; the model retrained on every reviewed item before each batch. Nothing else (no
random "presumed non-relevant" items, no stopping rule: the replay stops when the target
recall is reached or the collection is exhausted).

scikit-learn does the features and the model; the loop is written here because it is the
method being measured, and no library ships it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression


@dataclass
class Curve:
    """A replayed review: after each batch, items reviewed and relevant items found."""

    total: int
    relevant: int
    reviewed: list[int] = field(default_factory=list)
    found: list[int] = field(default_factory=list)
    order: list[int] = field(default_factory=list)  # item indices in review order

    def recall(self) -> list[float]:
        return [f / self.relevant if self.relevant else 1.0 for f in self.found]

    def effort_to(self, target: float) -> float | None:
        """Share of the collection reviewed when `target` recall was first reached (None:
        never)."""
        for r, f in zip(self.reviewed, self.found, strict=True):
            if self.relevant and f / self.relevant >= target - 1e-12:
                return r / self.total
        return None


def batch_sizes(n: int) -> list[int]:
    """BMI's batch sizes until `n` items are covered: 1, 2, ..., growing by max(1, b // 10)."""
    out, b, covered = [], 1, 0
    while covered < n:
        take = min(b, n - covered)
        out.append(take)
        covered += take
        b += max(1, b // 10)
    return out


def features(texts: Sequence[str]) -> Any:
    """BMI's features: tf-idf over word 1-2-grams, sublinear tf, min_df 2 (a sparse matrix),
    or None when no term occurs in two items (a tiny or empty collection)."""
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
    try:
        return vec.fit_transform(list(texts))
    except ValueError:  # scikit-learn's "empty vocabulary"
        return None


def ranked(x: Any, y: np.ndarray, seen: np.ndarray, left: np.ndarray) -> np.ndarray:
    """`left` ordered by a logistic regression (C = 1, balanced) trained on the `seen` items'
    labels, most likely relevant first; ties by index, so a replay is the same on every
    machine. In index order when there is nothing to learn from (no features, or the seen
    items are all of one class)."""
    if x is None or len(set(y[seen].tolist())) < 2:
        return left
    model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000)
    model.fit(x[seen], y[seen])
    scores = model.decision_function(x[left])
    return left[np.lexsort((left, -scores))]


def seed_items(y: np.ndarray, rng: np.random.Generator) -> list[int]:
    """One random relevant and one random non-relevant item (those that exist)."""
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    out = []
    if len(pos):
        out.append(int(rng.choice(pos)))
    if len(neg):
        out.append(int(rng.choice(neg)))
    return out


def check_labels(texts: Sequence[str], labels: Sequence[int]) -> np.ndarray:
    y = np.asarray(labels, dtype=np.int64)
    if len(y) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(y)} labels")
    if not set(np.unique(y).tolist()) <= {0, 1}:
        raise ValueError("labels must be 0 or 1")
    return y


def replay_bmi(
    texts: Sequence[str], labels: Sequence[int], *, seed: int, target: float | None = None
) -> Curve:
    """Replay BMI over a labelled collection (labels 0/1): the recall-effort curve, batch by
    batch, until `target` recall is reached (or every item is reviewed). The seed picks the
    two seed items."""
    y = check_labels(texts, labels)
    n, rel = len(y), int(y.sum())
    curve = Curve(total=n, relevant=rel)
    if n == 0:
        return curve
    seeds = seed_items(y, np.random.default_rng(seed))
    reviewed = np.zeros(n, bool)
    reviewed[seeds] = True
    curve.order.extend(seeds)
    curve.reviewed.append(int(reviewed.sum()))
    curve.found.append(int(y[reviewed].sum()))
    x = features(texts) if n > 1 else None
    for b in batch_sizes(n - len(seeds)):
        if target is not None and rel and curve.found[-1] / rel >= target - 1e-12:
            break
        left = np.flatnonzero(~reviewed)
        if len(left) == 0:
            break
        take = ranked(x, y, np.flatnonzero(reviewed), left)[:b]
        reviewed[take] = True
        curve.order.extend(int(i) for i in take)
        curve.reviewed.append(int(reviewed.sum()))
        curve.found.append(int(y[reviewed].sum()))
    return curve


__all__ = [
    "Curve",
    "batch_sizes",
    "check_labels",
    "features",
    "ranked",
    "replay_bmi",
    "seed_items",
]
