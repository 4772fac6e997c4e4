"""Clustering under constraints, and profile ids that survive reruns."""

from __future__ import annotations

import pyarrow as pa
import pytest

from peel.resolve.cluster import Constraints, assign_profile_ids, cluster, dates_compatible


def records(rows: list[dict[str, str | None]]) -> pa.Table:
    cols = ("record_id", "pnc_id", "cro_number", "dob", "person_system", "person_ref")
    return pa.table({c: [r.get(c) for r in rows] for c in cols})


def pairs(edges: list[tuple[str, str, float]]) -> pa.Table:
    return pa.table(
        {
            "record_id_l": [a for a, _, _ in edges],
            "record_id_r": [b for _, b, _ in edges],
            "match_weight": [w for _, _, w in edges],
            "match_probability": [1 - 2.0**-w for _, _, w in edges],
        }
    )


def run(
    recs: pa.Table,
    edges: pa.Table,
    *,
    same_reference: bool = False,
    constraints: Constraints | None = None,
    dates_must_agree: bool = True,
) -> list[list[str]]:
    clusters, _ = cluster(
        recs,
        edges,
        threshold=0.99,
        distinct_identifiers=["pnc_id", "cro_number"],
        same_reference=same_reference,
        constraints=constraints or Constraints(),
        dates_must_agree=dates_must_agree,
        names_must_agree=False,
    )
    return clusters


def test_strong_pairs_join_and_weak_ones_do_not() -> None:
    recs = records([{"record_id": x} for x in "abcd"])
    got = run(recs, pairs([("a", "b", 20), ("c", "d", 3)]))
    assert got == [["a", "b"], ["c"], ["d"]]


def test_two_pnc_ids_never_share_a_profile_even_through_a_chain() -> None:
    recs = records(
        [
            {"record_id": "a", "pnc_id": "01/1A"},
            {"record_id": "b"},
            {"record_id": "c", "pnc_id": "02/2B"},
        ]
    )
    # b is like both; the stronger link wins and the other is refused.
    got = run(recs, pairs([("a", "b", 30), ("b", "c", 25)]))
    assert got == [["a", "b"], ["c"]]


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("1990-07-14", "1990-07-14", True),
        ("1990-07-14", "1990-14-07", True),  # day and month swapped (as text)
        ("1990-07-14", "1990-07-15", True),  # one digit
        ("1990-07-14", "1909-07-14", True),  # neighbours swapped
        ("1990-07-14", "1990-01-01", True),  # estimated 1 January, same year
        ("1990-07-14", "1991-01-01", False),
        ("1990-07-14", "1990-06-10", False),
        ("2009-04-10", "1953-04-18", False),  # father and son
    ],
)
def test_dates_of_birth_compatible(a: str, b: str, same: bool) -> None:
    assert dates_compatible(a, b) is same
    assert dates_compatible(b, a) is same


def test_an_estimated_date_does_not_let_a_group_take_any_date_of_its_year() -> None:
    recs = records(
        [
            {"record_id": "a", "dob": "1990-07-14"},
            {"record_id": "b", "dob": "1990-01-01"},
            {"record_id": "c", "dob": "1990-06-10"},
        ]
    )
    got = run(recs, pairs([("a", "b", 30), ("b", "c", 25)]))
    assert got == [["a", "b"], ["c"]]
    # Without the rule, the chain joins all three.
    assert run(recs, pairs([("a", "b", 30), ("b", "c", 25)]), dates_must_agree=False) == [
        ["a", "b", "c"]
    ]


def test_analyst_split_and_merge_are_obeyed() -> None:
    recs = records([{"record_id": x} for x in "abcd"])
    edges = pairs([("a", "b", 30), ("c", "d", 1)])
    split = Constraints(cannot=[("a", "b")])
    assert run(recs, edges, constraints=split) == [["a"], ["b"], ["c"], ["d"]]
    merge = Constraints(must=[("c", "d")])
    assert run(recs, edges, constraints=merge) == [["a", "b"], ["c", "d"]]


def test_same_reference_joins_when_configured() -> None:
    recs = records(
        [
            {"record_id": "a", "person_system": "custody", "person_ref": "C1"},
            {"record_id": "b", "person_system": "custody", "person_ref": "C1"},
            {"record_id": "c", "person_system": "cris", "person_ref": "C1"},
        ]
    )
    assert run(recs, pairs([]), same_reference=True) == [["a", "b"], ["c"]]
    assert run(recs, pairs([]), same_reference=False) == [["a"], ["b"], ["c"]]


def test_the_result_does_not_depend_on_pair_order() -> None:
    recs = records(
        [{"record_id": x, "pnc_id": p} for x, p in [("a", "1"), ("b", None), ("c", "2")]]
    )
    one = run(recs, pairs([("a", "b", 20), ("b", "c", 20)]))
    two = run(recs, pairs([("b", "c", 20), ("a", "b", 20)]))
    assert one == two


def test_profile_ids_kept_when_membership_is_unchanged_or_grows() -> None:
    first, stats = assign_profile_ids([["a", "b"], ["c"]], {})
    assert stats == {"new": 2}
    again, stats = assign_profile_ids([["a", "b"], ["c"]], first)
    assert again == first and stats == {"kept": 2}
    grown, _ = assign_profile_ids([["a", "b", "d"], ["c"]], first)
    assert grown["d"] == grown["a"] == first["a"]
    # A split: the larger part keeps the id, the other part gets a new one.
    split, stats = assign_profile_ids([["a"], ["b", "d"], ["c"]], grown)
    assert split["b"] == grown["b"] and split["a"] != grown["a"]
    assert stats == {"kept": 2, "new": 1}
    assert len({split["a"], split["b"], split["c"]}) == 3
