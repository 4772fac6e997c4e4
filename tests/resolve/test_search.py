"""The person check's search keys and score: the bound that lets a check with a date of birth
leave out keys born in another year (peel.resolve.check.person_check relies on it)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peel.resolve.search import (
    PLAUSIBLE,
    Keys,
    Scorer,
    best_possible,
    score,
    surname_similarity,
    swapped,
)

NAMES = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=12)
DATES = st.dates(min_value=date(1920, 1, 1), max_value=date(2020, 12, 31)).map(date.isoformat)


def _may_fit(query: Keys, key: dict[str, object]) -> bool:
    """The filter person_check adds to the name keys when a date of birth is given: no date
    recorded, or the same birth year (a day-month swap keeps the year)."""
    assert query.dob is not None
    return key["birth_year"] is None or key["birth_year"] == int(query.dob[:4])


@given(
    surname=NAMES,
    forename=st.none() | NAMES,
    dob=DATES,
    key_surname=NAMES,
    key_forename=st.none() | NAMES,
    key_dob=st.none() | DATES,
    same_names=st.booleans(),
)
def test_a_plausible_key_always_passes_the_date_filter(
    surname: str,
    forename: str | None,
    dob: str,
    key_surname: str,
    key_forename: str | None,
    key_dob: str | None,
    same_names: bool,
) -> None:
    query = Keys(surname, forename, dob)
    if same_names:
        key_surname, key_forename = surname, forename
    key = Keys(key_surname, key_forename, key_dob).row()
    value, _ = score(query, key)
    if value >= PLAUSIBLE:
        assert _may_fit(query, key)


@pytest.mark.parametrize(
    ("forename", "key_forename"),
    [("LERE", "LERE"), (None, None), ("LERE", None), (None, "LERE")],
)
def test_same_names_born_in_another_year_are_never_plausible(
    forename: str | None, key_forename: str | None
) -> None:
    query = Keys("FASASI", forename, "1995-05-04")
    for other in ("1994-05-04", "1996-12-31", "1960-01-01"):
        key = Keys("FASASI", key_forename, other).row()
        assert score(query, key)[0] < PLAUSIBLE
        assert not _may_fit(query, key)
    # ... while the same year, the swapped date and no date at all can be.
    for near in ("1995-01-01", "1995-04-05", None):
        key = Keys("FASASI", forename, near).row()
        assert _may_fit(query, key)


@given(
    surname=NAMES,
    forename=st.none() | NAMES,
    dob=st.none() | DATES,
    key_surname=NAMES,
    key_forename=st.none() | NAMES,
    key_dob=st.none() | DATES,
)
def test_the_bound_that_skips_far_surnames_never_skips_a_plausible_key(
    surname: str,
    forename: str | None,
    dob: str | None,
    key_surname: str,
    key_forename: str | None,
    key_dob: str | None,
) -> None:
    query = Keys(surname, forename, dob)
    key = Keys(key_surname, key_forename, key_dob).row()
    sim = surname_similarity(query, key["surname"])
    assert sim is not None
    assert best_possible(query, sim, key["forename"] is not None) >= score(query, key)[0] - 1e-3


@given(
    surname=NAMES,
    forename=st.none() | NAMES,
    dob=st.none() | DATES,
    keys=st.lists(
        st.tuples(st.none() | NAMES, st.none() | NAMES, st.none() | DATES), min_size=1, max_size=6
    ),
    swap_query_date=st.booleans(),
)
def test_the_checks_numeric_scorer_gives_exactly_the_score(
    surname: str,
    forename: str | None,
    dob: str | None,
    keys: list[tuple[str | None, str | None, str | None]],
    swap_query_date: bool,
) -> None:
    """person_check ranks keys with Scorer.value and writes words only for those it lists:
    the number must be the one `score` gives, to the last bit, for every key a scorer sees
    (its similarity caches are shared across keys)."""
    if dob and swap_query_date:
        dob = swapped(dob) or dob
    query = Keys(surname, forename, dob)
    scorer = Scorer(query)
    # Keys near the query too: its own names, and its date swapped or in the same year.
    near = [(surname, forename, swapped(dob) if dob else None)]
    if dob:
        near.append((surname, None, f"{dob[:4]}-01-01"))
    for key_surname, key_forename, key_dob in [*keys, *near]:
        key = Keys(key_surname, key_forename, key_dob).row()
        value = scorer.value(
            key["surname"], key["forename"], key["dob"], key["dob_swapped"], key["birth_year"]
        )
        assert value == score(query, key)[0]
