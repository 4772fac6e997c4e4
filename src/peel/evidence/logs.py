"""Phone logs and records read into items: SMS and call logs as CSV (as phone extraction tools
export them) and generic JSON Lines, streamed line by line in bounded memory.

CSV: the first non-blank row is the header. Column names are matched case-insensitively after
turning every run of other characters into `_` ("Date/Time" is `date_time`), against the
aliases below; the separator is whichever of `,` `;` tab `|` the header line holds most of.
A header without a required column refuses the file with one problem (its line) naming the
missing columns and the ones not recognised. Other columns are kept in `meta` under their
normalised names.

- SMS: timestamp, direction, number, text required; contact optional.
- Calls: timestamp, direction, number required; contact, duration optional.

The timestamp is one column, or a `date` and a `time` column. It may be ISO 8601
(`2021-03-05T10:15:00Z`, `2021-03-05 10:15:00`), Unix seconds or milliseconds (read as UTC),
or a day/month/year or month/day/year date with an optional time, AM/PM and zone
(`05/03/2021 10:15:00`, `3/5/2021 10:15 AM`, `05/03/2021 10:15:00(UTC+1)`). As for WhatsApp,
the order of a slashed date is found per file from the dates themselves (a first field over
12 can only be a day); a file whose dates fit both is read day first, and dates against the
file's order are reported. A time without a zone is kept naive (the phone's local time).

Who is who: the export is of one phone, whose own number it rarely states. So the other
party's number (as written; the contact name if there is no number) is the `sender` of an
incoming (or missed, or rejected) message or call, with no recipients, and the one recipient
of an outgoing one, whose sender is None. `conversation` is that number normalised
(`normalise_number`), so a thread view groups both directions; the contact name is in
`meta`.

JSON Lines: one object a line; see `read_jsonl`.

Nothing here raises on bad input: every line or record that cannot be read is reported with
its number (for a CSV record, the line it starts on) and the reason, never its text; every
good item is kept. A record with a bad timestamp or an unknown direction is kept (sent_at
None, direction `unknown`) and reported. Files that are not UTF-8 throughout, and hold no
UTF-8 at all, are read as Latin-1 (reported once); otherwise undecodable bytes are replaced
and reported by line. NUL bytes are removed and reported; a line over MAX_LINE_BYTES and a
CSV field over the csv module's field size limit are reported and left out.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from peel.evidence.items import KINDS, Attachment, Item, Problem

MAX_LINE_BYTES = 1_000_000  # CSV: a longer line is reported and left out, never read whole
MAX_JSON_LINE_BYTES = 10_000_000  # JSON Lines: the same for one record

_BOM = b"\xef\xbb\xbf"
_DELIMITERS = (",", ";", "\t", "|")

# Column names (as `_name` leaves them) each field is known by.
_ALIAS_TEXT = {
    "timestamp": "timestamp time_stamp datetime date_time date_and_time sent_at sent "
    "received_at message_date call_date start_time",
    "direction": "direction type call_type message_type folder box",
    "number": "number phone phone_number address party other_party remote_number msisdn "
    "telephone tel contact_number",
    "contact": "contact name contact_name party_name",
    "text": "text body message content message_body message_text msg",
    "duration": "duration duration_seconds duration_s duration_sec seconds length call_duration",
}
_ALIASES = {f: frozenset(names.split()) for f, names in _ALIAS_TEXT.items()}


@dataclass(frozen=True)
class _Layout:
    kind: str
    label: str  # for problems: "an SMS log"
    required: tuple[str, ...]
    optional: tuple[str, ...]


_SMS = _Layout("sms", "an SMS log", ("timestamp", "direction", "number", "text"), ("contact",))
_CALLS = _Layout(
    "call", "a call log", ("timestamp", "direction", "number"), ("contact", "duration")
)

_DIRECTION_TEXT = {
    "incoming": "incoming in inbound received receive recv inbox",
    "outgoing": "outgoing out outbound sent send outbox dialled dialed",
}
_DIRECTIONS = {w: d for d, words in _DIRECTION_TEXT.items() for w in words.split()}
_CALL_ONLY = {
    "missed": "missed",
    "missed call": "missed",
    "rejected": "rejected",
    "declined": "rejected",
}


def _name(header: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", header.strip().lower()).strip("_")


_SAFE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9 _./()#-]{0,29}")


def normalise_number(value: str) -> str:
    """A phone number as a conversation key: digits with a leading + kept (00 read as +),
    spaces, dashes, dots, slashes and brackets dropped. Anything else (an alphanumeric sender
    such as a bank's name) is returned as written, spaces collapsed. National and
    international forms of one number (07700 900123, +44 7700 900123) stay different: which
    country a national number belongs to is the case's to say."""
    written = " ".join(value.split())
    compact = re.sub(r"[\s\-().\/]", "", written)
    if re.fullmatch(r"\+?\d+", compact):
        return "+" + compact[2:] if compact.startswith("00") else compact
    return written


# -- text lines --------------------------------------------------------------------------


@dataclass
class _Stats:
    utf8_non_ascii: int = 0
    invalid: int = 0


def _lines(
    path: Path, encoding: str, problems: list[Problem], stats: _Stats, limit: int
) -> Iterator[tuple[int, str]]:
    """The file's lines as text, numbered from 1, line ends kept. A line over `limit` bytes is
    reported and given as an empty line (so numbers stay the file's); NUL bytes are removed
    and undecodable bytes replaced, and both reported."""
    with path.open("rb") as f:
        n = 0
        while True:
            raw = f.readline(limit + 1)
            if not raw:
                return
            n += 1
            if len(raw) > limit and not raw.endswith(b"\n"):
                problems.append(Problem(n, f"line longer than {limit:,} bytes, left out"))
                while raw and not raw.endswith(b"\n"):
                    raw = f.readline(limit + 1)
                yield n, "\n"
                continue
            if n == 1 and raw.startswith(_BOM):
                raw = raw[3:]
            if b"\x00" in raw:
                problems.append(Problem(n, "NUL bytes removed"))
                raw = raw.replace(b"\x00", b"")
            if encoding == "latin-1":
                yield n, raw.decode("latin-1")
                continue
            try:
                text = raw.decode("utf-8")
                if not raw.isascii():
                    stats.utf8_non_ascii += 1
            except UnicodeDecodeError:
                stats.invalid += 1
                problems.append(Problem(n, "not UTF-8 text: undecodable bytes replaced"))
                text = raw.decode("utf-8", errors="replace")
            yield n, text


def _encoding(stats: _Stats, problems: list[Problem]) -> str:
    """Latin-1 for a file with bytes that are not UTF-8 and none that are (non-ASCII) UTF-8."""
    if stats.invalid and not stats.utf8_non_ascii:
        problems.append(Problem(1, "not UTF-8: the file is read as Latin-1"))
        return "latin-1"
    return "utf-8"


def _delimiter(path: Path) -> str:
    with path.open("rb") as f:
        while raw := f.readline(MAX_LINE_BYTES):
            if raw.strip():
                line = raw.decode("latin-1")
                return max(_DELIMITERS, key=lambda d: (line.count(d), -_DELIMITERS.index(d)))
    return ","


@dataclass
class _Row:
    line: int
    cells: list[str] | None  # None: not readable as CSV (reason says why)
    reason: str = ""


def _rows(lines: Iterator[tuple[int, str]], delimiter: str) -> Iterator[_Row]:
    reader = csv.reader((text for _, text in lines), delimiter=delimiter)
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            if "field limit" in str(e):
                reason = f"a field longer than {csv.field_size_limit():,} characters: left out"
            else:
                reason = "not readable as CSV: left out"
            yield _Row(start, None, reason)
            continue
        yield _Row(start, cells)


# -- columns -----------------------------------------------------------------------------


@dataclass
class _Columns:
    index: dict[str, int]
    date: int | None  # a timestamp in two columns: date and time
    time: int | None
    extra: list[tuple[int, str]] = field(default_factory=list)
    width: int = 0

    def cell(self, row: list[str], name: str) -> str:
        i = self.index.get(name)
        return row[i].strip() if i is not None and i < len(row) else ""

    def timestamp(self, row: list[str]) -> str:
        if "timestamp" in self.index:
            return self.cell(row, "timestamp")
        if self.date is not None and self.time is not None:
            return f"{row[self.date].strip()} {row[self.time].strip()}".strip()
        return ""


def _columns(header: list[str], layout: _Layout) -> _Columns | str:
    """The columns of `layout` found in `header`, or why the header is refused."""
    names = [_name(h) for h in header]
    index: dict[str, int] = {}
    used: set[int] = set()
    wanted = layout.required + layout.optional
    for i, n in enumerate(names):
        if n in _ALIASES["timestamp"] and "timestamp" not in index:
            index["timestamp"] = i
            used.add(i)
            continue
        for f in wanted:
            if n in _ALIASES[f] and f not in index:
                index[f] = i
                used.add(i)
                break
    date = time = None
    if "timestamp" not in index:
        date = names.index("date") if "date" in names else None
        time = names.index("time") if "time" in names else None
        if date is not None and time is None:
            index["timestamp"], date = date, None
        elif time is not None and date is None:
            index["timestamp"], time = time, None
        used.update(i for i in (date, time) if i is not None)
        if "timestamp" in index:
            used.add(index["timestamp"])
    missing = [
        f for f in layout.required if f not in index and not (f == "timestamp" and date is not None)
    ]
    if missing:
        if not used:
            return (
                f"not {layout.label}: no column has a known name ({len(header)} columns; "
                f"required: {', '.join(layout.required)})"
            )
        unexpected = [
            header[i].strip() if _SAFE_NAME.fullmatch(header[i].strip()) else f"column {i + 1}"
            for i in range(len(header))
            if i not in used
        ]
        return (
            f"not {layout.label}: missing column(s): {', '.join(missing)}; "
            f"not recognised: {', '.join(unexpected) or 'none'}"
        )
    out = _Columns(index, date, time, width=len(header))
    taken = {"direction", "contact", "duration_seconds", "direction_as_written"}
    for i, n in enumerate(names):
        if i in used:
            continue
        meta_name = n if n and n not in taken else f"column_{i + 1}"
        taken.add(meta_name)
        out.extra.append((i, meta_name))
    return out


# -- timestamps --------------------------------------------------------------------------

_SLASHED = re.compile(
    r"(\d{1,4})[./-](\d{1,2})[./-](\d{1,4})"
    r"(?:[ T,]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?\s*([AaPp]\.?[Mm]\.?)?)?"
    r"\s*(?:\(?\s*(Z|UTC|GMT|(?:UTC|GMT)?\s*[+-]\d{1,2}(?::?\d{2})?)\s*\)?)?"
)
_EPOCH = re.compile(r"\d{9,10}(?:\.\d+)?|\d{12,13}")


def _zone(text: str | None) -> timezone | None:
    if not text:
        return None
    t = text.upper().replace("UTC", "").replace("GMT", "").replace(" ", "")
    if t in ("", "Z"):
        return UTC
    m = re.fullmatch(r"([+-])(\d{1,2}):?(\d{2})?", t)
    if m is None:
        raise ValueError("zone")
    minutes = int(m.group(2)) * 60 + int(m.group(3) or 0)
    return timezone(timedelta(minutes=minutes if m.group(1) == "+" else -minutes))


def _date_kind(value: str) -> str | None:
    """What a slashed date says of the order: D (day first), M (month first), or None."""
    m = _SLASHED.fullmatch(value)
    if m is None or len(m.group(1)) > 2:
        return None
    a, b = int(m.group(1)), int(m.group(2))
    return "D" if a > 12 else "M" if b > 12 else None


def _parse_time(value: str, order: str) -> datetime:
    """A timestamp as written in an export (see the module docstring); ValueError if not."""
    v = value.strip()
    if _EPOCH.fullmatch(v):
        seconds = float(v) / (1000 if len(v) >= 12 and "." not in v else 1)
        return datetime.fromtimestamp(seconds, UTC)
    m = _SLASHED.fullmatch(v)
    if m is None:
        return datetime.fromisoformat(v)
    a, b, c, hh, mm, ss, ampm, zone = m.groups()
    if len(a) > 2:
        year, month, day = int(a), int(b), int(c)
        if len(c) > 2:
            raise ValueError("two years")
    elif order == "MDY":
        month, day, year = int(a), int(b), int(c)
    else:
        day, month, year = int(a), int(b), int(c)
    if year < 100:
        year += 2000
    hour = int(hh or 0)
    if ampm:
        if not 1 <= hour <= 12:
            raise ValueError("hour out of range for AM/PM")
        hour = hour % 12 + (12 if ampm.upper().startswith("P") else 0)
    return datetime(year, month, day, hour, int(mm or 0), int(ss or 0), tzinfo=_zone(zone))


def _order(kinds: dict[str | None, int]) -> tuple[str, str | None]:
    """(the file's order of slashed dates, the kind of date that contradicts it)."""
    day, month = kinds.get("D", 0), kinds.get("M", 0)
    if day and month:
        return ("MDY", "D") if month > day else ("DMY", "M")
    return ("MDY", None) if month else ("DMY", None)


# -- CSV items ---------------------------------------------------------------------------


def _duration(value: str) -> int | None:
    """Seconds from `192`, `192.0`, `3:12` or `0:03:12`; ValueError if not a duration."""
    if not value:
        return None
    m = re.fullmatch(r"(?:(\d+):)?(\d{1,2}):(\d{2})", value)
    if m is not None:
        h, mi, s = int(m.group(1) or 0), int(m.group(2)), int(m.group(3))
        if s > 59 or (m.group(1) is not None and mi > 59):
            raise ValueError("duration")
        return h * 3600 + mi * 60 + s
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError("duration")
    return round(seconds)


def _spoken(seconds: int) -> str:
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h} h {m} min {s} s"
    return f"{m} min {s} s" if m else f"{s} s"


def _read_csv(path: Path, problems: list[Problem], layout: _Layout) -> Iterator[Item]:
    delimiter = _delimiter(path)
    # First pass, counts only: is the file UTF-8, and in which order are its slashed dates.
    stats = _Stats()
    kinds: dict[str | None, int] = {}
    scan: _Columns | str | None = None
    for row in _rows(_lines(path, "utf-8", [], stats, MAX_LINE_BYTES), delimiter):
        if row.cells is None or not any(c.strip() for c in row.cells):
            continue
        if scan is None:
            scan = _columns(row.cells, layout)
            if isinstance(scan, str):
                break
            continue
        if isinstance(scan, _Columns):
            k = _date_kind(scan.timestamp(row.cells))
            kinds[k] = kinds.get(k, 0) + 1
    order, contrary = _order(kinds)
    encoding = _encoding(stats, problems)

    columns: _Columns | None = None
    lines = _lines(path, encoding, problems, _Stats(), MAX_LINE_BYTES)
    for row in _rows(lines, delimiter):
        if row.cells is None:
            problems.append(Problem(row.line, row.reason))
            continue
        if not any(c.strip() for c in row.cells):
            continue
        if columns is None:
            found = _columns(row.cells, layout)
            if isinstance(found, str):
                problems.append(Problem(row.line, found))
                return
            columns = found
            continue
        cells = row.cells
        if len(cells) > columns.width and not any(c.strip() for c in cells[columns.width :]):
            cells = cells[: columns.width]
        if len(cells) != columns.width:
            problems.append(
                Problem(
                    row.line, f"{len(cells)} fields where the header has {columns.width}: left out"
                )
            )
            continue
        yield _item(row.line, cells, columns, layout, order, contrary, problems)
    if columns is None:
        problems.append(Problem(1, f"not {layout.label}: no header row (the file is empty)"))


def _item(
    line: int,
    cells: list[str],
    columns: _Columns,
    layout: _Layout,
    order: str,
    contrary: str | None,
    problems: list[Problem],
) -> Item:
    written = columns.timestamp(cells)
    sent_at: datetime | None = None
    if not written:
        problems.append(Problem(line, "no timestamp: sent_at left empty"))
    elif contrary is not None and _date_kind(written) == contrary:
        problems.append(Problem(line, f"date does not fit the file's {order} order: left empty"))
    else:
        try:
            sent_at = _parse_time(written, order)
        except (ValueError, OverflowError, OSError):
            problems.append(Problem(line, "timestamp not understood: sent_at left empty"))
    meta: dict[str, str] = {}
    as_written = columns.cell(cells, "direction")
    direction = _DIRECTIONS.get(as_written.lower())
    if direction is None and layout.kind == "call":
        direction = _CALL_ONLY.get(as_written.lower())
    if direction is None:
        problems.append(Problem(line, "direction not understood: kept as unknown"))
        direction = "unknown"
        if as_written:
            meta["direction_as_written"] = as_written
    meta["direction"] = direction
    number, contact = columns.cell(cells, "number"), columns.cell(cells, "contact")
    if contact:
        meta["contact"] = contact
    party = number or contact
    if not party:
        problems.append(Problem(line, "no number or contact: the other party is unknown"))
    sender: str | None = None
    recipients: tuple[str, ...] = ()
    if direction == "outgoing":
        recipients = (party,) if party else ()
    elif direction != "unknown":
        sender = party or None
    text = ""
    if layout.kind == "sms":
        i = columns.index["text"]
        text = cells[i].replace("\r\n", "\n").replace("\r", "\n")
    else:
        seconds: int | None = None
        try:
            seconds = _duration(columns.cell(cells, "duration"))
        except (ValueError, OverflowError):
            problems.append(Problem(line, "duration not understood: left out"))
        if seconds is not None:
            meta["duration_seconds"] = str(seconds)
        if direction in ("missed", "rejected"):
            text = f"{direction} call"
        else:
            text = "call" if direction == "unknown" else f"{direction} call"
            if seconds is not None:
                text += f", {_spoken(seconds)}"
    for i, name in columns.extra:
        value = cells[i].strip()
        if value:
            meta[name] = value
    return Item(
        kind=layout.kind,
        conversation=normalise_number(number) if number else contact,
        sent_at=sent_at,
        sent_text=written,
        sender=sender,
        recipients=recipients,
        subject="",
        text=text,
        line=line,
        meta=tuple(sorted(meta.items())),
    )


def read_sms_csv(path: Path, problems: list[Problem]) -> Iterator[Item]:
    """SMS (and MMS text) from a CSV export: see the module docstring for the columns and
    who is who. Two passes over the file (the first finds the encoding and date order)."""
    yield from _read_csv(path, problems, _SMS)


def read_calls_csv(path: Path, problems: list[Problem]) -> Iterator[Item]:
    """Calls from a CSV export. Direction incoming, outgoing, missed or rejected (declined);
    duration in seconds or [h:]mm:ss. `text` is one line: `outgoing call, 3 min 12 s`,
    `missed call`; meta `direction` and `duration_seconds`."""
    yield from _read_csv(path, problems, _CALLS)


# -- JSON Lines --------------------------------------------------------------------------

_FIELDS = {
    "id",
    "text",
    "sent_at",
    "sent_text",
    "sender",
    "recipients",
    "subject",
    "conversation",
    "kind",
    "meta",
    "attachments",
}


def _clean(text: str) -> tuple[str, bool]:
    """`text` with lone surrogates (from JSON `\\ud800` escapes) replaced; whether any were."""
    try:
        text.encode("utf-8")
        return text, False
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace"), True


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


class _Record:
    """One JSON Lines object made into an item; problems name the line and the field."""

    def __init__(self, line: int, obj: dict[str, Any], problems: list[Problem]) -> None:
        self.line, self.obj, self.problems = line, obj, problems
        self.meta: dict[str, str] = {}
        self.replaced = False

    def report(self, reason: str) -> None:
        self.problems.append(Problem(self.line, reason))

    def text(self, value: Any) -> str:
        out, bad = _clean(_as_text(value))
        self.replaced |= bad
        return out

    def scalar(self, name: str) -> str | None:
        """A field that should be a string (a number is taken as written); None if absent.
        A list or an object is reported and kept in meta."""
        value = self.obj.get(name)
        if value is None:
            return None
        if isinstance(value, dict | list):
            self.report(f"{name} is not a string: kept in meta")
            self.meta[name] = self.text(value)
            return None
        return self.text(value)

    def item(self) -> Item | None:
        o = self.obj
        if not isinstance(o.get("text"), str):
            reason = "no text" if o.get("text") is None else "text is not a string"
            self.report(f"{reason}: left out")
            return None
        for k, v in o.items():
            if k not in _FIELDS:
                self.meta[self.text(k)] = self.text(v)
        if o.get("id") is not None:
            self.meta["id"] = self.text(o["id"])
        extra = o.get("meta")
        if isinstance(extra, dict):
            for k, v in extra.items():
                self.meta[self.text(k)] = self.text(v)
        elif extra is not None:
            self.report("meta is not an object: kept in meta")
            self.meta["meta"] = self.text(extra)
        kind = (self.scalar("kind") or "record").lower()
        if kind not in KINDS:
            self.report(f"kind is not one of {', '.join(KINDS)}: read as record")
            self.meta["kind_as_written"] = self.text(o["kind"])
            kind = "record"
        sent_at: datetime | None = None
        written = self.scalar("sent_at") or ""
        if written:
            try:
                sent_at = datetime.fromisoformat(written)
            except ValueError:
                self.report("sent_at is not ISO 8601: sent_at left empty")
        sent_text = self.scalar("sent_text")
        item = Item(
            kind=kind,
            conversation=self.scalar("conversation") or "",
            sent_at=sent_at,
            sent_text=sent_text if sent_text is not None else written,
            sender=self.scalar("sender"),
            recipients=self.recipients(),
            subject=self.scalar("subject") or "",
            text=self.text(o["text"]),
            line=self.line,
            attachments=self.attachments(),
            meta=tuple(sorted(self.meta.items())),
        )
        if self.replaced:
            self.report("lone surrogate escapes replaced")
        return item

    def recipients(self) -> tuple[str, ...]:
        r = self.obj.get("recipients")
        if r is None:
            return ()
        if isinstance(r, str):
            return tuple(x.strip() for x in re.split(r"[,;]", self.text(r)) if x.strip())
        if isinstance(r, list) and all(isinstance(x, str | int) for x in r):
            return tuple(self.text(x) for x in r)
        self.report("recipients not understood: kept in meta")
        self.meta["recipients"] = self.text(r)
        return ()

    def attachments(self) -> tuple[Attachment, ...]:
        value = self.obj.get("attachments")
        if value is None:
            return ()
        if isinstance(value, list) and all(_is_attachment(a) for a in value):
            return tuple(
                Attachment(
                    name=self.text(a.get("name", "")),
                    content_type=self.text(a.get("content_type", "")),
                    size=a["size"],
                    sha256=a["sha256"],
                )
                for a in value
            )
        self.report("attachments not understood: kept in meta")
        self.meta["attachments"] = self.text(value)
        return ()


def _is_attachment(a: Any) -> bool:
    return (
        isinstance(a, dict)
        and isinstance(a.get("name", ""), str)
        and isinstance(a.get("content_type", ""), str)
        and type(a.get("size")) is int
        and a["size"] >= 0
        and isinstance(a.get("sha256"), str)
        and re.fullmatch(r"[0-9a-f]{64}", a["sha256"]) is not None
    )


def read_jsonl(path: Path, problems: list[Problem]) -> Iterator[Item]:
    """Records from a JSON Lines file: one object a line, with `text` (required, a string)
    and optionally `id`, `sent_at` (ISO 8601), `sent_text` (the time as written; default
    `sent_at` as given), `sender`, `recipients` (a list, or a string split at commas and
    semicolons), `subject`, `conversation`, `kind` (one of KINDS, default `record`), `meta`
    (an object, its values kept as strings) and `attachments` (a list of objects with `name`,
    `content_type`, `size` and `sha256`). Any other key goes to `meta`, its value as a string
    (JSON for a number, list or object). So a line holding an item's `content()` reads back
    as the same item. Blank lines are skipped; a line that is not a JSON object, or has no
    text, is reported and skipped."""
    for n, raw in _lines(path, "utf-8", problems, _Stats(), MAX_JSON_LINE_BYTES):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw, strict=False)
        except RecursionError:
            problems.append(Problem(n, "JSON nested too deeply: left out"))
            continue
        except ValueError:
            problems.append(Problem(n, "not valid JSON: left out"))
            continue
        if not isinstance(obj, dict):
            problems.append(Problem(n, "not a JSON object: left out"))
            continue
        item = _Record(n, obj, problems).item()
        if item is not None:
            yield item


__all__ = [
    "MAX_JSON_LINE_BYTES",
    "MAX_LINE_BYTES",
    "normalise_number",
    "read_calls_csv",
    "read_jsonl",
    "read_sms_csv",
]
