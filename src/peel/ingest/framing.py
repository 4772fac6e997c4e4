"""CSV framing: split a byte stream into records, with the physical line each record starts on.

No CSV library reports the line number of every good row (pyarrow and DuckDB report it only for
rows they reject, and DuckDB's count drifts after a quoted newline), and every stored row and
quarantined row must name its line. So this module finds record boundaries itself, vectorised
with numpy over blocks of bytes, using the RFC 4180 rule: a newline ends a record when an even
number of quote characters precede it in the record. A stray quote inside an unquoted field
(`ab"c`) is literal, as in pyarrow and Python's csv module, and is left out of the count.

Per block it yields the good records' bytes (handed to pyarrow to split into fields), the start
line of each, and the records it rejected with the reason: wrong number of fields, NUL bytes,
longer than the limit, an unterminated quote at the end of the file, or undecodable text.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

QUOTE, COMMA, NEWLINE, CR, NUL = 34, 44, 10, 13, 0
_READ = 8 << 20  # bytes read from the stream at a time


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
    encodings: set[str] = field(default_factory=set)


def _stray_quotes(buf: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Quotes that are literal: neither after a delimiter/line start nor before one."""
    n = len(buf)
    prev = np.where(q > 0, buf[np.maximum(q - 1, 0)], NEWLINE)
    nxt = np.where(q + 1 < n, buf[np.minimum(q + 1, n - 1)], NEWLINE)
    opens = (prev == COMMA) | (prev == NEWLINE) | (prev == QUOTE)
    closes = (nxt == COMMA) | (nxt == NEWLINE) | (nxt == CR) | (nxt == QUOTE)
    return ~(opens | closes)


def _terminators(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions of record-ending newlines, of all newlines, and of counted quotes."""
    nl = np.flatnonzero(buf == NEWLINE)
    q = np.flatnonzero(buf == QUOTE)
    if len(q) == 0:
        return nl, nl, q
    q = q[~_stray_quotes(buf, q)]
    before = np.searchsorted(q, nl)  # quotes before each newline
    return nl[(before & 1) == 0], nl, q


def _decode(chunk: bytes, state: FramerState) -> tuple[bytes, str]:
    """Chunk as UTF-8. A chunk that is not valid UTF-8 is read as Windows-1252 (Latin-1 for
    bytes 1252 leaves undefined). Chunks split at record ends, so no character is cut."""
    try:
        chunk.decode("utf-8")
        return chunk, "utf-8"
    except UnicodeDecodeError:
        text = chunk.decode("cp1252", errors="surrogateescape")
        fixed = text.encode("utf-8", errors="surrogateescape").decode("utf-8", "replace")
        if "\ufffd" in fixed:
            fixed = chunk.decode("latin-1")
            return fixed.encode("utf-8"), "latin-1"
        return fixed.encode("utf-8"), "cp1252"


def _raw_text(b: bytes, limit: int = 64 << 10) -> str:
    return b[:limit].decode("utf-8", errors="replace").rstrip("\r\n")


def read_header(stream: BinaryIO, *, max_record_bytes: int) -> tuple[bytes, int, bytes]:
    """The first record (the header), the number of lines it spans, and the bytes read past it.

    A UTF-8 byte-order mark is dropped. Raises ValueError with a reason for an empty file or a
    header longer than the limit."""
    buf = b""
    while True:
        chunk = stream.read(1 << 16)
        buf += chunk
        if buf.startswith(codecs.BOM_UTF8):
            buf = buf[len(codecs.BOM_UTF8) :]
        arr = np.frombuffer(buf, dtype=np.uint8)
        ends, _, _ = _terminators(arr)
        if len(ends):
            end = int(ends[0])
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
    """Yield blocks of good records after the header. `rest` is what `read_header` read past it."""
    state = FramerState(line=first_line)
    carry = rest
    skipping = False  # inside a record already known to be too long
    skip_start_line = 0
    skip_quotes = 0
    eof = False
    while not eof:
        chunk = stream.read(max(block_bytes - len(carry), _READ))
        eof = not chunk
        buf = carry + chunk
        carry = b""
        if skipping:
            arr = np.frombuffer(buf, dtype=np.uint8)
            nl = np.flatnonzero(arr == NEWLINE)
            q = np.flatnonzero(arr == QUOTE)
            before = (np.searchsorted(q, nl) + skip_quotes) & 1
            ends = nl[before == 0]
            if len(ends) == 0 and not eof:
                skip_quotes += len(q)
                state.line += len(nl)
                continue
            end = int(ends[0]) if len(ends) else len(buf) - 1
            state.line += int(np.count_nonzero(arr[: end + 1] == NEWLINE))
            state.records += 1
            reason = f"the record is longer than {max_record_bytes:,} bytes"
            yield FramedBlock(b"", np.empty(0, np.int64), [Reject(skip_start_line, reason, "")])
            skipping = False
            buf = buf[end + 1 :]
            if not buf and eof:
                break
        if eof:
            yield from _frame_tail(buf, state, n_fields=n_fields, max_record_bytes=max_record_bytes)
            break
        block, carry, too_long = _frame_block(
            buf, state, n_fields=n_fields, eof=False, max_record_bytes=max_record_bytes
        )
        if block is not None:
            yield block
        if too_long is not None:
            skipping = True
            skip_start_line = too_long[0]
            skip_quotes = too_long[1]
            carry = b""


def _frame_tail(
    buf: bytes, state: FramerState, *, n_fields: int, max_record_bytes: int
) -> Iterator[FramedBlock]:
    """Frame the end of the file. A quote left open would swallow every line after it; instead
    its first line is rejected and framing starts again on the next line, so later good
    records are kept."""
    while buf:
        arr = np.frombuffer(buf, dtype=np.uint8)
        ends, _, q = _terminators(arr)
        if not len(q) & 1:
            block, _, _ = _frame_block(
                buf, state, n_fields=n_fields, eof=True, max_record_bytes=max_record_bytes
            )
            if block is not None:
                yield block
            return
        cut = int(ends[-1]) + 1 if len(ends) else 0
        if cut:
            block, _, _ = _frame_block(
                buf[:cut], state, n_fields=n_fields, eof=False, max_record_bytes=max_record_bytes
            )
            if block is not None:
                yield block
        nl = buf.find(b"\n", cut)
        line_end = len(buf) if nl == -1 else nl
        reason = "a quoted field is not closed on this line or after it"
        reject = Reject(state.line, reason, _raw_text(buf[cut:line_end]))
        yield FramedBlock(b"", np.empty(0, np.int64), [reject])
        state.line += 1
        state.records += 1
        buf = b"" if nl == -1 else buf[nl + 1 :]


def _frame_block(
    buf: bytes, state: FramerState, *, n_fields: int, eof: bool, max_record_bytes: int
) -> tuple[FramedBlock | None, bytes, tuple[int, int] | None]:
    arr = np.frombuffer(buf, dtype=np.uint8)
    ends, nl, q = _terminators(arr)
    if eof and len(buf) and (len(ends) == 0 or ends[-1] != len(buf) - 1):
        # last record without a final newline (or with an unterminated quote): close it
        ends = np.append(ends, len(buf))
        arr = np.append(arr, np.uint8(NEWLINE))
        buf = buf + b"\n"
        nl = np.append(nl, len(buf) - 1)
    if len(ends) == 0:
        if len(buf) > max_record_bytes:
            # Too long and still open: reject from here and skip to its end.
            start_line = state.line
            state.line += len(nl)
            return None, b"", (start_line, len(q) & 1)
        return None, buf, None
    last = int(ends[-1])
    carry = buf[last + 1 :]
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts  # without the newline
    # start line of each record: lines before its start
    line_of = state.line + np.searchsorted(nl, starts)
    state.line += int(np.searchsorted(nl, last, side="right"))
    # fields per record: commas outside quotes
    commas = np.flatnonzero(arr[: last + 1] == COMMA)
    if len(q):
        commas = commas[(np.searchsorted(q, commas) & 1) == 0]
    per_record = np.diff(np.searchsorted(commas, np.concatenate((starts, [last + 1])))) + 1
    # empty lines (a lone "\n" or "\r\n") are not records
    content = lengths - (arr[np.maximum(ends - 1, 0)] == CR) * (lengths > 0)
    blank = content == 0
    bad = ~blank & ((per_record != n_fields) | (lengths > max_record_bytes))
    nul = np.flatnonzero(arr[: last + 1] == NUL)
    if len(nul):
        has_nul = np.zeros(len(starts), dtype=bool)
        has_nul[np.searchsorted(ends, nul)] = True
        bad |= has_nul & ~blank
    else:
        has_nul = None
    state.records += int(np.count_nonzero(~blank))
    rejects: list[Reject] = []
    bad_idx = np.flatnonzero(bad)
    for i in bad_idx.tolist():
        s, e = int(starts[i]), int(ends[i])
        if lengths[i] > max_record_bytes:
            reason = f"the record is longer than {max_record_bytes:,} bytes"
        elif has_nul is not None and has_nul[i]:
            reason = "the record contains NUL bytes"
        else:
            reason = f"expected {n_fields} fields, found {int(per_record[i])}"
        rejects.append(Reject(int(line_of[i]), reason, _raw_text(buf[s:e])))
    keep = ~(bad | blank)
    if not bad.any() and not blank.any():
        data = buf[: last + 1]
    else:
        # Copy runs of good records; rejects and blank lines are few, so runs are long.
        runs = np.flatnonzero(np.diff(np.concatenate(([0], keep.view(np.int8), [0]))))
        pieces = [
            buf[int(starts[a]) : int(ends[b - 1]) + 1]
            for a, b in zip(runs[0::2].tolist(), runs[1::2].tolist(), strict=True)
        ]
        data = b"".join(pieces)
    data, encoding = _decode(data, state)
    state.encodings.add(encoding)
    return (
        FramedBlock(
            data=data,
            lines=line_of[keep].astype(np.int64),
            rejects=rejects,
            encoding=encoding,
            has_quotes=bool(len(q)),
        ),
        carry,
        None,
    )


__all__ = ["FramedBlock", "FramerState", "Reject", "frame_records", "read_header"]
