"""CSV framing: split a byte stream into records, with the physical line each record starts on.

No CSV library reports the line number of every good row (pyarrow and DuckDB report it only for
rows they reject, and DuckDB's count drifts after a quoted newline), and every stored row and
quarantined row must name its line. So this module finds record boundaries itself.

Quoting follows RFC 4180 as pyarrow reads it: a quote opens a quoted field only at the start of
a field; inside one, `""` is a quote and a quote followed by a delimiter or line end closes it; a
quote anywhere else in an unquoted field is a literal character. Two things are stricter than a
lenient reader, because they are how one bad quote swallows good rows: a closing quote followed
by other text, and a quote never closed. For both, only the first physical line of the record is
rejected and framing starts again on the next line, so the rows after it are kept.

Fast path: for a block whose quotes pair up cleanly (the usual case, including files that quote
every field) quoted regions are the consecutive pairs of quotes, all vectorised with numpy. Any
block with a stray or malformed quote is framed by an exact state machine over its quote
positions only, in one pass.

Per block the framer yields the good records' bytes (handed to pyarrow to split into fields),
the start line of each, and the records it rejected with the reason: wrong number of fields,
NUL bytes, longer than the limit, a malformed or unclosed quote, or undecodable text.
"""

from __future__ import annotations

import bisect
import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

QUOTE, COMMA, NEWLINE, CR, NUL = 34, 44, 10, 13, 0
_READ = 8 << 20  # bytes read from the stream at a time
_RAW_LIMIT = 64 << 10  # characters of a rejected record kept for retry

# One reason for both ways a quote goes wrong: from the record's first line alone nobody can
# tell a quote never closed from one "closed" by a later quote that text follows.
QUOTE_PROBLEM = "a quoted field has no closing quote before a delimiter or the line end"


@dataclass
class Reject:
    line: int
    reason: str
    raw: str  # the record's text, cut to a bounded length (quarantine keeps it for retry)


@dataclass
class FramedBlock:
    data: bytes  # good records, UTF-8, each ending in "\n"
    lines: np.ndarray  # int64 start line of each good record
    rejects: list[Reject] = field(default_factory=list)
    encoding: str = "utf-8"
    has_quotes: bool = False


@dataclass
class FramerState:
    line: int = 1  # physical line the next unread record starts on
    records: int = 0  # records seen (good and rejected), header excluded


@dataclass
class _Layout:
    """Where the records of a buffer are, as found by `_layout`."""

    nl: np.ndarray  # positions of every newline
    ends: np.ndarray  # positions of record-ending newlines
    qstart: np.ndarray  # quoted regions: opening quote positions
    qend: np.ndarray  # and their closing quote positions
    bad: dict[int, str]  # record start position -> reason (first line of a bad record)
    open_from: int | None  # start of a record whose quote is still open at the buffer's end


def _inside(pos: np.ndarray, qstart: np.ndarray, qend: np.ndarray) -> np.ndarray:
    """True where a position lies inside a quoted region."""
    if len(qstart) == 0 or len(pos) == 0:
        return np.zeros(len(pos), dtype=bool)
    k = np.searchsorted(qstart, pos) - 1
    return (k >= 0) & (pos < qend[np.maximum(k, 0)])


def _at_field_start(buf: np.ndarray, p: np.ndarray) -> np.ndarray:
    prev = buf[np.maximum(p - 1, 0)]
    return (p == 0) | (prev == COMMA) | (prev == NEWLINE)


def _closes(buf: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Quotes that can close a field: before a delimiter, a line end, or the buffer's end (at
    the end of a buffer that is not the file's end the record is carried over anyway)."""
    n = len(buf)
    nxt = buf[np.minimum(p + 1, n - 1)]
    return (p + 1 >= n) | (nxt == COMMA) | (nxt == NEWLINE) | (nxt == CR)


def _fast_regions(buf: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Quoted regions when every quote pairs cleanly (openers at field starts; closers before a
    delimiter, line end or an escaping quote); None when the block needs the state machine."""
    # Escaped quotes ("" inside a quoted field) come in adjacent pairs: drop them first.
    opens, closes = q[0::2], q[1::2]
    if len(closes) < len(opens):
        return None  # a quote is still open at the end of the buffer
    ok = _at_field_start(buf, opens)
    # A closer may be followed by a quote that opens an escaped pair: accept only if that
    # quote is the next opener, i.e. the pair "" sits inside one field.
    nxt_is_quote = buf[np.minimum(closes + 1, len(buf) - 1)] == QUOTE
    escaped = nxt_is_quote & (closes + 1 < len(buf))
    if escaped.any():
        # the quote right after an escaping closer is the next opener; it must not be judged
        # as a field start
        follow = np.searchsorted(opens, closes[escaped] + 1)
        ok[follow[follow < len(opens)]] = True
    if not ok.all() or not (_closes(buf, closes) | escaped).all():
        return None
    if not escaped.any():
        return opens, closes
    # Merge regions joined by escaped quotes: region i continues into i+1 when closer i
    # escapes.
    keep_start = np.concatenate(([True], ~escaped[:-1]))
    keep_end = ~escaped
    return opens[keep_start], closes[keep_end]


def _record_start(p: int, nl: np.ndarray, qs: list[int], qe: list[int]) -> int:
    """Start of the record containing position p, given the quoted regions before p."""
    k = int(np.searchsorted(nl, p)) - 1
    while k >= 0:
        n = int(nl[k])
        j = bisect.bisect_right(qs, n) - 1
        if j >= 0 and n < qe[j]:  # this newline is inside a quoted region: look before it
            k = int(np.searchsorted(nl, qs[j])) - 1
            continue
        return n + 1
    return 0


def _slow_regions(buf: np.ndarray, q: np.ndarray, nl: np.ndarray, eof: bool) -> _Layout:
    """The exact state machine, over quote positions only (one pass, with resync)."""
    n = len(buf)
    quotes = q.tolist()
    field_start = _at_field_start(buf, q).tolist()
    nxt = buf[np.minimum(q + 1, n - 1)].tolist()
    qs: list[int] = []
    qe: list[int] = []
    bad: dict[int, str] = {}
    i, m = 0, len(quotes)
    open_at = -1
    open_from: int | None = None

    def resync(opened: int, reason: str) -> int:
        """Reject the first line of the record holding `opened`; return the quote index to
        resume from (the first quote after that line)."""
        s = _record_start(opened, nl, qs, qe)
        while qs and qs[-1] >= s:  # regions of the rejected record are void
            qs.pop()
            qe.pop()
        k = int(np.searchsorted(nl, s))
        line_end = int(nl[k]) if k < len(nl) else n
        bad[s] = reason
        return bisect.bisect_right(quotes, line_end)

    while True:
        while i < m:
            p = quotes[i]
            if open_at < 0:
                if field_start[i]:
                    open_at = p
                i += 1  # a quote inside an unquoted field is a literal
                continue
            # inside a quoted field
            if p + 1 < n and nxt[i] == QUOTE and i + 1 < m and quotes[i + 1] == p + 1:
                i += 2  # "" is an escaped quote
                continue
            if p + 1 >= n or nxt[i] in (COMMA, NEWLINE, CR):
                if p + 1 >= n and not eof:
                    break  # cannot tell yet: the record is incomplete
                qs.append(open_at)
                qe.append(p)
                open_at = -1
                i += 1
                continue
            i = resync(open_at, QUOTE_PROBLEM)
            open_at = -1
        if open_at >= 0 and eof:
            # Never closed: reject its first line and read the quotes after it afresh.
            i = resync(open_at, QUOTE_PROBLEM)
            open_at = -1
            continue
        break
    if open_at >= 0:
        open_from = _record_start(open_at, nl, qs, qe)
    qstart = np.asarray(qs, dtype=np.int64)
    qend = np.asarray(qe, dtype=np.int64)
    ends = nl[~_inside(nl, qstart, qend)]
    if open_from is not None:
        ends = ends[ends < open_from]
    return _Layout(nl, ends, qstart, qend, bad, open_from)


def _layout(buf: np.ndarray, eof: bool, *, has_quotes: bool = True) -> _Layout:
    nl = np.flatnonzero(buf == NEWLINE)
    q = np.flatnonzero(buf == QUOTE) if has_quotes else np.empty(0, np.int64)
    if len(q) == 0:
        return _Layout(nl, nl, q, q, {}, None)
    fast = _fast_regions(buf, q)
    if fast is None:
        return _slow_regions(buf, q, nl, eof)
    qstart, qend = fast
    return _Layout(nl, nl[~_inside(nl, qstart, qend)], qstart, qend, {}, None)


def record_spans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) byte spans of the records of framed data (each ends in a newline)."""
    layout = _layout(np.frombuffer(data, dtype=np.uint8), eof=True)
    ends = layout.ends.tolist()
    return list(zip([0, *(e + 1 for e in ends[:-1])], ends, strict=True))


def _decode(chunk: bytes) -> tuple[bytes, str]:
    """Chunk as UTF-8. A chunk that is not valid UTF-8 is read as Windows-1252 (Latin-1 for
    bytes 1252 leaves undefined). Chunks split at record ends, so no character is cut."""
    try:
        chunk.decode("utf-8")
        return chunk, "utf-8"
    except UnicodeDecodeError:
        text = chunk.decode("cp1252", errors="surrogateescape")
        fixed = text.encode("utf-8", errors="surrogateescape").decode("utf-8", "replace")
        if "\ufffd" in fixed:
            return chunk.decode("latin-1").encode("utf-8"), "latin-1"
        return fixed.encode("utf-8"), "cp1252"


def _raw_text(b: bytes) -> str:
    return b[:_RAW_LIMIT].decode("utf-8", errors="replace").rstrip("\r\n")


def read_header(
    stream: BinaryIO, *, max_record_bytes: int, bom: list[bool] | None = None
) -> tuple[bytes, int, bytes]:
    """The first record (the header), the number of lines it spans, and the bytes read past it.

    A UTF-8 byte-order mark is dropped (and noted in `bom` when given). Raises ValueError with a
    reason for an empty file or a header longer than the limit."""
    buf = b""
    while True:
        chunk = stream.read(1 << 16)
        buf += chunk
        if buf.startswith(codecs.BOM_UTF8):
            buf = buf[len(codecs.BOM_UTF8) :]
            if bom is not None:
                bom.append(True)
        layout = _layout(np.frombuffer(buf, dtype=np.uint8), eof=not chunk)
        if 0 in layout.bad:
            raise ValueError("the header has a malformed quoted name")
        if len(layout.ends):
            end = int(layout.ends[0])
            header = buf[:end]
            return header, header.count(b"\n") + 1, buf[end + 1 :]
        if len(buf) > max_record_bytes:
            raise ValueError(f"the header is longer than {max_record_bytes:,} bytes")
        if not chunk:
            if not buf.strip():
                raise ValueError("the file is empty")
            return buf, buf.count(b"\n") + 1, b""


def frame_records(
    stream: BinaryIO,
    rest: bytes,
    *,
    n_fields: int,
    first_line: int,
    block_bytes: int,
    max_record_bytes: int,
) -> Iterator[FramedBlock]:
    """Yield blocks of records after the header. `rest` is what `read_header` read past it."""
    state = FramerState(line=first_line)
    carry = rest
    eof = False
    skipping = False  # inside an over-long line, already rejected: drop bytes to its end
    stalled = False  # the last pass found no complete record: it needs more bytes
    while True:
        if not eof and (len(carry) < block_bytes or skipping or stalled):
            chunk = stream.read(max(block_bytes - len(carry), _READ))
            eof = not chunk
            carry += chunk
        if skipping:
            nl = carry.find(b"\n")
            if nl == -1:
                carry = b""
                if eof:
                    return
                continue
            carry = carry[nl + 1 :]
            skipping = False
        if not carry:
            if eof:
                return
            continue
        before = len(carry)
        block, carry, skip = _frame_block(
            carry, state, n_fields=n_fields, eof=eof, max_record_bytes=max_record_bytes
        )
        stalled = block is None and not skip and len(carry) == before
        if block is not None:
            yield block
        skipping = skip
        if eof and not carry and not skipping:
            return


def _frame_plain(
    buf: bytes, state: FramerState, *, max_record_bytes: int
) -> tuple[FramedBlock, bytes, bool] | None:
    """The usual block, framed with a few memchr-speed scans and no array of positions: no
    quote, no NUL byte, no blank line, CR only in CRLF line ends, and no record near the length
    limit. Every newline then ends a record and records are on consecutive lines. None when any
    of that does not hold (the exact path below frames the block instead)."""
    last = buf.rfind(b"\n")
    if last < 0 or b'"' in buf or b"\x00" in buf:
        return None
    if buf.startswith(b"\n") or b"\n\n" in buf:
        return None  # blank lines are not records
    if b"\r" in buf:  # memchr; the CRLF checks only for files that have CRs
        if buf.startswith(b"\r\n") or b"\n\r\n" in buf:
            return None
        if buf.count(b"\r") != buf.count(b"\r\n"):
            return None
    # Every window of half the limit holds a newline, so no record reaches the limit.
    step = max(max_record_bytes // 2, 1)
    for k in range(0, last + 1, step):
        if buf.find(b"\n", k, min(k + step, last + 1)) < 0:
            return None
    n = buf.count(b"\n", 0, last + 1)
    lines = np.arange(state.line, state.line + n, dtype=np.int64)
    state.line += n
    state.records += n
    return FramedBlock(buf[: last + 1], lines), buf[last + 1 :], False


def _frame_block(
    buf: bytes, state: FramerState, *, n_fields: int, eof: bool, max_record_bytes: int
) -> tuple[FramedBlock | None, bytes, bool]:
    """Frame the complete records of `buf`. Returns the block, the bytes left over (an
    incomplete record) and whether to skip to the end of an over-long line."""
    if eof and not buf.endswith(b"\n"):
        buf += b"\n"
    plain = _frame_plain(buf, state, max_record_bytes=max_record_bytes)
    if plain is not None:
        return plain
    arr = np.frombuffer(buf, dtype=np.uint8)
    layout = _layout(arr, eof, has_quotes=b'"' in buf)  # memchr first: most blocks have none
    ends = layout.ends
    if len(ends) == 0:
        if len(buf) <= max_record_bytes:
            return None, buf, False
        # An open record past the limit: a huge field or a quote never closed. Reject its
        # first line and go on from the next, so no later row is lost.
        nl = buf.find(b"\n")
        if 0 <= nl <= max_record_bytes:  # a short first line: the record grew by an open quote
            reason = QUOTE_PROBLEM
        else:
            reason = f"the record is longer than {max_record_bytes:,} bytes"
        reject = Reject(state.line, reason, _raw_text(buf[: nl if nl >= 0 else len(buf)]))
        state.line += 1
        state.records += 1
        block = FramedBlock(b"", np.empty(0, np.int64), [reject])
        if nl == -1:
            return block, b"", True
        return block, buf[nl + 1 :], False
    last = int(ends[-1])
    carry = buf[last + 1 :]
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts  # without the newline
    nl_all = layout.nl[: int(np.searchsorted(layout.nl, last, side="right"))]
    line_of = state.line + np.searchsorted(nl_all, starts)
    state.line += len(nl_all)
    # Field counts are checked by pyarrow when it splits the block (`split_ragged` finds the
    # ragged records only when it objects), so the usual block costs no pass over its commas.
    # empty lines (a lone "\n" or "\r\n") are not records
    content = lengths - (arr[np.maximum(ends - 1, 0)] == CR) * (lengths > 0)
    blank = content == 0
    bad = ~blank & (lengths > max_record_bytes)
    quote_bad = np.zeros(len(starts), dtype=bool)
    flagged = [b for b in layout.bad if b <= last]  # a flagged record may end in the carry
    if flagged:
        quote_bad[np.searchsorted(starts, np.asarray(flagged, dtype=np.int64))] = True
        bad |= quote_bad
    has_nul = np.zeros(len(starts), dtype=bool)
    if b"\x00" in buf:
        nul = np.flatnonzero(arr[: last + 1] == NUL)
        has_nul[np.searchsorted(ends, nul)] = True
        bad |= has_nul & ~blank
    state.records += int(np.count_nonzero(~blank))
    rejects: list[Reject] = []
    for i in np.flatnonzero(bad).tolist():
        s, e = int(starts[i]), int(ends[i])
        if quote_bad[i]:
            reason = layout.bad[s]
        elif lengths[i] > max_record_bytes:
            reason = f"the record is longer than {max_record_bytes:,} bytes"
        else:
            reason = "the record contains NUL bytes"
        rejects.append(Reject(int(line_of[i]), reason, _raw_text(buf[s:e])))
    keep = ~(bad | blank)
    if keep.all():
        data = buf[: last + 1]
    else:
        # Copy runs of good records; rejects and blank lines are few, so runs are long.
        runs = np.flatnonzero(np.diff(np.concatenate(([0], keep.view(np.int8), [0]))))
        data = b"".join(
            buf[int(starts[a]) : int(ends[b - 1]) + 1]
            for a, b in zip(runs[0::2].tolist(), runs[1::2].tolist(), strict=True)
        )
    block = FramedBlock(
        data=data,
        lines=line_of[keep].astype(np.int64),
        rejects=rejects,
        encoding="utf-8",  # until the splitter finds otherwise (see `transcode`)
        has_quotes=bool(len(layout.qstart)),
    )
    return block, carry, False


def split_ragged(block: FramedBlock, n_fields: int) -> FramedBlock:
    """The block without its records that have the wrong number of fields (commas outside
    quoted regions), which become rejects."""
    arr = np.frombuffer(block.data, dtype=np.uint8)
    layout = _layout(arr, eof=True)
    ends = layout.ends
    starts = np.concatenate(([0], ends[:-1] + 1))
    commas = np.flatnonzero(arr == COMMA)
    commas = commas[~_inside(commas, layout.qstart, layout.qend)]
    per_record = np.diff(np.searchsorted(commas, np.concatenate((starts, [len(arr)])))) + 1
    ragged = per_record != n_fields
    if not ragged.any():
        return block
    rejects = list(block.rejects)
    for i in np.flatnonzero(ragged).tolist():
        raw = _raw_text(block.data[int(starts[i]) : int(ends[i])])
        reason = f"expected {n_fields} fields, found {int(per_record[i])}"
        rejects.append(Reject(int(block.lines[i]), reason, raw))
    rejects.sort(key=lambda r: r.line)
    keep = ~ragged
    runs = np.flatnonzero(np.diff(np.concatenate(([0], keep.view(np.int8), [0]))))
    data = b"".join(
        block.data[int(starts[a]) : int(ends[b - 1]) + 1]
        for a, b in zip(runs[0::2].tolist(), runs[1::2].tolist(), strict=True)
    )
    return FramedBlock(data, block.lines[keep], rejects, block.encoding, block.has_quotes)


def has_utf8_multibyte(data: bytes) -> bool:
    """Whether the data holds at least one well-formed non-ASCII UTF-8 sequence."""
    return (
        re.search(
            rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}", data
        )
        is not None
    )


def split_bad_utf8(block: FramedBlock, *, known_utf8: bool) -> FramedBlock | None:
    """For a block that is not all valid UTF-8: when the file is UTF-8 (a byte-order mark, or
    well-formed multi-byte characters in this block or an earlier one), the records with invalid
    bytes become rejects and the rest is kept unchanged. Returns None when nothing shows the file
    is UTF-8; the caller then reads the block as a legacy single-byte encoding (`transcode`)."""
    spans = record_spans(block.data)
    bad: list[int] = []
    for i, (a, b) in enumerate(spans):
        try:
            block.data[a : b + 1].decode("utf-8")
        except UnicodeDecodeError:
            bad.append(i)
    if not bad:
        return block
    if not known_utf8:
        good = bytearray()
        bad_set = set(bad)
        for i, (a, b) in enumerate(spans):
            if i not in bad_set:
                good += block.data[a : b + 1]
        if not has_utf8_multibyte(bytes(good)):
            return None
    rejects = list(block.rejects)
    bad_set = set(bad)
    keep_parts = []
    keep_lines = []
    for i, (a, b) in enumerate(spans):
        rec = block.data[a : b + 1]
        if i in bad_set:
            try:
                rec.decode("utf-8")
                pos = 0
            except UnicodeDecodeError as e:
                pos = e.start
            reason = (
                f"not valid UTF-8: byte 0x{rec[pos]:02X} at byte {pos + 1} of the record "
                "(the rest of the file is UTF-8)"
            )
            rejects.append(Reject(int(block.lines[i]), reason, _raw_text(rec)))
        else:
            keep_parts.append(rec)
            keep_lines.append(block.lines[i])
    rejects.sort(key=lambda r: r.line)
    return FramedBlock(
        b"".join(keep_parts),
        np.array(keep_lines, dtype=np.int64),
        rejects,
        block.encoding,
        block.has_quotes,
    )


def transcode(block: FramedBlock) -> FramedBlock:
    """The block as UTF-8, for a block that is not (see `_decode`)."""
    data, encoding = _decode(block.data)
    return FramedBlock(data, block.lines, block.rejects, encoding, block.has_quotes)


__all__ = [
    "QUOTE_PROBLEM",
    "FramedBlock",
    "FramerState",
    "Reject",
    "frame_records",
    "has_utf8_multibyte",
    "read_header",
    "record_spans",
    "split_bad_utf8",
    "split_ragged",
    "transcode",
]
