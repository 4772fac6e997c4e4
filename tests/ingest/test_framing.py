"""Table-driven tests of CSV framing: which records are good, which line each starts on, and
why a bad one was rejected."""

from __future__ import annotations

import io

import pytest

from peel.ingest.framing import frame_records, read_header, split_ragged, transcode


def frame(text: bytes, *, block: int = 1 << 16, limit: int = 4096):
    stream = io.BytesIO(text)
    header, header_lines, rest = read_header(stream, max_record_bytes=limit)
    n = header.count(b",") + 1
    good, rejects = [], []
    for framed in frame_records(
        stream,
        rest,
        n_fields=n,
        first_line=1 + header_lines,
        block_bytes=block,
        max_record_bytes=limit,
    ):
        b = split_ragged(framed, n)  # field counts are checked when a block is split
        good += b.lines.tolist()
        rejects += [(r.line, r.reason) for r in b.rejects]
    return good, rejects


CASES = [
    # (name, file bytes, good record start lines, [(rejected line, reason fragment)])
    ("plain", b"a,b,c\n1,2,3\n4,5,6\n", [2, 3], []),
    ("no final newline", b"a,b,c\n1,2,3\n4,5,6", [2, 3], []),
    ("crlf", b"a,b,c\r\n1,2,3\r\n4,5,6\r\n", [2, 3], []),
    ("bom", b"\xef\xbb\xbfa,b,c\n1,2,3\n", [2], []),
    ("quoted newline", b'a,b,c\n1,"x\ny",3\n4,5,6\n', [2, 4], []),
    ("quoted newline crlf", b'a,b,c\r\n1,"x\r\ny",3\r\n4,5,6\r\n', [2, 4], []),
    ("escaped quotes", b'a,b,c\n1,"say ""hi"", ok",3\n4,5,6\n', [2, 3], []),
    ("quoted comma", b'a,b,c\n1,"x,y",3\n', [2], []),
    ("stray quote is literal", b'a,b,c\n1,ab"c,3\n4,5,6\n', [2, 3], []),
    ("blank lines skipped", b"a,b,c\n1,2,3\n\n\n4,5,6\n", [2, 5], []),
    ("too few fields", b"a,b,c\n1,2\n4,5,6\n", [3], [(2, "expected 3 fields, found 2")]),
    ("too many fields", b"a,b,c\n1,2,3,4\n4,5,6\n", [3], [(2, "expected 3 fields, found 4")]),
    ("nul byte", b"a,b,c\n1,\x002,3\n4,5,6\n", [3], [(2, "NUL")]),
    (
        "unterminated quote resyncs",
        b'a,b,c\n1,2,3\n5,"open,6\n6,z,7\n',
        [2, 4],
        [(3, "no closing quote")],
    ),
    ("every field quoted", b'"a","b","c"\n"1","x\ny","3"\n"4","5","6"\n', [2, 4], []),
    ("empty quoted field", b'a,b,c\n1,"",3\n', [2], []),
    ("quoted quote only", b'a,b,c\n1,"""",3\n', [2], []),
    (
        "text after a closing quote",
        b'a,b,c\n1,"x"y,3\n4,5,6\n',
        [3],
        [(2, "no closing quote")],
    ),
    (
        "open quote then a later quoted newline keeps the rows between",
        b'a,b,c\n1,"open,3\n4,5,6\n7,"x\ny",9\n10,11,12\n',
        [3, 4, 6],
        [(2, "no closing quote")],
    ),
    (
        "two open quotes do not pair up",
        b'a,b,c\n1,"open,3\n4,5,6\n7,"open,9\n10,11,12\n',
        [3, 5],
        [(2, "no closing quote"), (4, "no closing quote")],
    ),
    ("stray quote then quoted field", b'a,b,c\n1,ab"c,"x,y"\n4,5,6\n', [2, 3], []),
    ("header only", b"a,b,c\n", [], []),
    ("multi-line header", b'a,"b\nb",c\n1,2,3\n', [3], []),
]


@pytest.mark.parametrize(("name", "text", "good", "rejects"), CASES, ids=[c[0] for c in CASES])
def test_framing(name: str, text: bytes, good: list[int], rejects: list[tuple[int, str]]) -> None:
    got_good, got_rejects = frame(text)
    assert got_good == good
    assert [r[0] for r in got_rejects] == [r[0] for r in rejects]
    for (_, want), (_, reason) in zip(rejects, got_rejects, strict=True):
        assert want in reason


@pytest.mark.parametrize("block", [7, 64, 1 << 16])
def test_block_boundaries_do_not_change_the_result(block: int) -> None:
    rows = [f'{i},"line {i}\nmore",x' if i % 3 == 0 else f"{i},plain,x" for i in range(200)]
    text = ("a,b,c\n" + "\n".join(rows) + "\n").encode()
    good, rejects = frame(text, block=block, limit=1 << 16)
    expected, line = [], 2
    for r in rows:
        expected.append(line)
        line += r.count("\n") + 1
    assert good == expected
    assert rejects == []


def test_record_over_the_limit_is_rejected_and_the_rest_kept() -> None:
    big = b"x" * 50_000
    text = b"a,b,c\n1,2,3\n1," + big + b",3\n4,5,6\n"
    good, rejects = frame(text, block=1024, limit=4096)
    assert good == [2, 4]
    assert rejects == [(3, "the record is longer than 4,096 bytes")]


def test_latin1_block_is_transcoded() -> None:
    stream = io.BytesIO("a,b,c\n1,Caf\u00e9,3\n".encode("latin-1"))
    _header, _lines, rest = read_header(stream, max_record_bytes=4096)
    (block,) = frame_records(
        stream, rest, n_fields=3, first_line=2, block_bytes=1 << 16, max_record_bytes=4096
    )
    fixed = transcode(block)
    assert fixed.encoding in ("cp1252", "latin-1")
    assert "Caf\u00e9".encode() in fixed.data
    assert fixed.lines.tolist() == [2]


def test_empty_file_and_long_header_are_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        read_header(io.BytesIO(b""), max_record_bytes=100)
    with pytest.raises(ValueError, match="header is longer"):
        read_header(io.BytesIO(b"a" * 1000), max_record_bytes=100)


class Trickle(io.BytesIO):
    """A stream that hands out at most 10 bytes a read, like a slow pipe."""

    def read(self, size: int | None = -1) -> bytes:
        return super().read(10 if size is None or size < 0 else min(size, 10))


def test_blocks_smaller_than_a_record_do_not_stall() -> None:
    """A record longer than the block size (but under the record limit), arriving in small
    reads, is read whole instead of the framer waiting for a block that never fills."""
    text = b"a,b,c\n1," + b"x" * 500 + b",3\n4,5,6\n"
    stream = Trickle(text)
    _header, lines, rest = read_header(stream, max_record_bytes=4096)
    got = []
    for framed in frame_records(
        stream, rest, n_fields=3, first_line=1 + lines, block_bytes=16, max_record_bytes=4096
    ):
        got += framed.lines.tolist()
    assert got == [2, 3]
