"""Readers: turn a source file (CSV, JSON Lines or Parquet, gzip too) into blocks of text columns.

Every reader yields `RawBlock`s: an Arrow table whose columns are the source's columns as text
(so validation sees exactly what the source said) plus `_line`, the 1-based physical line where
the record starts (or the row number in Parquet), and the records it could not read, each with
its line and reason. Memory is bounded by the block size whatever the file size.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from peel.errors import InputRefused
from peel.ingest.framing import (
    FramedBlock,
    Reject,
    frame_records,
    read_header,
    record_spans,
    split_bad_utf8,
    split_ragged,
    transcode,
)
from peel.settings import Settings
from peel.sources.mapping import Mapping

log = logging.getLogger(__name__)

LINE = "_line"


@dataclass
class RawBlock:
    table: pa.Table  # source columns as strings, plus _line
    rejects: list[Reject] = field(default_factory=list)


@dataclass
class ReadStats:
    format: str = ""
    compressed: bool = False
    header: list[str] = field(default_factory=list)
    sha256: str | None = None  # set once the whole file has been read
    encodings: set[str] = field(default_factory=set)


def detect_format(path: Path) -> tuple[str, bool]:
    """(csv|jsonl|parquet, gzip?) from the name, checked against the first bytes."""
    name = path.name.lower()
    gz = name.endswith(".gz")
    if gz:
        name = name[:-3]
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic[:2] == b"\x1f\x8b":
        gz = True
    if magic == b"PAR1" or name.endswith(".parquet"):
        if gz:
            raise InputRefused(f"{path.name}: gzip-compressed Parquet is not supported")
        return "parquet", False
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl", gz
    return "csv", gz


class _BombGuard(io.RawIOBase):
    """A gzip stream that refuses to expand past a ratio of its compressed size."""

    def __init__(self, raw: BinaryIO, name: str, settings: Settings) -> None:
        self._raw = raw
        self._gz = gzip.GzipFile(fileobj=self._raw, mode="rb")
        self._out = 0
        self._name = name
        self._max_ratio = settings.max_gzip_ratio
        self._min_bytes = settings.max_gzip_min_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        try:
            data = self._gz.read(len(b))
        except (OSError, EOFError) as e:
            raise InputRefused(f"{self._name}: the gzip stream is damaged ({e})") from e
        self._out += len(data)
        if self._out > self._min_bytes:
            compressed = max(self._raw.tell(), 1)
            if self._out > compressed * self._max_ratio:
                raise InputRefused(
                    f"{self._name}: refused as a likely gzip bomb: it expands more than "
                    f"{self._max_ratio}x ({compressed:,} bytes read gave {self._out:,})"
                )
        n = len(data)
        b[:n] = data
        return n

    def close(self) -> None:
        self._gz.close()
        self._raw.close()
        super().close()


class _Hashing(io.RawIOBase):
    """The file's bytes, SHA-256 hashed as they are read: the manifest's fingerprint of the
    input without a second pass over it."""

    def __init__(self, path: Path, stats: ReadStats) -> None:
        self._fh = path.open("rb")
        self._hash = hashlib.sha256()
        self._stats = stats

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = self._fh.readinto(b)
        if n:
            self._hash.update(memoryview(b)[:n])
        else:
            self._stats.sha256 = self._hash.hexdigest()  # the whole file has been read
        return n or 0

    def tell(self) -> int:
        return self._fh.tell()

    def close(self) -> None:
        self._fh.close()
        super().close()


def open_binary(path: Path, gz: bool, settings: Settings, stats: ReadStats) -> BinaryIO:
    raw = io.BufferedReader(_Hashing(path, stats), buffer_size=1 << 20)
    if gz:
        return io.BufferedReader(
            _BombGuard(cast(BinaryIO, raw), path.name, settings), buffer_size=1 << 20
        )
    return cast(BinaryIO, raw)


def read_blocks(
    path: Path, mapping: Mapping, settings: Settings, stats: ReadStats
) -> Iterator[RawBlock]:
    """Blocks of a file, read as `mapping`'s source. Raises InputRefused for a file that is not
    of the source's format (naming missing and unexpected columns) or cannot be read."""
    fmt, gz = detect_format(path)
    stats.format, stats.compressed = fmt, gz
    if fmt == "parquet":
        yield from _parquet_blocks(path, mapping, settings)
        # The manifest's fingerprint, here on the read-ahead thread while the last blocks are
        # validated, rather than on the ingest's critical path after them.
        h = hashlib.sha256()
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        stats.sha256 = h.hexdigest()
    elif fmt == "jsonl":
        yield from _jsonl_blocks(path, gz, mapping, settings, stats)
    else:
        yield from _csv_blocks(path, gz, mapping, settings, stats)


# --- CSV -------------------------------------------------------------------------------------


def _parse_header(header: bytes, path: Path, settings: Settings) -> list[str]:
    text = header.decode("utf-8", errors="replace").rstrip("\r")
    if text.count(",") >= settings.max_columns:
        raise InputRefused(
            f"{path.name}: the header has {text.count(',') + 1:,} columns, more than the "
            f"limit of {settings.max_columns:,}"
        )
    try:
        return [c.strip() for c in next(csv.reader([text]))]
    except (csv.Error, StopIteration) as e:
        raise InputRefused(f"{path.name} line 1: the header cannot be read ({e})") from e


def _csv_blocks(
    path: Path, gz: bool, mapping: Mapping, settings: Settings, stats: ReadStats
) -> Iterator[RawBlock]:
    with open_binary(path, gz, settings, stats) as stream:
        try:
            bom: list[bool] = []
            header_bytes, header_lines, rest = read_header(
                stream, max_record_bytes=settings.max_record_bytes, bom=bom
            )
        except ValueError as e:
            raise InputRefused(f"{path.name}: {e}") from e
        if b"\x00" in header_bytes:
            raise InputRefused(f"{path.name} line 1: the header contains NUL bytes")
        header = _parse_header(header_bytes, path, settings)
        stats.header = header
        mapping.check_header(header, path.name)
        utf8 = False
        for framed in frame_records(
            stream,
            rest,
            n_fields=len(header),
            first_line=1 + header_lines,
            block_bytes=settings.block_bytes,
            max_record_bytes=settings.max_record_bytes,
        ):
            # A file is UTF-8 once it shows it (a byte-order mark, or well-formed multi-byte
            # characters in an earlier block): from then on a record with an invalid byte is
            # quarantined, rather than the block being re-read as a legacy encoding. (A block
            # that fails is checked for multi-byte text by split_bad_utf8 itself.)
            utf8 = utf8 or bool(bom)
            table, rejects, encoding = _parse_framed(framed, header, known_utf8=utf8)
            stats.encodings.add(encoding)
            if not utf8 and encoding == "utf-8":
                # The block was valid UTF-8, so any byte over 0x7F was part of a well-formed
                # multi-byte character. bytes.isascii is a fast scan; no regex on the hot path.
                utf8 = not framed.data.isascii()
            yield RawBlock(table, rejects)


def _parse_framed(
    framed: FramedBlock, header: list[str], *, known_utf8: bool = False
) -> tuple[pa.Table, list[Reject], str]:
    """Split framed records into text columns with pyarrow. pyarrow checks every record's field
    count and the UTF-8; when it objects, the ragged records are set aside or the block is
    transcoded, and it tries again. If its count of records ever disagrees with the framer's,
    the block is re-read record by record with Python's csv module, so lines stay exact."""
    for _ in range(3):
        n = len(framed.lines)
        if n == 0:
            return _empty(header), framed.rejects, framed.encoding
        try:
            table = _pyarrow_split(framed, len(header))
        except pa.ArrowInvalid as e:
            if "UTF8" in str(e).upper().replace("-", "") and framed.encoding == "utf-8":
                split = split_bad_utf8(framed, known_utf8=known_utf8)
                framed = transcode(framed) if split is None else split
            elif "columns" in str(e):
                framed = split_ragged(framed, len(header))
            else:
                log.info("pyarrow could not split a block (%s); re-reading it", type(e).__name__)
                break
            continue
        if table.num_rows == n:
            table = table.rename_columns(header)
            table = table.append_column(LINE, pa.array(framed.lines, pa.int64()))
            return table, framed.rejects, framed.encoding
        log.info("pyarrow read %d records where the framer found %d; re-reading", table.num_rows, n)
        break
    if framed.encoding == "utf-8":
        try:
            framed.data.decode("utf-8")
        except UnicodeDecodeError:
            split = split_bad_utf8(framed, known_utf8=known_utf8)
            framed = transcode(framed) if split is None else split
    table, extra = _parse_slow(framed, header)
    return table, sorted(framed.rejects + extra, key=lambda r: r.line), framed.encoding


def _pyarrow_split(framed: FramedBlock, n_cols: int) -> pa.Table:
    names = [f"c{i}" for i in range(n_cols)]  # header names may repeat after stripping
    return pacsv.read_csv(
        io.BytesIO(framed.data),
        # One thread: the ingest already keeps both cores busy, and pyarrow's pool costs a
        # third more CPU for the same block. One parse block for the whole framed block, so
        # each column is one array (validation may hand it on as it is).
        read_options=pacsv.ReadOptions(
            column_names=names,
            use_threads=False,
            block_size=min(max(16 << 20, len(framed.data) + 1), (1 << 31) - 1),
        ),
        parse_options=pacsv.ParseOptions(newlines_in_values=framed.has_quotes),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            check_utf8=True,
        ),
    )


def _parse_slow(framed: FramedBlock, header: list[str]) -> tuple[pa.Table, list[Reject]]:
    text = framed.data.decode("utf-8")
    records = _split_records(text)
    cols: list[list[str]] = [[] for _ in header]
    lines: list[int] = []
    rejects = []
    for line, rec in zip(framed.lines.tolist(), records, strict=True):
        try:
            row = next(csv.reader([rec], strict=True))
        except csv.Error as e:
            rejects.append(Reject(line, f"the record cannot be split into fields ({e})", rec))
            continue
        if len(row) != len(header):
            rejects.append(Reject(line, f"expected {len(header)} fields, found {len(row)}", rec))
            continue
        for c, v in zip(cols, row, strict=True):
            c.append(v)
        lines.append(line)
    arrays = [pa.array(c, pa.string()) for c in cols] + [pa.array(lines, pa.int64())]
    return pa.Table.from_arrays(arrays, names=[*header, LINE]), rejects


def _split_records(text: str) -> list[str]:
    """Records of framed text, split exactly as the framer found them."""
    raw = text.encode("utf-8")
    return [raw[s:e].decode("utf-8").rstrip("\r") for s, e in record_spans(raw)]


def _empty(header: list[str]) -> pa.Table:
    return pa.Table.from_arrays(
        [pa.array([], pa.string()) for _ in header] + [pa.array([], pa.int64())],
        names=[*header, LINE],
    )


# --- JSON Lines ------------------------------------------------------------------------------


def _json_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _jsonl_blocks(
    path: Path, gz: bool, mapping: Mapping, settings: Settings, stats: ReadStats
) -> Iterator[RawBlock]:
    """One JSON object per line. Keys are the source's column names; a key the source does not
    have quarantines the record; a file none of whose first records fit is refused."""
    known = list(mapping.columns)
    known_set = set(known)
    checked = False
    with open_binary(path, gz, settings, stats) as stream:
        # Framed like a CSV with one field: JSON text holds no raw newlines.
        for framed in frame_records(
            cast(BinaryIO, _NoQuotes(stream)),
            b"",
            n_fields=1,
            first_line=1,
            block_bytes=settings.block_bytes,
            max_record_bytes=settings.max_record_bytes,
        ):
            try:
                framed.data.decode("utf-8")
            except UnicodeDecodeError:
                framed = transcode(framed)
            stats.encodings.add(framed.encoding)
            cols: dict[str, list[str | None]] = {c: [] for c in known}
            lines: list[int] = []
            rejects = list(framed.rejects)
            for rejected in rejects:
                rejected.raw = _restore(rejected.raw.encode()).decode()
            texts = _restore(framed.data).decode("utf-8").split("\n")[: len(framed.lines)]
            good_keys: set[str] = set()
            for line, text in zip(framed.lines.tolist(), texts, strict=True):
                try:
                    obj = json.loads(text)
                except (json.JSONDecodeError, RecursionError) as e:
                    msg = e.msg if isinstance(e, json.JSONDecodeError) else "nested too deeply"
                    rejects.append(Reject(line, f"not valid JSON ({msg})", text[:65536]))
                    continue
                if not isinstance(obj, dict):
                    rejects.append(Reject(line, "a line must hold one JSON object", text[:65536]))
                    continue
                extra = [k for k in obj if k not in known_set]
                if extra:
                    shown = ", ".join(repr(k[:40]) for k in extra[:5])
                    rejects.append(Reject(line, f"unexpected keys: {shown}", text[:65536]))
                    continue
                good_keys.update(obj)
                for c in known:
                    cols[c].append(_json_text(obj.get(c)))
                lines.append(line)
            if not checked and (lines or rejects):
                checked = True
                if not lines:
                    raise InputRefused(
                        f"{path.name}: not a {mapping.source} file (no record in the first "
                        f"block has the source's keys: {', '.join(known[:8])} ...)"
                    )
            arrays = [pa.array(cols[c], pa.string()) for c in known]
            table = pa.Table.from_arrays(
                [*arrays, pa.array(lines, pa.int64())], names=[*known, LINE]
            )
            yield RawBlock(table, rejects)


class _NoQuotes(io.RawIOBase):
    """JSON quotes are not CSV quotes: hide them from the framer (replaced by a space)."""

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        return (
            self._inner.read(-1 if size is None else size)
            .replace(b'"', b"\x01")
            .replace(b",", b"\x02")
        )


def _restore(data: bytes) -> bytes:
    return data.replace(b"\x01", b'"').replace(b"\x02", b",")


# --- Parquet ---------------------------------------------------------------------------------


def _to_text(col: pa.ChunkedArray | pa.Array) -> pa.Array | pa.ChunkedArray:
    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return col.cast(pa.string())
    if pa.types.is_timestamp(t):
        fmt = "%Y-%m-%dT%H:%M:%S%z" if t.tz else "%Y-%m-%dT%H:%M:%S"
        return pc.strftime(col, format=fmt)
    if pa.types.is_date(t):
        return pc.strftime(col, format="%Y-%m-%d")
    if pa.types.is_boolean(t):
        return pc.if_else(col, "true", "false")
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return col.cast(pa.string())
    return pa.array([_json_text(v) for v in col.to_pylist()], pa.string())


def _parquet_blocks(path: Path, mapping: Mapping, settings: Settings) -> Iterator[RawBlock]:
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise InputRefused(f"{path.name}: not a readable Parquet file ({e})") from e
    names = pf.schema_arrow.names
    if len(names) > settings.max_columns:
        raise InputRefused(
            f"{path.name}: {len(names):,} columns, more than the limit of {settings.max_columns:,}"
        )
    mapping.check_header(list(names), path.name)
    row = 1
    try:
        for batch in pf.iter_batches(batch_size=262_144):
            n = batch.num_rows
            arrays = [_to_text(batch.column(i)) for i in range(batch.num_columns)]
            lines = pa.array(np.arange(row, row + n, dtype=np.int64))
            yield RawBlock(pa.Table.from_arrays([*arrays, lines], names=[*names, LINE]))
            row += n
    except (pa.ArrowInvalid, OSError) as e:
        raise InputRefused(f"{path.name}: unreadable after row {row - 1:,} ({e})") from e


__all__ = ["LINE", "RawBlock", "ReadStats", "detect_format", "open_binary", "read_blocks"]
