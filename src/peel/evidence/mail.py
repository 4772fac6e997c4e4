"""E-mail read into items: mbox files (streamed, one message in memory at a time) and single
.eml files, parsed by the standard library's `email` package (`email.policy.default`).

An mbox is split here, not by `mailbox`, so that the file is read line by line and a message
over MAX_MESSAGE_BYTES is reported and skipped without ever being held whole. A message
starts at a `From ` line at the start of the file or, later, at a `From ` line that carries
a time (`From sender Mon Jan  1 10:00:00 2021`, as every mbox writer puts it), so a body line
that happens to begin with "From " does not split a message; `>From ` lines are unquoted
(mboxrd), and the blank line before the next `From ` line belongs to the mbox, not the
message. So the same message read from an mbox or from an .eml file is the same item.

An item: kind `email`; `sender` the From address; `recipients` the To, Cc and Bcc addresses;
`subject`; `text` the text/plain body parts (inline, in order; of a multipart/alternative
only the branch that holds plain text), or the HTML ones turned into text when a message has
no plain part; `sent_at` from Date (aware; `-0000` read as UTC); `sent_text` Date as written;
`line` the line of the message's `From ` line (1 for an .eml); `conversation` "" (the case
store threads e-mails); `meta` message_id, in_reply_to, references (space-joined), from_name,
to, cc, bcc, and `body_from_html` when the text came from HTML. Every other leaf part is an
attachment, listed with the SHA-256 of its decoded bytes; an attached message
(message/rfc822) is one attachment, its bytes as re-serialised by the `email` package.

Hostile input: a message nested deeper than MAX_DEPTH or with more than MAX_PARTS parts is
refused. A cheap scan of the raw lines (open multipart boundaries, chained message/* parts)
refuses the worst before the parser sees them, because the parser's cost grows with the
nesting and its recursion with the depth; the parsed message is then walked without
recursion. Over-long headers are bounded too (MAX_HEADER_CHARS and the Content-* limits).

Nothing here raises on bad input: undecodable headers and bodies are read with replacement
characters and reported, unknown charsets are read as UTF-8 and reported, a bad or missing
Date gives `sent_at` None and a problem, MIME defects found by the parser are reported by
name. Problems carry the line of the message's start and a reason, never text. (A file that
cannot be opened raises OSError, as for WhatsApp exports.)
"""

from __future__ import annotations

import codecs
import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesFeedParser
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from peel.evidence.items import Attachment, Item, Problem

MAX_MESSAGE_BYTES = 50_000_000  # a bigger message is reported and skipped, never held whole
MAX_DEPTH = 20  # MIME nesting (a part inside a multipart or an attached message is one deeper)
MAX_PARTS = 1000  # MIME parts in one message, counting containers
# The `email` package's header parser is slow (a few microseconds a character, more than
# linear for address lists) and runs again at every look-up: From, To, Cc, Bcc and Subject
# longer than MAX_HEADER_CHARS are read leniently (addresses by `getaddresses`, the subject as
# written); a Content-* header (parsed while the message is) longer than
# MAX_CONTENT_HEADER_CHARS, or such headers longer than MAX_CONTENT_HEADERS_TOTAL in all,
# refuse the message before it is parsed.
MAX_HEADER_CHARS = 50_000
MAX_CONTENT_HEADER_CHARS = 10_000
MAX_CONTENT_HEADERS_TOTAL = 500_000
_CHUNK = 1 << 20  # the most read at once: a longer line arrives in pieces

_SEPARATOR = re.compile(rb"From \S+ .*\d{1,2}:\d{2}")
_QUOTED_FROM = re.compile(rb">+From ")
_BOUNDARY = re.compile(rb"""boundary\*?0?\*?\s*=\s*(?:"([^"\r\n]*)"|([^\s;"]+))""", re.IGNORECASE)
_CONTENT_TYPE = re.compile(rb"content-type\s*:\s*(multipart|message)/", re.IGNORECASE)
_CONTENT_TYPE_LINE = re.compile(rb"content-type\s*:", re.IGNORECASE)
_PREAMBLE = 'text before the first "From " line, left out'
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_UNKNOWN_ZONE_AS_UTC = re.compile(r"-0000\s*(\(.*\))?\s*$")
# Defects that are handled here (8-bit headers are read as UTF-8 and reported only when that
# fails) and so are not worth a problem of their own.
_QUIET_DEFECTS = {"UndecodableBytesDefect", "NonASCIILocalPartDefect"}


def _clean(text: str) -> tuple[str, bool]:
    """`text` with the bytes the parser could not decode (kept as surrogates) read as UTF-8,
    and whether anything had to be replaced."""
    try:
        text.encode("utf-8")
        return text, False
    except UnicodeEncodeError:
        pass
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "replace")
        return raw.decode("utf-8", "replace"), True
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace"), True


class _Raw:
    """One message's bytes as they arrive, line by line, fed into the parser, with the
    checks that refuse a message before (or while) it is parsed."""

    def __init__(self, line: int) -> None:
        self.line = line
        self.size = 0
        self.refused: str | None = None
        self.parser: BytesFeedParser[EmailMessage] | None = BytesFeedParser(
            EmailMessage, policy=policy.default
        )
        self._open: list[bytes] = []  # multipart boundaries declared and not yet closed
        self._chain = 0  # message/* parts inside each other since the last boundary line
        self._containers = 0
        self._header = 0  # length so far of the Content-* header being read (0: none)
        self._content_total = 0
        self._ctype = False  # reading a Content-Type header (its first line or a fold)
        self._in_headers = True  # reading a header block (not a body)
        self._next_headers = False  # the body after this header block is a message

    def refuse(self, reason: str) -> None:
        if self.refused is None:
            self.refused = reason
        self.parser = None  # frees what was parsed so far

    def feed(self, chunk: bytes, *, line_start: bool) -> None:
        if self.refused is not None or self.parser is None:
            return
        self.size += len(chunk)
        if self.size > MAX_MESSAGE_BYTES:
            self.refuse(f"message larger than {MAX_MESSAGE_BYTES:,} bytes, left out")
            return
        if line_start:
            self._line(chunk)
        elif self._header:
            self._grow(len(chunk))
        if self.refused is not None:
            return
        try:
            self.parser.feed(chunk)
        except RecursionError:
            self.refuse("MIME nested too deeply to parse, message left out")
        except Exception:
            self.refuse("message could not be parsed, left out")

    def _grow(self, n: int) -> None:
        """`n` more characters of a Content-* header."""
        self._header += n
        self._content_total += n
        if self._header > MAX_CONTENT_HEADER_CHARS:
            self.refuse(
                f"a Content-* header longer than {MAX_CONTENT_HEADER_CHARS:,} characters, "
                "message left out"
            )
        elif self._content_total > MAX_CONTENT_HEADERS_TOTAL:
            self.refuse(
                f"Content-* headers longer than {MAX_CONTENT_HEADERS_TOTAL:,} characters in all, "
                "message left out"
            )

    def _line(self, line: bytes) -> None:
        """The checks on one raw line: the size of Content-* headers, and an upper bound on
        the nesting the parser is about to enter. Header blocks are told from bodies (a
        blank line ends one; a boundary line, or the body of a message/* part, starts one),
        so header-like lines quoted in a body do not count."""
        if not self._in_headers:
            if line.startswith(b"--"):
                self._boundary_line(line)
            return
        if line[:1] in (b" ", b"\t"):  # a folded header continues
            if self._header:
                self._grow(len(line))
            if self._ctype:
                self._boundaries(line)
            return
        self._header, self._ctype = 0, False
        if not line.strip():  # the end of a header block
            self._in_headers, self._next_headers = self._next_headers, False
            return
        if line.startswith(b"--") and self._boundary_line(line):
            return
        if line[:8].lower() != b"content-":
            return
        self._grow(len(line))
        if _CONTENT_TYPE_LINE.match(line) is None:
            return
        self._ctype = True
        m = _CONTENT_TYPE.match(line)
        if m is not None:
            self._containers += 1
            if m.group(1).lower() == b"message":
                self._chain += 1
                self._next_headers = True  # its body is a message: headers first
        self._boundaries(line)
        if self._containers > MAX_PARTS:
            self.refuse(f"more than {MAX_PARTS:,} MIME parts, message left out")

    def _boundaries(self, line: bytes) -> None:
        for b in _BOUNDARY.finditer(line):
            self._open.append(b.group(1) if b.group(1) is not None else b.group(2))
        if len(self._open) + self._chain > MAX_DEPTH:
            self.refuse(f"MIME nested deeper than {MAX_DEPTH} levels, message left out")

    def _boundary_line(self, line: bytes) -> bool:
        """Whether `line` is a boundary of an open multipart; after an opening one, a part's
        headers follow."""
        mark = line.rstrip()
        closing = mark.endswith(b"--") and len(mark) > 4
        name = mark[2:-2] if closing else mark[2:]
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i] == name:
                del self._open[i if closing else i + 1 :]
                self._chain = 0
                self._in_headers, self._next_headers = not closing, False
                return True
        return False

    def close(self, problems: list[Problem]) -> EmailMessage | None:
        if self.refused is None and self.size == 0:
            self.refused = "empty message, left out"
        if self.refused is not None or self.parser is None:
            problems.append(Problem(self.line, self.refused or "message left out"))
            return None
        try:
            return self.parser.close()
        except RecursionError:
            problems.append(Problem(self.line, "MIME nested too deeply to parse, message left out"))
        except Exception:
            problems.append(Problem(self.line, "message could not be parsed, left out"))
        finally:
            self.parser = None
        return None


def _limits(msg: Message) -> str | None:
    """Why the parsed message is refused (too deep, too many parts), walked without
    recursion; None if it is within the limits."""
    stack: list[tuple[Message, int]] = [(msg, 0)]
    count = 0
    while stack:
        part, depth = stack.pop()
        count += 1
        if count > MAX_PARTS:
            return f"more than {MAX_PARTS:,} MIME parts, message left out"
        if depth > MAX_DEPTH:
            return f"MIME nested deeper than {MAX_DEPTH} levels, message left out"
        for name, value in part.raw_items():
            if name.lower().startswith("content-") and len(value) > MAX_CONTENT_HEADER_CHARS:
                return (
                    f"a Content-* header longer than {MAX_CONTENT_HEADER_CHARS:,} characters, "
                    "message left out"
                )
        if part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list):
                stack.extend((p, depth + 1) for p in payload if isinstance(p, Message))
    return None


_BLOCK_TAGS = (
    "address article aside blockquote br dd div dl dt footer form h1 h2 h3 h4 h5 h6 header hr li "
    "main nav ol p pre section table tbody td th thead tr ul"
)


class _Text(HTMLParser):
    """HTML to plain text: the character data, a line break at each block element, nothing
    from scripts and styles."""

    _BLOCKS = frozenset(_BLOCK_TAGS.split())
    _HIDDEN = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self._hidden += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self._hidden = max(self._hidden - 1, 0)
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """The text of an HTML body: one line per block (no blank lines), spaces collapsed."""
    p = _Text()
    try:
        p.feed(html)
        p.close()
    except Exception:  # html.parser is lenient; this is a last resort
        p.parts = [re.sub(r"<[^>]*>", " ", html)]
    lines = (" ".join(x.split()) for x in "".join(p.parts).split("\n"))
    return "\n".join(x for x in lines if x)


class _Reader:
    """Turns one parsed message into an item, collecting its problems."""

    def __init__(self, msg: EmailMessage, line: int, problems: list[Problem]) -> None:
        self.msg = msg
        self.line = line
        self.problems = problems
        self.defects: set[str] = set()
        self.replaced: set[str] = set()

    def report(self, reason: str) -> None:
        self.problems.append(Problem(self.line, reason))

    # -- headers -------------------------------------------------------------------------

    def raw(self, name: str) -> str | None:
        """The first `name` header as written (unfolded), or None."""
        for key, value in self.msg.raw_items():
            if key.lower() == name.lower():
                text, bad = _clean(_FOLD.sub("", str(value)))
                if bad:
                    self.replaced.add(name)
                return text.strip()
        return None

    def raws(self, name: str) -> list[str]:
        return [str(v) for k, v in self.msg.raw_items() if k.lower() == name.lower()]

    def too_long(self, name: str) -> bool:
        if sum(len(v) for v in self.raws(name)) <= MAX_HEADER_CHARS:
            return False
        self.report(f"header {name} longer than {MAX_HEADER_CHARS:,} characters: read leniently")
        return True

    def text_header(self, name: str) -> str:
        if self.too_long(name):
            return self.raw(name) or ""
        try:
            value = self.msg.get(name)
        except Exception:
            self.report(f"header {name} could not be decoded, kept as written")
            return self.raw(name) or ""
        if value is None:
            return ""
        self.raw(name)  # the parser replaces bytes that are not UTF-8 silently: note them
        self.defects.update(type(d).__name__ for d in getattr(value, "defects", ()))
        text, bad = _clean(str(value))
        if bad:
            self.replaced.add(name)
        return text.strip()

    def addresses(self, name: str) -> list[tuple[str, str]]:
        """(display name, address) of every address in every `name` header."""
        out: list[tuple[str, str]] | None = None
        if not self.too_long(name):
            try:
                out = []
                headers: list[Any] = self.msg.get_all(name) or []
                for h in headers:
                    self.defects.update(type(d).__name__ for d in getattr(h, "defects", ()))
                    out.extend((str(a.display_name), str(a.addr_spec)) for a in h.addresses)
            except Exception:
                self.report(f"header {name} could not be parsed, read leniently")
                out = None
        if out is None:
            try:
                out = list(getaddresses([_FOLD.sub("", v) for v in self.raws(name)]))
            except Exception:
                self.report(f"header {name} left out")
                out = []
        cleaned: list[tuple[str, str]] = []
        for display, addr in out:
            d, bad_d = _clean(display)
            a, bad_a = _clean(addr)
            if bad_d or bad_a:
                self.replaced.add(name)
            if a.strip():
                cleaned.append((d.strip(), a.strip()))
        return cleaned

    def date(self) -> tuple[datetime | None, str]:
        written = self.raw("Date")
        if not written:
            self.report("no Date header: sent_at left empty")
            return None, ""
        try:
            at = parsedate_to_datetime(written)
        except Exception:
            self.report("Date header not understood: sent_at left empty")
            return None, written
        if at.tzinfo is None:
            if _UNKNOWN_ZONE_AS_UTC.search(written):
                at = at.replace(tzinfo=UTC)
            else:
                self.report("Date header has no time zone that can be read: kept naive")
        return at, written

    # -- parts ---------------------------------------------------------------------------

    def decode(self, part: Message, number: int) -> str:
        try:
            data = part.get_payload(decode=True)
        except Exception:
            self.report(f"part {number}: content could not be decoded, left empty")
            data = b""
        if not isinstance(data, bytes):
            data = b""
        try:
            charset = part.get_content_charset() or "utf-8"
            codecs.lookup(charset)
        except Exception:
            self.report(f"part {number}: unknown charset, read as UTF-8")
            charset = "utf-8"
        if charset in ("us-ascii", "ascii"):
            charset = "utf-8"  # 8-bit text declared as ASCII is nearly always UTF-8
        try:
            text = data.decode(charset)
        except Exception:
            self.report(f"part {number}: bytes not valid in its charset replaced")
            try:
                text = data.decode(charset, "replace")
            except Exception:
                text = data.decode("utf-8", "replace")
        return text.replace("\r\n", "\n").replace("\r", "\n")

    def attachment(self, part: Message, number: int) -> Attachment:
        try:
            name, bad = _clean(part.get_filename() or "")
            if bad:
                self.report(f"part {number}: attachment name not decodable, replaced")
        except Exception:
            self.report(f"part {number}: attachment name could not be read")
            name = ""
        data: bytes
        if part.get_content_maintype() == "message":
            inner = part.get_payload()
            try:
                if isinstance(inner, list):
                    data = b"".join(m.as_bytes() for m in inner if isinstance(m, Message))
                else:
                    data = str(inner).encode("utf-8", "surrogateescape")
            except Exception:
                self.report(f"part {number}: attached message could not be serialised")
                data = b""
        else:
            try:
                payload = part.get_payload(decode=True)
            except Exception:
                self.report(f"part {number}: attachment could not be decoded")
                payload = b""
            data = payload if isinstance(payload, bytes) else b""
        return Attachment(
            name=name.strip(),
            content_type=part.get_content_type(),
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )

    def body(self) -> tuple[str, bool, tuple[Attachment, ...]]:
        """(text, whether it came from HTML, attachments), walking the parts in order."""
        pieces: list[str] = []
        from_html = False
        attachments: list[Attachment] = []
        stack: list[tuple[Message, bool]] = [(self.msg, True)]
        visited: list[Message] = []
        number = 0
        while stack:
            part, bears_text = stack.pop()
            number += 1
            visited.append(part)
            if part.get_content_maintype() == "message" or not part.is_multipart():
                if not _is_body_text(part):
                    attachments.append(self.attachment(part, number))
                elif bears_text:
                    text = self.decode(part, number)
                    if part.get_content_subtype() == "html":
                        text, from_html = html_to_text(text), True
                    pieces.append(text)
                continue
            payload = part.get_payload()
            children = [p for p in payload if isinstance(p, Message)] if payload else []
            chosen = -1
            if bears_text and part.get_content_type() == "multipart/alternative":
                chosen = _preferred(children)
            flags = [bears_text if chosen < 0 else i == chosen for i in range(len(children))]
            stack.extend(reversed(list(zip(children, flags, strict=True))))
        for part in visited:  # after decoding: bad base64 is found then
            self.defects.update(type(d).__name__ for d in part.defects)
        text = pieces[0] if len(pieces) == 1 else "\n\n".join(x.rstrip("\n") for x in pieces)
        return text, from_html, tuple(attachments)

    def item(self) -> Item:
        sender_list = self.addresses("From")
        if len(sender_list) > 1:
            self.report("more than one From address: the first is the sender")
        sender: str | None = sender_list[0][1] if sender_list else None
        from_name = sender_list[0][0] if sender_list else ""
        if sender is None:
            written = self.raw("From")
            sender = written or None
            if sender is None:
                self.report("no From address")
        to, cc, bcc = (self.addresses(h) for h in ("To", "Cc", "Bcc"))
        subject = self.text_header("Subject")
        sent_at, sent_text = self.date()
        text, from_html, attachments = self.body()
        meta: dict[str, str] = {}
        for key, header in (
            ("message_id", "Message-ID"),
            ("in_reply_to", "In-Reply-To"),
            ("references", "References"),
        ):
            value = self.raw(header)
            if value:
                meta[key] = " ".join(value.split())
        if from_name:
            meta["from_name"] = from_name
        for key, group in (("to", to), ("cc", cc), ("bcc", bcc)):
            if group:
                meta[key] = ", ".join(a for _, a in group)
        if from_html:
            meta["body_from_html"] = "true"
        if self.replaced:
            names = ", ".join(sorted(self.replaced))
            self.report(f"undecodable bytes replaced in header(s): {names}")
        defects = sorted(self.defects - _QUIET_DEFECTS)
        if defects:
            self.report("MIME defects: " + ", ".join(defects))
        return Item(
            kind="email",
            conversation="",
            sent_at=sent_at,
            sent_text=sent_text,
            sender=sender,
            recipients=tuple(a for group in (to, cc, bcc) for _, a in group),
            subject=subject,
            text=text,
            line=self.line,
            attachments=attachments,
            meta=tuple(sorted(meta.items())),
        )


def _is_body_text(part: Message) -> bool:
    return (
        part.get_content_type() in ("text/plain", "text/html")
        and part.get_content_disposition() != "attachment"
        and not _has_filename(part)
    )


def _has_filename(part: Message) -> bool:
    try:
        return bool(part.get_filename())
    except Exception:
        return True


def _holds(part: Message, content_type: str) -> bool:
    """Whether `part` holds a body part of `content_type` (not inside an attached message)."""
    stack = [part]
    while stack:
        p = stack.pop()
        if p.get_content_maintype() == "message":
            continue
        if p.is_multipart():
            payload = p.get_payload()
            stack.extend(x for x in payload if isinstance(x, Message))
        elif p.get_content_type() == content_type and _is_body_text(p):
            return True
    return False


def _preferred(children: list[Message]) -> int:
    """The branch of a multipart/alternative whose text is read: the first holding plain text,
    else the first holding HTML, else the last."""
    for wanted in ("text/plain", "text/html"):
        for i, child in enumerate(children):
            if _holds(child, wanted):
                return i
    return len(children) - 1


def _message(raw: _Raw, problems: list[Problem]) -> Iterator[Item]:
    msg = raw.close(problems)
    if msg is None:
        return
    refused = _limits(msg)
    if refused is not None:
        problems.append(Problem(raw.line, refused))
        return
    try:
        yield _Reader(msg, raw.line, problems).item()
    except Exception:  # a parser corner not foreseen above: the message, not the file, fails
        problems.append(Problem(raw.line, "message could not be read, left out"))


def read_mbox(path: Path, problems: list[Problem]) -> Iterator[Item]:
    """The messages of an mbox file, in order, reading one message at a time (see the module
    docstring). Problems are appended to `problems` as they are found."""
    with path.open("rb") as f:
        n = 0  # lines read to their end
        at_start = True
        current: _Raw | None = None
        held: bytes | None = None  # a blank line that may be the mbox's, before a `From `
        skip_line = False  # the rest of a separator line longer than _CHUNK
        preamble = False
        while True:
            chunk = f.readline(_CHUNK)
            if not chunk:
                break
            line_no, line_start = n + 1, at_start
            if chunk.endswith(b"\n"):
                n += 1
                at_start = True
            else:
                at_start = False
            if not line_start:
                if skip_line:
                    skip_line = not at_start
                    continue
                if current is not None:
                    current.feed(chunk, line_start=False)
                continue
            skip_line = False
            if chunk.startswith(b"From ") and (current is None or _SEPARATOR.match(chunk)):
                if current is not None:
                    yield from _message(current, problems)
                current, held = _Raw(line_no), None
                skip_line = not at_start
                continue
            if current is None:
                if not preamble and chunk.strip():
                    preamble = True
                    problems.append(
                        Problem(line_no, 'text before the first "From " line, left out')
                    )
                continue
            if chunk in (b"\n", b"\r\n"):
                if held is not None:
                    current.feed(held, line_start=True)
                held = chunk
                continue
            if held is not None:
                current.feed(held, line_start=True)
                held = None
            if _QUOTED_FROM.match(chunk):
                chunk = chunk[1:]
            current.feed(chunk, line_start=True)
        if current is not None:
            yield from _message(current, problems)


def read_eml(path: Path, problems: list[Problem]) -> Iterator[Item]:
    """The one message of an .eml file (nothing, and a problem, if it cannot be read)."""
    if path.stat().st_size > MAX_MESSAGE_BYTES:
        problems.append(Problem(1, f"message larger than {MAX_MESSAGE_BYTES:,} bytes, left out"))
        return
    raw = _Raw(1)
    with path.open("rb") as f:
        at_start = True
        while chunk := f.readline(_CHUNK):
            raw.feed(chunk, line_start=at_start)
            at_start = chunk.endswith(b"\n")
    if raw.size == 0:
        problems.append(Problem(1, "empty file"))
        return
    yield from _message(raw, problems)


__all__ = [
    "MAX_CONTENT_HEADERS_TOTAL",
    "MAX_CONTENT_HEADER_CHARS",
    "MAX_DEPTH",
    "MAX_HEADER_CHARS",
    "MAX_MESSAGE_BYTES",
    "MAX_PARTS",
    "html_to_text",
    "read_eml",
    "read_mbox",
]
