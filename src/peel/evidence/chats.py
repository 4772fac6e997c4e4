"""WhatsApp chat exports (.txt) read into messages, line by line in bounded memory.

Two layouts exist, each in many locales:

- Android: `31/12/2020, 21:15 - Alice: text` (or `12/31/20, 9:15 PM - ...`),
- iPhone: `[31/12/2020, 21:15:03] Alice: text` (often with a left-to-right mark first).

The date's order (day/month or month/day, or year first) is the phone's locale, which the
file does not state: it is detected per file from the dates themselves (a first field above
12 can only be a day, a second field above 12 only a day in month/day order). A file whose
dates fit both orders is read day first (a UK force's phones) and marked ambiguous, so a
reviewer can say otherwise; a file whose dates contradict each other is read day first and
the contradicting lines are reported.

A line that does not start with a timestamp continues the message before it (messages keep
their line breaks). A line with no `Sender: ` after the timestamp is a system line (joins,
changes of subject, the encryption notice). `<Media omitted>` and iPhone's `image omitted`
(and the like) are media placeholders. Times are the phone's local time as written (naive;
the case says which zone the phone kept).

Nothing here raises on bad input: every line that cannot be read is reported with its
number and the reason (never its text), and every good message is kept. Written by hand
because no maintained library parses these exports across both layouts and locales with
line-level problem reports.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

MAX_LINE_BYTES = 1_000_000  # a longer line is reported and left out, never read whole
MAX_MESSAGE_CHARS = 5_000_000  # a message growing past this is cut, and reported

# Marks WhatsApp puts around fields (left-to-right and right-to-left marks, narrow and plain
# no-break spaces before AM/PM).
_MARKS = dict.fromkeys(map(ord, "\u200e\u200f\u202a\u202c"), None)
_SPACES = {0x202F: " ", 0x00A0: " "}

_DATE = r"(\d{1,4})[./-](\d{1,2})[./-](\d{1,4})"
_TIME = r"(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?(?:\s?([AaPp])\.?\s?[Mm]\.?)?"
_IPHONE = re.compile(r"^\[" + _DATE + r",?\s+" + _TIME + r"\]\s?(.*)$", re.DOTALL)
_ANDROID = re.compile(r"^" + _DATE + r",?\s+" + _TIME + r"\s+-\s(.*)$", re.DOTALL)
_MEDIA = re.compile(
    r"^(<Media omitted>|(image|video|audio|sticker|GIF|document|Contact card) omitted)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ChatMessage:
    """One message (or system line) of an export: the line it starts on, the time as
    written and read, the sender (None for a system line), the text, and its kind:
    `message`, `media` or `system`."""

    line: int
    sent_text: str
    sent_at: datetime
    sender: str | None
    text: str
    kind: str


@dataclass(frozen=True)
class Problem:
    line: int
    reason: str


@dataclass
class ChatFile:
    """What was read from one export: messages, problems, and how the dates were read."""

    layout: str | None = None  # android, iphone, or None (no message found)
    date_order: str = "DMY"  # DMY, MDY or YMD
    date_order_ambiguous: bool = False
    messages: list[ChatMessage] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    lines: int = 0


@dataclass
class _Stamp:
    line: int
    layout: str
    fields: tuple[int, int, int]
    time: tuple[int, int, int, str | None]
    written: str
    rest: str


@dataclass
class _Open:
    """The message being read (its lines so far)."""

    line: int
    written: str
    at: datetime
    sender: str | None
    parts: list[str] = field(default_factory=list)
    size: int = 0
    cut: bool = False

    def add(self, text: str) -> None:
        if self.cut:
            return
        if self.size + len(text) > MAX_MESSAGE_CHARS:
            self.cut = True
            text = text[: max(MAX_MESSAGE_CHARS - self.size, 0)]
        self.parts.append(text)
        self.size += len(text) + 1


def _clean(text: str) -> str:
    return text.translate(_MARKS).translate(_SPACES)


def _stamp(line_no: int, text: str) -> _Stamp | None:
    t = _clean(text)
    for layout, pattern in (("iphone", _IPHONE), ("android", _ANDROID)):
        m = pattern.match(t)
        if m is None:
            continue
        a, b, c, hh, mm, ss, ampm, rest = m.groups()
        head = t[: len(t) - len(rest)].strip(" -[]")
        return _Stamp(
            line_no,
            layout,
            (int(a), int(b), int(c)),
            (int(hh), int(mm), int(ss or 0), ampm.upper() if ampm else None),
            head.rstrip("]").strip(),
            rest,
        )
    return None


def _kind(fields: tuple[int, int, int]) -> str | None:
    """What one date says of the order: Y (year first), D (day first), M (month first), or
    None (fits both)."""
    a, b, _ = fields
    if a > 31:
        return "Y"
    if a > 12:
        return "D"
    if b > 12:
        return "M"
    return None


def _order(kinds: dict[str | None, int]) -> tuple[str, bool, str | None]:
    """(order, ambiguous, the kind of date that contradicts the order) from the count of each
    kind of date in the file."""
    total = sum(kinds.values())
    day, month = kinds.get("D", 0), kinds.get("M", 0)
    if total and kinds.get("Y", 0) == total:
        return "YMD", False, None
    if day and month:
        # Both kinds: the larger group decides; the others are reported.
        return ("MDY", False, "D") if month > day else ("DMY", False, "M")
    if month:
        return "MDY", False, None
    return "DMY", not day, None


def _when(s: _Stamp, order: str) -> datetime:
    a, b, c = s.fields
    if order == "YMD":
        year, month, day = a, b, c
    elif order == "MDY":
        month, day, year = a, b, c
    else:
        day, month, year = a, b, c
    if year < 100:
        year += 2000
    hour, minute, second, ampm = s.time
    if ampm is not None:
        if not 1 <= hour <= 12:
            raise ValueError("hour out of range for AM/PM")
        hour = hour % 12 + (12 if ampm == "P" else 0)
    return datetime(year, month, day, hour, minute, second)


def _lines(path: Path, problems: list[Problem]) -> Iterator[tuple[int, str]]:
    """The file's lines as text, numbered from 1, in bounded memory: a line over
    MAX_LINE_BYTES is reported and skipped; bytes that are not UTF-8 are replaced and
    reported; NUL bytes are removed and reported."""
    with path.open("rb") as f:
        n = 0
        while True:
            raw = f.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            n += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                problems.append(Problem(n, f"line longer than {MAX_LINE_BYTES:,} bytes, left out"))
                while raw and not raw.endswith(b"\n"):  # the rest of that line
                    raw = f.readline(MAX_LINE_BYTES + 1)
                continue
            if n == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if b"\x00" in raw:
                problems.append(Problem(n, "NUL bytes removed"))
                raw = raw.replace(b"\x00", b"")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                problems.append(Problem(n, "not UTF-8 text: undecodable bytes replaced"))
                text = raw.decode("utf-8", errors="replace")
            yield n, text.rstrip("\r\n")


def read_chat(path: Path) -> ChatFile:
    """Read one WhatsApp export (see the module docstring). Two passes over the file: the
    first counts the kinds of dates to find the order, the second builds the messages;
    memory holds one message at a time beyond the result."""
    out = ChatFile()
    first_pass: list[Problem] = []
    # First pass: only counts (of each kind of date, and of each layout), so memory does not
    # grow with the file.
    kinds: dict[str | None, int] = {}
    layouts: dict[str, int] = {}
    for n, text in _lines(path, first_pass):
        s = _stamp(n, text)
        if s is not None:
            k = _kind(s.fields)
            kinds[k] = kinds.get(k, 0) + 1
            layouts[s.layout] = layouts.get(s.layout, 0) + 1
    order, ambiguous, contrary = _order(kinds)
    out.date_order, out.date_order_ambiguous = order, ambiguous
    out.layout = max(layouts, key=lambda k: layouts[k]) if layouts else None
    current: _Open | None = None
    dropped = False  # the last timestamped line was left out

    def flush() -> None:
        if current is None:
            return
        body = "\n".join(current.parts)
        if current.cut:
            out.problems.append(
                Problem(current.line, f"message cut at {MAX_MESSAGE_CHARS:,} characters")
            )
        if current.sender is None:
            kind = "system"
        else:
            kind = "media" if _MEDIA.match(body.strip()) else "message"
        out.messages.append(
            ChatMessage(current.line, current.written, current.at, current.sender, body, kind)
        )

    for n, text in _lines(path, out.problems):
        out.lines = n
        s = _stamp(n, text)
        if s is None:
            if current is not None:
                current.add(text)
            elif dropped:
                out.problems.append(Problem(n, "continues a message that was left out"))
            elif text.strip():
                out.problems.append(Problem(n, "text before the first message, left out"))
            continue
        flush()
        current = None
        if s.layout != out.layout:
            out.problems.append(Problem(n, f"an {s.layout} timestamp in an {out.layout} export"))
        if contrary is not None and _kind(s.fields) == contrary:
            out.problems.append(
                Problem(n, f"date does not fit the file's {order} order: message left out")
            )
            dropped = True
            continue
        try:
            at = _when(s, order)
        except ValueError:
            out.problems.append(Problem(n, f"not a valid date or time in {order} order"))
            dropped = True
            continue
        dropped = False
        sender: str | None = None
        body = s.rest
        if ": " in body:
            name, body = body.split(": ", 1)
            sender = name.strip() or None
        current = _Open(n, s.written, at, sender)
        current.add(body)
    flush()
    out.problems.sort(key=lambda p: p.line)
    return out


__all__ = ["MAX_LINE_BYTES", "ChatFile", "ChatMessage", "Problem", "read_chat"]
