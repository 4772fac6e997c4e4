"""Search keys for the person check, computed at publish time, and the score of a candidate.

Keys are plain indexed columns (normalised surname and forename, their phonetic codes from
jellyfish, the date of birth as recorded, with day and month swapped, and its year), so
SQLite and PostgreSQL return the same candidates. The score is computed in Python on the
candidates the keys found, the same way whichever store served them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any

import jellyfish

DOB = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
# A candidate scoring below this is not plausible and is not listed.
PLAUSIBLE = 0.78
# How many key rows a lookup reads at most; more means the query is too broad.
MAX_KEY_ROWS = 2000


def norm_name(text: str | None) -> str | None:
    """Upper-case letters only, accents removed (as resolution normalises names)."""
    if not text:
        return None
    decomposed = unicodedata.normalize("NFKD", text)
    letters = "".join(c for c in decomposed if not unicodedata.combining(c)).upper()
    out = re.sub(r"[^A-Z]", "", letters)
    return out or None


def first_forename(text: str | None) -> str | None:
    if not text:
        return None
    parts = text.split()
    return norm_name(parts[0]) if parts else None


def swapped(dob: str | None) -> str | None:
    """The date with day and month exchanged, when that is a different valid date."""
    if not dob or not (m := DOB.match(dob)):
        return None
    y, mo, d = (int(g) for g in m.groups())
    if d == mo or d > 12:
        return None
    try:
        return date(y, d, mo).isoformat()
    except ValueError:
        return None


@dataclass(frozen=True)
class Keys:
    surname: str | None
    forename: str | None
    dob: str | None

    def row(self) -> dict[str, Any]:
        dob = self.dob if self.dob and DOB.match(self.dob) else None
        return {
            "surname": self.surname,
            "forename": self.forename,
            "surname_metaphone": jellyfish.metaphone(self.surname)[:32] if self.surname else None,
            "surname_soundex": jellyfish.soundex(self.surname) if self.surname else None,
            "forename_metaphone": (
                jellyfish.metaphone(self.forename)[:32] if self.forename else None
            ),
            "dob": dob,
            "dob_swapped": swapped(dob),
            "birth_year": int(dob[:4]) if dob else None,
        }


def _similar(a: str | None, b: str | None) -> float | None:
    if not a or not b:
        return None
    return float(jellyfish.jaro_winkler_similarity(a, b))


Part = tuple[list[tuple[float, float]], list[str]]


def name_part(
    query: Keys, surname: str | None, forename: str | None, metaphone: str | None
) -> Part:
    """The names' (weight, similarity) parts of the score and what differs in words."""
    differs: list[str] = []
    parts: list[tuple[float, float]] = []
    sur = _similar(query.surname, surname)
    if sur is not None:
        parts.append((0.45, sur))
        if sur < 1:
            phonetic = jellyfish.metaphone(query.surname or "") == metaphone
            differs.append(
                f"surname spelled differently (similarity {sur:.2f}"
                + (", sounds alike)" if phonetic else ")")
            )
    fore = _similar(query.forename, forename)
    if fore is not None:
        parts.append((0.25, fore))
        if fore < 1:
            differs.append(f"forename spelled differently (similarity {fore:.2f})")
    elif query.forename:
        differs.append("no forename recorded")
    return parts, differs


def dob_part(query: Keys, dob: str | None, dob_swapped: str | None, year: int | None) -> Part:
    """The date of birth's part of the score (none when the query gives no date)."""
    if not query.dob:
        return [], []
    if dob is None:
        return [(0.30, 0.5)], ["no date of birth recorded"]
    if dob == query.dob:
        return [(0.30, 1.0)], []
    if dob_swapped == query.dob:
        return [(0.30, 0.8)], ["date of birth has day and month swapped"]
    if year == int(query.dob[:4]):
        return [(0.30, 0.4)], ["date of birth differs (same year)"]
    return [(0.30, 0.0)], ["date of birth differs"]


def surname_similarity(query: Keys, surname: str | None) -> float | None:
    return _similar(query.surname, surname)


def best_possible(query: Keys, surname_sim: float, key_has_forename: bool) -> float:
    """The highest score a key with this surname similarity could reach (its forename and
    date agreeing fully): a key below PLAUSIBLE here can be skipped unscored."""
    w = s = 0.45
    s *= surname_sim
    if query.forename and key_has_forename:
        w += 0.25
        s += 0.25
    if query.dob:
        w += 0.30
        s += 0.30
    return s / w


def combine(name: Part, dob: Part) -> tuple[float, list[str]]:
    # Added in order, not with sum() (which compensates rounding from Python 3.12): Scorer
    # repeats this arithmetic and must agree with it to the last bit.
    total = weighted = 0.0
    for w, sim in name[0] + dob[0]:
        total += w
        weighted += w * sim
    value = weighted / total if total else 0.0
    return round(value, 3), name[1] + dob[1]


class Scorer:
    """`score()`'s number alone, each similarity worked out once per distinct value: a check
    scores up to thousands of keys and lists at most ten, so the words of what differs are
    written (by `score`) only for those."""

    def __init__(self, query: Keys) -> None:
        self.query = query
        self.year = int(query.dob[:4]) if query.dob else None
        self._surnames: dict[str | None, float | None] = {}
        self._forenames: dict[str | None, float | None] = {}

    def surname(self, surname: str | None) -> float | None:
        try:
            return self._surnames[surname]
        except KeyError:
            sim = self._surnames[surname] = _similar(self.query.surname, surname)
            return sim

    def value(
        self,
        surname: str | None,
        forename: str | None,
        dob: str | None,
        dob_swapped: str | None,
        year: int | None,
    ) -> float:
        """The same number as `score(...)[0]` (a test holds them equal)."""
        q = self.query
        total = weighted = 0.0
        sur = self.surname(surname)
        if sur is not None:
            total += 0.45
            weighted += 0.45 * sur
        try:
            fore = self._forenames[forename]
        except KeyError:
            fore = self._forenames[forename] = _similar(q.forename, forename)
        if fore is not None:
            total += 0.25
            weighted += 0.25 * fore
        if q.dob:
            if dob is None:
                d = 0.5
            elif dob == q.dob:
                d = 1.0
            elif dob_swapped == q.dob:
                d = 0.8
            elif year == self.year:
                d = 0.4
            else:
                d = 0.0
            total += 0.30
            weighted += 0.30 * d
        return round(weighted / total if total else 0.0, 3)


def score(query: Keys, key: dict[str, Any]) -> tuple[float, list[str]]:
    """(score in 0..1, what differs in words) for one published identity."""
    return combine(
        name_part(query, key["surname"], key["forename"], key["surname_metaphone"]),
        dob_part(query, key["dob"], key["dob_swapped"], key["birth_year"]),
    )


__all__ = [
    "MAX_KEY_ROWS",
    "PLAUSIBLE",
    "Keys",
    "Part",
    "Scorer",
    "best_possible",
    "combine",
    "dob_part",
    "first_forename",
    "name_part",
    "norm_name",
    "score",
    "surname_similarity",
    "swapped",
]
