"""The person check's search keys and score: the bound that lets a check with a date of birth
leave out keys born in another year (peel.resolve.check.person_check relies on it)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peel.resolve.search import PLAUSIBLE, Keys, best_possible, score, surname_similarity

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
