"""Clustering under constraints, and profile ids that survive reruns."""

from __future__ import annotations

from typing import Any

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


def people(rows: list[tuple[str, str, str, str | None, str | None, str | None]]) -> pa.Table:
    """(record_id, forename, surname, dob, address, postcode) rows."""
    cols = ("record_id", "forename1", "surname_norm", "dob", "address_norm", "postcode")
    t: dict[str, list[Any]] = {c: [r[i] for r in rows] for i, c in enumerate(cols)}
    t |= {"pnc_id": [None] * len(rows), "cro_number": [None] * len(rows)}
    t["forename_keys"] = [[] for _ in rows]
    return pa.table(t)


def run_people(
    recs: pa.Table, edges: pa.Table, *, need_home: bool = True, apart: bool = False
) -> list[list[str]]:
    clusters, _ = cluster(
        recs,
        edges,
        threshold=0.99,
        distinct_identifiers=["pnc_id", "cro_number"],
        same_reference=False,
        constraints=Constraints(),
        dates_must_agree=True,
        names_must_agree=True,
        inexact_dates_need_home=need_home,
        undated_ambiguous_stay_apart=apart,
    )
    return clusters


def test_a_namesake_born_a_digit_apart_elsewhere_is_kept_apart() -> None:
    recs = people(
        [
            ("a", "HEATHER", "TAYLOR", "1978-05-24", "FLAT 13 37 SWALLOW WAY", "LX17 1PH"),
            ("m", "HEATHER", "TAYLOR", "1978-05-24", None, None),  # a marker: no address
            ("n", "HEATHER", "TAYLOR", "1978-04-24", "91 CRESS STREET", "LX8 5ZJ"),
            # the same person, date mistyped, at home: joins
            ("t", "HEATHER", "TAYLOR", "1978-05-14", "FLAT 13 37 SWALLOW WAY", "LX171PH"),
            # the same person, date mistyped, home mistyped too: joins
            ("u", "HEATHER", "TAYLOR", "1978-05-25", "FLAT 13 37 SWALLOW WAI", "LX17 1PJ"),
        ]
    )
    edges = pairs([("a", "m", 30), ("n", "m", 25), ("a", "t", 22), ("u", "a", 21)])
    assert run_people(recs, edges) == [["a", "m", "t", "u"], ["n"]]
    # Without the rule the namesake joins through the marker, which has no address.
    assert run_people(recs, edges, need_home=False) == [["a", "m", "n", "t", "u"]]


def run_guarded(
    recs: pa.Table, edges: pa.Table, guarded: tuple[str, ...] = ("warning_marker",)
) -> list[list[str]]:
    """Clusters with the name and date vetoes, PNC ID shared, warning markers guarded."""
    clusters, _ = cluster(
        recs,
        edges,
        threshold=0.99,
        distinct_identifiers=["pnc_id"],
        same_reference=False,
        constraints=Constraints(),
        dates_must_agree=True,
        names_must_agree=True,
        shared_identifiers=["pnc_id"],
        guarded_tables=guarded,
    )
    return clusters


def test_a_warning_joins_records_elsewhere_only_through_an_identifier() -> None:
    recs = people(
        [
            ("p", "LEIGH", "WILSON", "1975-08-17", "FLAT 9 23 THURSBY PLACE", "LX3 6ZH"),
            ("w", "LEIGH", "WILSON", "1975-08-17", None, None),  # the warning marker
            ("k", "LEIGH", "WILSON", "1975-08-17", "55 JESSOP LANE", "LX9 6JB"),  # a namesake
            ("h", "LEIGH", "WILSON", "1975-08-17", "FLAT 9 23 THURSBY PLACE", "LX3 6ZH"),
        ]
    )
    recs = recs.append_column(
        "lake_table", pa.array(["person", "warning_marker", "crime", "crime"])
    )
    edges = pairs([("p", "w", 30), ("k", "w", 29), ("k", "p", 25), ("h", "p", 24)])

    assert run_guarded(recs, edges) == [["h", "p", "w"], ["k"]]
    assert run_guarded(recs, edges, guarded=()) == [["h", "k", "p", "w"]]
    # With an identifier in common the records join wherever they live.
    with_id = recs.set_column(
        recs.schema.get_field_index("pnc_id"), "pnc_id", pa.array([None, "01/1A", "01/1A", None])
    )
    assert run_guarded(with_id, edges) == [["h", "p"], ["k", "w"]]


def test_an_undated_record_linked_to_two_relatives_joins_neither() -> None:
    home = ("12 ORCHARD ROW", "LX4 2QT")
    recs = people(
        [
            ("a", "SAMUEL", "OKAFOR", "1961-03-02", *home),  # the father
            ("w", "SAMUEL", "OKAFOR", "1961-03-02", None, None),  # his warrant
            ("b", "SAMUEL", "OKAFOR", "1988-11-20", *home),  # the son, same name and home
            ("c", "SAMUEL", "OKAFOR", None, *home),  # a crime record naming no date
        ]
    )
    edges = pairs([("a", "w", 30), ("a", "c", 20), ("b", "c", 19.5)])
    assert run_people(recs, edges, apart=True) == [["a", "w"], ["b"], ["c"]]
    # Without the rule the stronger link wins: the son's crime record would sit with the
    # father's warrant (or the other way round).
    assert run_people(recs, edges) == [["a", "c", "w"], ["b"]]


def test_an_undated_record_with_one_plausible_person_still_joins() -> None:
    home = ("12 ORCHARD ROW", "LX4 2QT")
    recs = people(
        [
            ("a", "SAMUEL", "OKAFOR", "1961-03-02", *home),
            ("w", "SAMUEL", "OKAFOR", "1961-03-02", None, None),
            # the same man again (a date one digit off): no rival, so no ambiguity
            ("b", "SAMUEL", "OKAFOR", "1961-03-03", *home),
            ("c", "SAMUEL", "OKAFOR", None, *home),
        ]
    )
    edges = pairs([("a", "w", 30), ("a", "c", 20), ("b", "c", 19.5), ("a", "b", 18)])
    assert run_people(recs, edges, apart=True) == [["a", "b", "c", "w"]]


def test_identifier_links_come_first_so_a_namesake_cannot_borrow_the_identifier() -> None:
    recs = people(
        [
            ("p", "LEIGH", "WILSON", "1975-08-17", "FLAT 9 23 THURSBY PLACE", "LX3 6ZH"),
            ("w", "LEIGH", "WILSON", "1975-08-17", None, None),  # warning marker
            ("c", "LEIGH", "WILSON", "1975-08-17", None, None),  # conviction
            ("k", "LEIGH", "WILSON", "1975-08-17", "55 JESSOP LANE", "LX9 6JB"),  # namesake
        ]
    )
    pnc = pa.array(["10/1P", "10/1P", "10/1P", None])
    recs = recs.set_column(recs.schema.get_field_index("pnc_id"), "pnc_id", pnc)
    recs = recs.append_column(
        "lake_table", pa.array(["person", "warning_marker", "conviction", "x"])
    )
    # The namesake's link to the conviction row (no address to tell them apart) is the
    # strongest; joined first, the conviction's PNC ID would then lift every veto.
    edges = pairs([("c", "k", 40), ("p", "w", 30), ("c", "p", 30), ("k", "w", 29)])
    assert run_guarded(recs, edges) == [["c", "p", "w"], ["k"]]


def test_one_swapped_record_does_not_make_every_bearer_of_its_surname_compatible() -> None:
    recs = people(
        [
            ("a", "DOMINIC", "NDUNGU", "2006-11-23", "FLAT 10", "LX15 7AF"),
            ("s", "NDUNGU", "DOMINIC", "2006-11-23", "FLAT 10", "LX15 7AF"),  # names swapped
            ("j", "JEPCHUMBA", "NDUNGU", None, "FLAT 10", "LX15 7AF"),
        ]
    )
    edges = pairs([("a", "s", 30), ("j", "s", 20), ("j", "a", 20)])
    assert run_people(recs, edges) == [["a", "s"], ["j"]]


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
