"""Builds police.uk street-crime CSV files with chosen rows corrupted, and says what must become
of each record: stored, or quarantined on which physical line (header = line 1) with which field
and reason. All values are invented.

A file is a list of kinds, one per item. Valid kinds must be stored; bad kinds must be
quarantined; a blank line is no record at all. Physical lines are counted while writing, so a
quoted newline or a blank line moves every later record's line.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from peel.ingest.framing import QUOTE_PROBLEM

HEADER = [
    "Crime ID",
    "Month",
    "Reported by",
    "Falls within",
    "Longitude",
    "Latitude",
    "Location",
    "LSOA code",
    "LSOA name",
    "Crime type",
    "Last outcome category",
    "Context",
]
N_FIELDS = len(HEADER)
LONGITUDE, LOCATION = 4, 6
MAX_RECORD_BYTES = 4096  # the small lake's limit

CRIME_TYPES = [
    "Bicycle theft",
    "Burglary",
    "Criminal damage and arson",
    "Drugs",
    "Other theft",
    "Possession of weapons",
    "Public order",
    "Robbery",
    "Shoplifting",
    "Theft from the person",
    "Vehicle crime",
    "Violence and sexual offences",
]
OUTCOMES = [
    "",
    "Under investigation",
    "Investigation complete; no suspect identified",
    "Unable to prosecute suspect",
    "Awaiting court outcome",
    "Offender given a caution",
]
STREETS = ["Pelling Row", "Corvell Lane", "Addersby Walk", "Gimlet Yard", "Tansey Close"]

# Kinds that must be stored.
VALID = (
    "plain",
    "no_crime_id",  # anti-social behaviour: no Crime ID, no outcome
    "no_location",  # no coordinates: an unknown location, not a bad row
    "embedded_newline",  # a quoted newline inside Location: one record on two lines
    "quoted_comma",  # Location quoted, with a comma and doubled quotes inside
    "stray_quote",  # a quote between two letters of an unquoted field: literal text
    "crlf",  # this record ends in CRLF
    "latin1",  # Location text encoded as Latin-1
    "duplicate",  # byte-for-byte copy of the previous good record: both are kept
)
# Kinds that must be quarantined.
BAD = (
    "ragged_short",
    "ragged_long",
    "bad_crime_type",
    "bad_month",
    "bad_longitude",
    "bad_crime_id",
    "nul",
    "unterminated_quote",
    "long_field",
)
BLANK = "blank_line"
KINDS = (*VALID, *BAD, BLANK)

RECORD_REASONS = {
    "nul": "the record contains NUL bytes",
    "unterminated_quote": QUOTE_PROBLEM,
    "long_field": f"the record is longer than {MAX_RECORD_BYTES:,} bytes",
}


@dataclass(frozen=True)
class Expected:
    """What quarantine must say about one record."""

    kind: str
    line: int
    field: str | None  # None: a record-level problem
    reason: str  # the exact reason, or (field errors) the text it must start with

    def matches(self, field_: str | None, reason: str) -> bool:
        if field_ != self.field:
            return False
        if self.field is None:
            return reason == self.reason
        return reason.startswith(self.reason)


@dataclass
class Built:
    data: bytes
    valid_lines: list[int] = field(default_factory=list)  # start line of each good record
    bad: dict[int, Expected] = field(default_factory=dict)  # start line -> expectation
    stored_text: dict[int, str] = field(default_factory=dict)  # line -> Location as stored

    @property
    def records(self) -> int:
        return len(self.valid_lines) + len(self.bad)


def _quote(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _plain_fields(rng: random.Random, i: int) -> list[str]:
    return [
        hashlib.sha256(f"peel-property-{rng.random()}-{i}".encode()).hexdigest(),
        f"{rng.randint(2019, 2025)}-{rng.randint(1, 12):02d}",
        "Testshire Constabulary",
        "Testshire Constabulary",
        f"{rng.uniform(-2.5, 1.5):.6f}",
        f"{rng.uniform(50.5, 53.5):.6f}",
        f"On or near {rng.choice(STREETS)}",
        f"E0{rng.randint(1000000, 1099999)}",
        f"Testshire {rng.randint(1, 300):03d}{rng.choice('ABCDE')}",
        rng.choice(CRIME_TYPES),
        rng.choice(OUTCOMES),
        rng.choice(["", "", "Reported via an invented online form"]),
    ]


def _join(fields: Sequence[str]) -> str:
    # Plain values hold no comma, quote or newline; quoted ones are quoted by the caller.
    return ",".join(fields)


def build(
    kinds: Sequence[str],
    *,
    seed: int = 0,
    bom: bool = False,
    crlf: bool = False,
    final_newline: bool = True,
) -> Built:
    """The file for `kinds`, with what must become of each record."""
    rng = random.Random(seed)
    eol = "\r\n" if crlf else "\n"
    out = Built(data=b"")
    pieces: list[bytes] = [("\ufeff" if bom else "").encode() + (_join(HEADER) + eol).encode()]
    line = 2
    last_good: tuple[bytes, str] | None = None
    for i, kind in enumerate(kinds):
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        f = _plain_fields(rng, i)
        end = "\r\n" if kind == "crlf" else eol
        text_encoding = "utf-8"
        stored: str | None = None  # Location as it must be stored, when not f[LOCATION]
        expected: Expected | None = None
        if kind == BLANK:
            piece = end.encode()
            pieces.append(piece)
            line += 1
            continue
        if kind == "duplicate" and last_good is not None:
            piece, stored = last_good
        else:
            if kind == "no_crime_id":
                f[0], f[9], f[10] = "", "Anti-social behaviour", ""
            elif kind == "no_location":
                f[4] = f[5] = ""
                f[6] = "No location"
            elif kind == "embedded_newline":
                stored = f"On or near {rng.choice(STREETS)}\nrear of the parade"
                f[6] = _quote(stored)
            elif kind == "quoted_comma":
                stored = f'On or near {rng.choice(STREETS)}, by "The Arches"'
                f[6] = _quote(stored)
            elif kind == "stray_quote":
                stored = f[6] = 'On or near Ab"bey Mews'
            elif kind == "latin1":
                stored = f[6] = "On or near Café Müller Row"
                text_encoding = "latin-1"
                if bom:
                    # A byte-order mark declares the file UTF-8: a Latin-1 record in it is a
                    # damaged record, quarantined, not a reason to re-read the block.
                    pos = len(_join(f[:6])) + 1 + len("On or near Caf") + 1
                    expected = Expected(
                        kind,
                        line,
                        None,
                        f"not valid UTF-8: byte 0xE9 at byte {pos} of the record "
                        "(the rest of the file is UTF-8)",
                    )
            elif kind == "ragged_short":
                cut = rng.randint(1, 3)
                del f[-cut:]
                expected = Expected(kind, line, None, f"expected {N_FIELDS} fields, found {len(f)}")
            elif kind == "ragged_long":
                extra = rng.randint(1, 3)
                f += ["surplus"] * extra
                expected = Expected(kind, line, None, f"expected {N_FIELDS} fields, found {len(f)}")
            elif kind == "bad_crime_type":
                f[9] = rng.choice(["Jaywalking", "Loud hat wearing", "Theft of clouds"])
                expected = Expected(
                    kind,
                    line,
                    "crime_type",
                    "crime_type: not in the code list police_uk_crime_type",
                )
            elif kind == "bad_month":
                f[1] = rng.choice(["2023-13", "2023/04", "April 2023", "2023-00", "20x3-05"])
                expected = Expected(
                    kind, line, "committed_from", "committed_from: not a time in the format %Y-%m"
                )
            elif kind == "bad_longitude":
                f[4], why = rng.choice(
                    [
                        ("west", "the first coordinate is not a number"),
                        ("-0.1.5", "the first coordinate is not a number"),
                        ("-181.25", "the longitude and latitude are out of range"),
                        ("", "only one of the longitude and latitude is given"),
                    ]
                )
                expected = Expected(kind, line, "location", f"location: {why}")
            elif kind == "bad_crime_id":
                f[0] = f[0].upper()
                expected = Expected(
                    kind, line, "crime_ref", "crime_ref: does not match the pattern [0-9a-f]{64}"
                )
            elif kind == "nul":
                f[6] = "On or near Nul\x00l Street"
                expected = Expected(kind, line, None, RECORD_REASONS[kind])
            elif kind == "unterminated_quote":
                f[6] = '"On or near Open Quote Lane'
                expected = Expected(kind, line, None, RECORD_REASONS[kind])
            elif kind == "long_field":
                f[6] = "On or near " + "Very Long Road " * 350  # over 4,096 bytes
                expected = Expected(kind, line, None, RECORD_REASONS[kind])
            piece = (_join(f) + end).encode(text_encoding)
            if stored is None:
                stored = f[LOCATION]
        if expected is None:
            out.valid_lines.append(line)
            out.stored_text[line] = stored or ""
            last_good = (piece, stored or "")
        else:
            out.bad[line] = expected
        pieces.append(piece)
        line += piece.count(b"\n")
    data = b"".join(pieces)
    if not final_newline:
        data = data.removesuffix(b"\n").removesuffix(b"\r")
    out.data = data
    return out


__all__ = ["BAD", "BLANK", "KINDS", "MAX_RECORD_BYTES", "VALID", "Built", "Expected", "build"]
