"""The BMI baseline as issue 7 fixes it: its batch schedule, its seed, and a replay that finds
relevant items long before a random order would, on a made-up collection."""

from __future__ import annotations

import pytest

from evidence.corpus import collection
from peel.evidence.bmi import batch_sizes, replay_bmi


def test_batches_start_at_one_and_grow_by_a_tenth() -> None:
    sizes = batch_sizes(1000)
    assert sizes[:12] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    # From 20 on, b grows by b // 10: 20 -> 22 -> 24 -> 26 ...
    assert sizes[19:22] == [20, 22, 24]
    assert sum(sizes) == 1000 and all(s > 0 for s in sizes)
    # The last batch is what is left.
    assert batch_sizes(200)[-1] == 200 - sum(range(1, 20))
    assert batch_sizes(0) == [] and batch_sizes(1) == [1]


def test_a_replay_finds_the_relevant_items_early_and_is_repeatable() -> None:
    texts, labels = collection(1500, 30, seed=1, vocabulary=300, words=25, topic=4)
    curve = replay_bmi(texts, labels, seed=4, target=0.95)
    assert curve.relevant == 30 and curve.found[-1] >= 29
    effort = curve.effort_to(0.95)
    assert effort is not None and effort < 0.2  # random order needs about 0.95
    assert curve.reviewed == sorted(curve.reviewed) and curve.found == sorted(curve.found)
    assert len(set(curve.order)) == len(curve.order) == curve.reviewed[-1]
    again = replay_bmi(texts, labels, seed=4, target=0.95)
    assert again.order == curve.order
    # The seed: one relevant and one non-relevant item first.
    assert sorted(labels[i] for i in curve.order[:2]) == [0, 1]


def test_without_a_target_every_item_is_reviewed_once() -> None:
    texts, labels = collection(120, 5, seed=2, vocabulary=300, words=25, topic=4)
    curve = replay_bmi(texts, labels, seed=1)
    assert sorted(curve.order) == list(range(120))
    assert curve.recall()[-1] == 1.0 and curve.effort_to(1.0) is not None


def test_bad_labels_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="3 texts but 2 labels"):
        replay_bmi(["a", "b", "c"], [0, 1], seed=1)
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        replay_bmi(["a", "b"], [0, 2], seed=1)


def test_a_collection_with_nothing_relevant_or_no_shared_terms_is_reviewed_in_order() -> None:
    curve = replay_bmi(["x y", "y z", "z x"], [0, 0, 0], seed=1)
    assert curve.relevant == 0 and curve.recall()[-1] == 1.0 and len(curve.order) == 3
    # One-letter words are no terms at all (an empty vocabulary): still reviewed, in order.
    tiny = replay_bmi(["a b", "c", "d e"], [1, 0, 1], seed=2)
    assert sorted(tiny.order) == [0, 1, 2] and tiny.found[-1] == 2
