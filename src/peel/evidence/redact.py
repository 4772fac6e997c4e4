"""Redaction for disclosure review: phone numbers, e-mail addresses, postcodes and names found
in text, replaced by a marker (`[phone]`, `[email]`, `[postcode]`, `[name]`) for display and
export. Everything runs offline on the standard library and `phonenumbers`.

What each kind is:

- **email**: an RFC 5322 dot-atom local part, `@`, a domain of dot-separated labels ending in
  a top-level domain of two or more letters (or an `xn--` one). `a@b` is not an address.
  Addresses are always looked for, even when not redacted, so that no name or number is ever
  matched half inside one.
- **phone**: three sources, merged. (1) A UK shape: a trunk `0`, `+44` or `0044` (an optional
  `(0)` after the country code) and ten national digits starting 1, 2, 3, 5, 7, 8 or 9,
  written with spaces, dots, dashes or brackets. This is what finds the Ofcom drama ranges
  (07700 900xxx, 01632 960xxx), which `phonenumbers` deliberately calls invalid. (2) `+` and
  7 to 15 digits. (3) `phonenumbers.PhoneNumberMatcher` at `Leniency.VALID` for what the
  shapes miss (nine-digit UK numbers, `00` international numbers, extensions); its matches
  must start with `+` or `0`, so a bare ten-digit order number that happens to be a valid
  national number is not a phone. Dates, times, money and version strings fail all three.
- **postcode**: the Royal Mail pattern (A9, A99, AA9, AA99, A9A, AA9A outward codes with the
  letters each position allows, a digit and two letters inward, never C I K M O V), with or
  without the space, any case, plus GIR 0AA; not glued to other letters or digits.
- **name**: whole words, case-insensitive, from the contact list and an optional general
  list. A contact's full name (two or more words) always counts, unless every word of it is a
  common word ("Mum Mobile"). Each word of a contact name, and each one-word entry of either
  list, counts alone when it has at least `MIN_PART` letters and is not in `COMMON_WORDS`
  ("Will", "Rose", "Brown", "Mum" are not redacted alone; "Will Brown" is). A name followed
  by `'s` matches, and the span stops before the `'s`. Words of a name may be separated by
  one to three spaces or a single hyphen (so "Smith-Jones" is two words).

Overlaps: every candidate of every kind is collected, then the longest wins (ties: email,
phone, postcode, name), and a candidate that overlaps a winner is dropped.

Cost: patterns are written so that no match can backtrack more than a bounded amount (the
separator and digit classes never overlap, repetitions are bounded or possessive, matches
start only at the start of a run), so the work is linear in the text. `PhoneNumberMatcher`
is pure Python and the slowest part: it runs on windows of `PN_WINDOW` characters that hold
at least seven digits, at most `PN_BUDGET` windows per text (its own try limit would
otherwise silently stop matching in a long text); past the budget the two shapes still run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import accumulate
from typing import TypeAlias

import phonenumbers
from phonenumbers import Leniency

ALL_KINDS: frozenset[str] = frozenset({"phone", "email", "postcode", "name"})
MARKERS = {kind: f"[{kind}]" for kind in ALL_KINDS}
_PRIORITY = {"email": 0, "phone": 1, "postcode": 2, "name": 3}

MIN_PART = 3
PN_WINDOW = 4096
PN_MARGIN = 64  # longer than any phone number as written, so none is cut by a window edge
PN_BUDGET = 64


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Words people put in contact names that are not names ("Mum Mobile", "Dave Work"): never
# redacted alone, and a contact name made only of them is not redacted at all.
LABEL_WORDS: frozenset[str] = _wordset(
    """
    the and for you are but not all any can her his him she they them was one our out who
    mum mom dad nan nana nanna gran granny grandma grandad grandpa aunt auntie aunty uncle
    bro sis brother sister son daughter wife husband babe baby hun mate boss work office
    home mobile mob landline phone number taxi cab doctor doc dentist vet gym school college
    uni plumber electrician builder landlord bank pizza takeaway old new mrs miss sir dame
    rev prof lady madam team sales support help info admin
    """
)
# Common English words that are also first names or surnames: not redacted alone, redacted
# inside a full contact name ("Will" and "Brown" alone are left, "Will Brown" is redacted).
COMMON_WORDS: frozenset[str] = LABEL_WORDS | _wordset(
    """
    will mark may june april bill pat sue rob grace hope faith joy dawn penny rose jack frank
    grant chase dean guy ray rich sandy summer autumn amber holly ivy lily daisy ruby pearl
    violet crystal angel art cliff dale don eve jay lance les max miles nick norm reed rod
    wade ward warren earl duke fox hazel honey lane marsh major baker brown green white black
    grey gray young king wood woods hill hall bell cook long little bird lamb mason price
    sharp field fields hunt park parks bush stone house day north west east south best gold
    short strong sweet cross moss bond bishop knight page fisher turner walker cooper porter
    butler parker miller potter archer shepherd banks brook brooks burns lord steel law bull
    wolf crane swan finch drake small large good wise glass pool ford bridge church chambers
    pound rice salt hay grove vale lake rivers waters wells noble friend love frost snow
    winter storm rain english french welsh holland kent carter hunter stan sky star van
    """
)

_EMAIL_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~\-"
_EMAIL = re.compile(
    # The lookbehind lets a match start only where a run of address characters starts, so
    # a long run without "@" is read once, not once per position; possessive repeats and
    # atomic labels mean a failed match gives characters back one label at a time at most.
    rf"(?<![{_EMAIL_ATEXT}.])"
    rf"[{_EMAIL_ATEXT}]++(?:\.[{_EMAIL_ATEXT}]++)*+"
    r"@(?>[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})"
    r"(?![A-Za-z0-9-])"
)
_SEP = r"[ .\-)\u00a0]{0,2}"  # between digits: never a digit, so never ambiguous
_UK_PHONE = re.compile(
    r"(?<![\w+])"
    r"(?:(?:\+|00)[ ]?44[ .\-]{0,2}(?:\(?0\)?[ .\-]{0,2})?\(?|\(?0" + _SEP + ")"
    r"[1235789](?:" + _SEP + r"\d){9}"
    r"(?!\w)"
)
_INTL_PHONE = re.compile(r"(?<![\w+])\+[ ]?[1-9](?:[ .\-()\u00a0]{0,2}\d){6,14}(?!\w)")
_SEVEN_DIGITS = re.compile(r"\d(?:[^\d\n]{0,3}\d){6}")
_POSTCODE = re.compile(
    r"(?<![A-Za-z0-9])"
    r"(?:GIR[ \u00a0]?0AA|"
    r"(?:[A-PR-UWYZ][0-9]{1,2}|[A-PR-UWYZ][A-HK-Y][0-9]{1,2}|[A-PR-UWYZ][0-9][A-HJKPSTUW]"
    r"|[A-PR-UWYZ][A-HK-Y][0-9][ABEHMNPRVWXY])"
    r"[ \u00a0]?[0-9][ABD-HJLNP-UW-Z]{2})"
    r"(?![A-Za-z0-9])",
    re.IGNORECASE,
)
# A word of letters (apostrophes inside, as in O'Brien or Dave's), not touching other word
# characters: "Ann" is not a word of "Annual", nor "Dave" of "Dave123".
_WORD = re.compile(r"(?<!\w)(?<!\w['’])[^\W\d_]++(?:['’][^\W\d_]++)*+(?!\w)")
_WORD_SPLIT = re.compile(f"({_WORD.pattern})")

# Names are matched word by word with a trie of casefolded words (a dict of dicts; the key
# "" marks the end of a name), not with one regex alternation: Python's `re` tries the
# branches of an alternation one after another, so thousands of names would cost thousands
# of attempts per position, while a trie costs one dict lookup per word of text whatever
# the list's size. Words also give "whole words only" and the possessive for free, and the
# walk yields every name starting at a word (full name and first name alone), which the
# longest-wins step needs when an e-mail address swallows half of a full name.
_Trie: TypeAlias = dict[str, "_Trie"]
_END = ""


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    kind: str


def _norm(word: str) -> str:
    return word.casefold().replace("’", "'")


def _words(name: str) -> list[str]:
    return [_norm(w) for w in _WORD.findall(name)]


# A candidate: (start, end, kind priority).
_Candidate: TypeAlias = tuple[int, int, int]
_KIND_OF = {p: k for k, p in _PRIORITY.items()}


class Redactor:
    """Finds and replaces personal data in text (see the module docstring for the rules).

    `common_words` replaces `COMMON_WORDS`, the words never redacted alone."""

    def __init__(
        self,
        contact_names: Iterable[str] = (),
        extra_names: Iterable[str] = (),
        kinds: frozenset[str] = ALL_KINDS,
        *,
        common_words: Iterable[str] | None = None,
    ) -> None:
        unknown = set(kinds) - ALL_KINDS
        if unknown:
            raise ValueError(f"unknown redaction kinds: {sorted(unknown)}")
        self.kinds = frozenset(kinds)
        self.common_words = frozenset(
            _norm(w) for w in (COMMON_WORDS if common_words is None else common_words)
        )
        self._trie: _Trie = {}
        for name in contact_names:
            words = _words(name)
            if len(words) > 1 and not all(w in LABEL_WORDS for w in words):
                self._add(words)
            for w in words:
                if not self._weak(w):
                    self._add([w])
        for name in extra_names:
            words = _words(name)
            if len(words) > 1 or (words and not self._weak(words[0])):
                self._add(words)

    def _weak(self, word: str) -> bool:
        return len(word.replace("'", "")) < MIN_PART or word in self.common_words

    def _add(self, words: list[str]) -> None:
        node = self._trie
        for w in words:
            node = node.setdefault(w, {})
        node[_END] = {}

    def find(self, text: str) -> list[Span]:
        """The spans to redact, sorted and non-overlapping."""
        email, phone, post, name = (_PRIORITY[k] for k in ("email", "phone", "postcode", "name"))
        found: list[_Candidate] = [(*m.span(), email) for m in _EMAIL.finditer(text)]
        if "phone" in self.kinds:
            found.extend((s, e, phone) for s, e in _phones(text))
        if "postcode" in self.kinds:
            found.extend((*m.span(), post) for m in _POSTCODE.finditer(text))
        if "name" in self.kinds and self._trie:
            found.extend((s, e, name) for s, e in self._names(text))
        return [s for s in _longest_first(found) if s.kind in self.kinds]

    def redact(self, text: str) -> str:
        """`text` with each span replaced by its kind's marker (`MARKERS`)."""
        out: list[str] = []
        at = 0
        for s in self.find(text):
            out.append(text[at : s.start])
            out.append(MARKERS[s.kind])
            at = s.end
        out.append(text[at:])
        return "".join(out)

    def _names(self, text: str) -> Iterable[tuple[int, int]]:
        """Every (start, end) of a name in the trie, several per start when a full name and
        its first word both match."""
        root = self._trie
        # One split (in C) gives the words and the gaps between them: parts[2i + 1] is word
        # i, parts[2i + 2] the gap after it, ends[k] where parts[k] ends. Python-level work
        # is then one pass over the words and a walk from each word that can start a name.
        parts = _WORD_SPLIT.split(text)
        words = [w.casefold() for w in parts[1::2]]
        if "’" in text:
            words = [w.replace("’", "'") for w in words]
        starts = {w for w in set(words) if w in root or (w[-2:] == "'s" and w[:-2] in root)}
        if not starts:
            return
        ends = list(accumulate(map(len, parts)))
        for i in [i for i, w in enumerate(words) if w in starts]:
            start = ends[2 * i]
            node = root
            j = i
            while True:
                w = words[j]
                end = ends[2 * j + 1]
                if w[-2:] == "'s":
                    by_base = node.get(w[:-2])
                    if by_base is not None and _END in by_base:
                        yield (start, end - 2)
                child = node.get(w)
                if child is None:
                    break
                if _END in child:
                    yield (start, end)
                j += 1
                if j == len(words) or not _name_gap(parts[2 * j]):
                    break
                node = child


def _name_gap(gap: str) -> bool:
    return gap == "-" or (0 < len(gap) <= 3 and gap.isspace())


def _phones(text: str) -> set[tuple[int, int]]:
    found = {m.span() for m in _UK_PHONE.finditer(text)}
    found.update(m.span() for m in _INTL_PHONE.finditer(text))
    budget = PN_BUDGET
    for keep_from in range(0, len(text), PN_WINDOW):
        lo = max(0, keep_from - PN_MARGIN)
        window = text[lo : keep_from + PN_WINDOW + PN_MARGIN]
        if not _SEVEN_DIGITS.search(window):
            continue
        if budget == 0:
            break
        budget -= 1
        for m in phonenumbers.PhoneNumberMatcher(window, "GB", leniency=Leniency.VALID):
            start = lo + m.start
            prefixed = m.raw_string.lstrip("(")[:1] in ("+", "0")
            if prefixed and keep_from <= start < keep_from + PN_WINDOW:
                found.add((start, lo + m.end))
    return found


def _longest_first(found: list[_Candidate]) -> list[Span]:
    """Keep the longest of overlapping candidates (ties: by kind priority, then the first).

    Candidates are sorted by start and cut into clusters of overlapping ones. A cluster of
    one is kept; so is one candidate that covers its whole cluster (a full name over its
    first name, an address over a name inside it); anything else is settled longest first
    against a mask of the characters already taken."""
    found.sort()
    kept: list[_Candidate] = []
    i = 0
    while i < len(found):
        base, reach, _ = found[i]
        j = i + 1
        while j < len(found) and found[j][0] < reach:
            reach = max(reach, found[j][1])
            j += 1
        cover = None
        if j == i + 1:
            cover = found[i]
        else:
            for k in range(i, j):
                if found[k][0] != base:
                    break
                if found[k][1] == reach:
                    cover = found[k]
                    break
        if cover is not None:
            kept.append(cover)
        else:
            taken = bytearray(reach - base)
            chosen: list[_Candidate] = []
            for start, end, kind in sorted(found[i:j], key=lambda c: (c[0] - c[1], c[2], c[0])):
                if taken.find(1, start - base, end - base) == -1:
                    taken[start - base : end - base] = b"\x01" * (end - start)
                    chosen.append((start, end, kind))
            kept.extend(sorted(chosen))
        i = j
    return [Span(start, end, _KIND_OF[kind]) for start, end, kind in kept]


def _occurrences(text: str, value: str) -> list[tuple[int, int]]:
    """Where `value` occurs in `text` as a whole (not inside a longer word or number)."""
    out = []
    at = text.find(value)
    while at != -1:
        end = at + len(value)
        before_ok = at == 0 or not (text[at - 1].isalnum() and value[0].isalnum())
        after_ok = end == len(text) or not (text[end].isalnum() and value[-1].isalnum())
        if before_ok and after_ok:
            out.append((at, end))
        at = text.find(value, at + 1)
    return out


def recall(
    redactor: Redactor, planted: Iterable[tuple[str, str, str]]
) -> dict[str, dict[str, float | int]]:
    """Per kind, how much of the planted personal data `redactor` finds.

    `planted` holds (text, kind, value) triples, `value` planted in `text`. A planted value is
    `found` when every whole occurrence of it in its text lies entirely inside one span of
    its own kind, and `found_any_kind` when each lies inside one span of any kind (what a
    reader of the redacted text sees). `recall` is found / planted (NaN when nothing of the
    kind was planted). `spans` counts the spans of each kind over the distinct texts, and
    `unplanted_spans` those that overlap no planted value of the text (false positives, or
    personal data nobody planted).
    """
    rows = list(planted)
    by_text: dict[str, list[tuple[int, int]]] = {}
    spans: dict[str, list[Span]] = {}
    stats = {
        k: {"planted": 0, "found": 0, "found_any_kind": 0, "spans": 0, "unplanted_spans": 0}
        for k in sorted(ALL_KINDS)
    }
    for n, (text, kind, value) in enumerate(rows, start=1):
        if kind not in ALL_KINDS:
            raise ValueError(f"planted value {n}: unknown kind {kind!r}")
        where = _occurrences(text, value) if value else []
        if not where:
            raise ValueError(f"planted value {n} ({kind}) does not occur whole in its text")
        if text not in spans:
            spans[text] = redactor.find(text)
        by_text.setdefault(text, []).extend(where)
        found = spans[text]
        stats[kind]["planted"] += 1
        if all(
            any(s.start <= a and b <= s.end and s.kind == kind for s in found) for a, b in where
        ):
            stats[kind]["found"] += 1
        if all(any(s.start <= a and b <= s.end for s in found) for a, b in where):
            stats[kind]["found_any_kind"] += 1
    for text, found in spans.items():
        values = by_text[text]
        for s in found:
            stats[s.kind]["spans"] += 1
            if not any(s.start < b and a < s.end for a, b in values):
                stats[s.kind]["unplanted_spans"] += 1
    out: dict[str, dict[str, float | int]] = {}
    for kind, counts in stats.items():
        row: dict[str, float | int] = dict(counts)
        p = counts["planted"]
        row["recall"] = counts["found"] / p if p else math.nan
        row["recall_any_kind"] = counts["found_any_kind"] / p if p else math.nan
        out[kind] = row
    return out


__all__ = ["ALL_KINDS", "COMMON_WORDS", "MARKERS", "Redactor", "Span", "recall"]
