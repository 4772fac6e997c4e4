"""Writing the exports as a force's systems would, with planted bad rows listed in truth.

Every export gets bad rows of the classes its layout allows. A bad row is an extra row (a
corrupted copy of a real one), so no real record is lost and the truth of the city is
unchanged; `truth/bad_rows` names the file, physical line, column and class of each.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# File name, format and encoding of each export (source -> settings).
FILES: dict[str, dict[str, str]] = {
    "anpr-camera": {"file": "anpr-camera.csv"},
    "cris": {"file": "cris.csv", "encoding": "utf-8-sig"},
    "cris-person": {"file": "cris-person.csv"},
    "cris-outcome": {"file": "cris-outcome.csv"},
    "police-uk": {"file": "police-uk-street.csv"},
    "pnc-person": {"file": "pnc-person.csv", "encoding": "latin-1"},
    "pnc-vehicle": {"file": "pnc-vehicle.csv"},
    "pnc-keeper": {"file": "pnc-keeper.csv"},
    "pnc-marker": {"file": "pnc-marker.csv"},
    "pnc-conviction": {"file": "pnc-conviction.csv"},
    "custody": {"file": "custody.csv"},
    "warrant": {"file": "warrant.csv"},
    "voi": {"file": "voi.csv"},
    "person-address": {"file": "person-address.csv"},
    "associate": {"file": "associate.csv"},
    "hr-officer": {"file": "hr-officer.csv"},
    "hr-team": {"file": "hr-team.csv"},
    "intel": {"file": "intel.jsonl.gz", "format": "jsonl"},
}

# Which column each bad-row class corrupts, per export. Classes without a column are
# structural (the line itself is broken).
BAD: dict[str, dict[str, str]] = {
    "anpr-camera": {
        "coordinates outside Great Britain": "Longitude",
        "value outside code list": "Direction",
        "missing required field": "Camera ID",
        "wrong field count": "",
    },
    "cris": {
        "wrong field count": "",
        "unparseable date": "Committed From",
        "impossible date": "Reported",
        "coordinates outside Great Britain": "Easting",
        "non-numeric number": "Northing",
        "invalid encoding byte": "MO Text",
        "over-long field": "Location",
        "value outside code list": "Premises",
        "missing required field": "Crime Category",
        "embedded NUL": "MO Text",
        "unterminated quote": "Property",
    },
    "cris-person": {
        "wrong field count": "",
        "impossible date": "Date of Birth",
        "value outside code list": "Role",
        "missing required field": "Nominal Ref",
        "embedded NUL": "Surname",
        "unterminated quote": "Address",
        "over-long field": "Surname",
        "invalid encoding byte": "Forenames",
    },
    "cris-outcome": {
        "value outside code list": "Outcome Code",
        "missing required field": "CRIS Number",
        "unparseable date": "Outcome Date",
        "wrong field count": "",
    },
    "police-uk": {
        "coordinates outside Great Britain": "Longitude",
        "non-numeric number": "Latitude",
        "value outside code list": "Crime type",
        "wrong field count": "",
        "unterminated quote": "Location",
    },
    "pnc-person": {
        "wrong field count": "",
        "impossible date": "Date of Birth",
        "value outside code list": "Sex",
        "non-numeric number": "Height (cm)",
        "missing required field": "PNC ID",
        "over-long field": "Surname",
        "embedded NUL": "Forenames",
        "unterminated quote": "Address",
    },
    "pnc-vehicle": {
        "wrong field count": "",
        "unparseable date": "Date First Registered",
        "value outside code list": "Colour",
        "missing required field": "VRM",
        "non-numeric number": "Year of Manufacture",
    },
    "pnc-keeper": {
        "impossible date": "Keeper From",
        "value outside code list": "Keeper Type",
        "missing required field": "VRM",
        "wrong field count": "",
    },
    "pnc-marker": {
        "value outside code list": "Marker Code",
        "impossible date": "Date Added",
        "missing required field": "Marker Ref",
        "wrong field count": "",
        "embedded NUL": "Detail",
    },
    "pnc-conviction": {
        "value outside code list": "Disposal",
        "unparseable date": "Conviction Date",
        "missing required field": "Conviction Ref",
        "wrong field count": "",
    },
    "custody": {
        "unparseable date": "Arrived",
        "value outside code list": "Outcome",
        "missing required field": "Custody Ref",
        "wrong field count": "",
        "unterminated quote": "Address",
    },
    "warrant": {
        "value outside code list": "Status",
        "impossible date": "Issued",
        "missing required field": "Warrant Ref",
        "wrong field count": "",
    },
    "voi": {
        "value outside code list": "Reason",
        "unparseable date": "Created",
        "missing required field": "VRM",
        "wrong field count": "",
    },
    "person-address": {
        "coordinates outside Great Britain": "Latitude",
        "value outside code list": "Address Type",
        "missing required field": "Person Ref",
        "wrong field count": "",
    },
    "associate": {
        "value outside code list": "Basis",
        "missing required field": "Associate Ref",
        "wrong field count": "",
    },
    "hr-officer": {
        "value outside code list": "Rank",
        "missing required field": "Officer Ref",
        "wrong field count": "",
    },
    "hr-team": {"value outside code list": "Team Type", "missing required field": "Team Name"},
    "intel": {
        "unparseable date": "submitted",
        "value outside code list": "basis",
        "missing required field": "intel_ref",
        "coordinates outside Great Britain": "lon",
        "malformed JSON": "",
    },
    "anpr-read": {
        "unparseable date": "Read Time (UTC)",
        "non-numeric number": "Confidence",
        "missing required field": "VRM",
        "over-long field": "Camera ID",
    },
}

_BAD_BYTE = "\ue000"  # replaced by 0xFF after encoding: not UTF-8
_NUL = "\ue001"
_QUOTE = "\ue002"


def _corrupt(cls: str, col: str, value: str, rng: np.random.Generator) -> str:
    if cls == "unparseable date":
        return str(rng.choice(["unknown", "2024-13-45", "31st Feb", "??/??/????", "0/0/0"]))
    if cls == "impossible date":
        return str(rng.choice(["31/02/2024", "30/02/2023", "31/04/2024", "29/02/2023"]))
    if cls == "coordinates outside Great Britain":
        if col in ("Longitude", "lon"):
            return str(rng.choice(["12.4964", "-74.0060", "151.2093"]))
        if col in ("Latitude", "lat"):
            return str(rng.choice(["41.9028", "-33.8688", "64.1466"]))
        return str(rng.choice(["931000", "1500000", "-250000"]))
    if cls == "non-numeric number":
        return str(rng.choice(["five", "1.8m", "n/a", "53l294", "high"]))
    if cls == "invalid encoding byte":
        return (value or "text")[:3] + _BAD_BYTE + (value or "text")[3:]
    if cls == "over-long field":
        return ("X" * 40 + " ") * 10
    if cls == "value outside code list":
        return str(rng.choice(["spaceship", "QQ", "zz-unknown", "Maybe", "99"]))
    if cls == "missing required field":
        return ""
    if cls == "embedded NUL":
        return (value or "text")[:2] + _NUL + (value or "text")[2:]
    if cls == "unterminated quote":
        return _QUOTE + (value or "text").replace(",", " ").replace('"', "")
    raise AssertionError(cls)


def plant(
    source: str, table: dict[str, list[Any]], rng: np.random.Generator, extra_per: int = 5000
) -> list[tuple[int, str, str]]:
    """Insert corrupted copies of random rows. Returns (row index, class, column) in the final
    table, sorted by row."""
    classes = list(BAD[source].items())
    n = len(next(iter(table.values())))
    if n == 0:
        return []
    picks = classes + [classes[int(rng.integers(0, len(classes)))] for _ in range(n // extra_per)]
    positions = np.sort(rng.choice(n + len(picks), size=len(picks), replace=False))
    order = rng.permutation(len(picks))
    planted: list[tuple[int, str, str]] = []
    originals = {c: list(v) for c, v in table.items()}
    for pos, k in zip(positions, order, strict=False):
        cls, col = picks[k]
        donor = int(rng.integers(0, n))
        row = {c: v[donor] for c, v in originals.items()}
        if col:
            row[col] = _corrupt(cls, col, str(row[col]), rng)
        for c, v in table.items():
            v.insert(int(pos), row[c])
        planted.append((int(pos), cls, col))
    return sorted(planted)


# Letters Unicode does not decompose into a base letter and an accent.
_NO_DECOMPOSITION = {"ı": "i", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ħ": "h", "ø": "o"}


def _fold_char(m: re.Match[str]) -> str:
    ch = m.group()
    if ch in _NO_DECOMPOSITION:
        return _NO_DECOMPOSITION[ch]
    folded = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    return folded.encode("latin-1", "replace").decode("latin-1")


def _ascii_fold(s: str) -> str:
    """What a latin-1 system does to characters it cannot hold: drop the accent (ł, ś, ă
    become l, s, a); characters latin-1 holds (é, ü) are kept."""
    return re.sub(r"[^\x00-\xff]", _fold_char, s)


def _quoted(col: pa.Array) -> pa.Array:
    need = pc.match_substring_regex(col, '[,"\\n\\r]')
    wrapped = pc.binary_join_element_wise('"', pc.replace_substring(col, '"', '""'), '"', "")
    return pc.if_else(need, wrapped, col)


def write_csv(
    path: Path,
    table: dict[str, list[Any]],
    planted: list[tuple[int, str, str]],
    encoding: str = "utf-8",
) -> list[dict[str, Any]]:
    """Write a table as CSV (pyarrow's writer, quoting only where needed), then apply the
    structural damage of the planted rows to their lines: an extra field, an invalid byte, a
    NUL, an unterminated quote. No field holds a line break, so line = row + 2."""
    cols = list(table)
    # Quoted only where needed (a comma, quote or line break), as Python's csv module does,
    # but in Arrow's kernels, column by column.
    fields = [_quoted(pa.array([str(v) for v in table[c]], pa.string())) for c in cols]
    header = ",".join(_quoted(pa.array(cols, pa.string())).to_pylist())
    lines = pc.binary_join_element_wise(*fields, ",") if len(fields) > 1 else fields[0]
    data = "\n".join([header, *lines.to_pylist(), ""]).encode("utf-8")
    wrong = {r for r, cls, _ in planted if cls == "wrong field count"}
    if wrong:
        lines = data.split(b"\n")
        for r in wrong:
            lines[r + 1] += b",EXTRA"
        data = b"\n".join(lines)
    if encoding == "latin-1":
        text = data.decode("utf-8").replace(_BAD_BYTE, "").replace(_NUL, "\x00")
        text = _ascii_fold(text.replace(_QUOTE, '"')).replace("\n", "\r\n")
        out = text.encode("latin-1")
    else:
        out = (
            data.replace(_BAD_BYTE.encode(), b"\xff")
            .replace(_NUL.encode(), b"\x00")
            .replace(_QUOTE.encode(), b'"')
        )
        if encoding == "utf-8-sig":
            out = b"\xef\xbb\xbf" + out
    path.write_bytes(out)
    return [dict(file=path.name, line=r + 2, column=col, bad_class=cls) for r, cls, col in planted]


def write_jsonl_gz(
    path: Path, table: dict[str, list[Any]], planted: list[tuple[int, str, str]]
) -> list[dict[str, Any]]:
    cols = list(table)
    n = len(table[cols[0]])
    broken = {r for r, cls, _ in planted if cls == "malformed JSON"}
    raw = io.BytesIO()
    # mtime=0 and no file name: the same content gives the same bytes.
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        for i in range(n):
            obj = {c: table[c][i] for c in cols}
            line = json.dumps(obj, ensure_ascii=False)
            if i in broken:
                line = line[: len(line) // 2]
            gz.write(line.encode("utf-8") + b"\n")
    path.write_bytes(raw.getvalue())
    return [dict(file=path.name, line=r + 1, column=col, bad_class=cls) for r, cls, col in planted]


__all__ = ["BAD", "FILES", "plant", "write_csv", "write_jsonl_gz"]
