"""A made-up labelled collection for the review tests: background words for every item, a
few topic words added to the relevant ones, shuffled."""

from __future__ import annotations

import numpy as np

TOPIC = ["ladder", "crowbar", "garage", "lookout", "van", "alarm"]


def collection(
    n: int, relevant: int, seed: int, *, vocabulary: int = 400, words: int = 30, topic: int = 3
) -> tuple[list[str], list[int]]:
    rng = np.random.default_rng(seed)
    common = [f"term{i}" for i in range(vocabulary)]
    texts, labels = [], []
    for i in range(n):
        picked = list(rng.choice(common, size=words))
        if i < relevant:
            picked += list(rng.choice(TOPIC, size=topic))
        texts.append(" ".join(rng.permutation(picked)))
        labels.append(int(i < relevant))
    order = rng.permutation(n)
    return [texts[i] for i in order], [labels[i] for i in order]
