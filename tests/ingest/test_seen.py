"""The batch's filter of seen identities never misses a repeat (the repeats query relies on it)."""

from __future__ import annotations

import numpy as np

from peel.ingest.dedupe import SeenIds


def _ids(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 2**64, size=n, dtype=np.uint64)


def test_no_repeats_no_candidates_in_a_roomy_filter() -> None:
    rng = np.random.default_rng(1)
    seen = SeenIds(bits=1 << 24)
    for _ in range(5):
        seen.add(_ids(rng, 2_000))
    assert len(seen.candidates()) == 0


def test_every_repeat_is_a_candidate() -> None:
    rng = np.random.default_rng(2)
    seen = SeenIds(bits=1 << 12)  # small: many false candidates, never a missed repeat
    a, b = _ids(rng, 500), _ids(rng, 500)
    again = a[[3, 77, 499]]
    inside = np.concatenate([b, b[[10]]])  # a repeat within one block
    seen.add(a)
    seen.add(np.concatenate([again, inside]))
    got = set(seen.candidates().tolist())
    for r in [*again.tolist(), int(b[10])]:
        assert r in got


def test_too_many_candidates_overflow() -> None:
    rng = np.random.default_rng(3)
    seen = SeenIds(bits=64, limit=10)
    seen.add(_ids(rng, 100))
    seen.add(_ids(rng, 100))
    assert seen.overflowed
