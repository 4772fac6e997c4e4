"""Row identity (issue 2): what a `row_id` is, byte for byte, and how the ingest that writes the
lake's files while it validates still gives repeated content its ordinal ids and drops exactly
the rows already stored, across blocks, partitions and reruns."""

from __future__ import annotations

import csv
import hashlib
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from peel.ingest import ingest_file
from peel.ingest.dedupe import StoredIds, id_words
from peel.lake import Lake
from peel.sources import get_mapping

HEADER = ["Read ID", "VRM", "Camera ID", "Read Time (UTC)", "Confidence", "Image Ref", "Lane"]


def _read(i: int, day: int = 9) -> list[str]:
    minute = (i * 37) % 1440
    ts = f"2024-03-{day:02d}T{minute // 60:02d}:{minute % 60:02d}:00Z"
    return [f"RD-{i:06d}", f"AB{i % 90 + 10:02d} CDE", "CAM-1", ts, "0.9", f"img/{i}.jpg", "1"]


def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(HEADER)
        w.writerows(rows)
    return path


def _identity(source: str, values: list[str]) -> uuid.UUID:
    """The documented identity: MD5 of the source and the raw values joined by U+001F."""
    text = "\x1f".join([source, *values])
    return uuid.UUID(bytes=hashlib.md5(text.encode("utf-8")).digest())


def _stored(lake: Lake, file: str) -> dict[int, uuid.UUID]:
    """Line -> row id of the stored rows that came from `file`."""
    engine = lake.engine()
    try:
        rows = engine.query(
            f"SELECT _line, row_id FROM {engine.table_sql('anpr_read')} WHERE _file = $f",
            {"f": file},
        )
    finally:
        engine.close()
    return {
        line: uuid.UUID(bytes=rid) if isinstance(rid, bytes) else uuid.UUID(str(rid))
        for line, rid in zip(rows["_line"].to_pylist(), rows["row_id"].to_pylist(), strict=True)
    }


def test_row_id_is_the_md5_of_source_and_raw_values(lake: Lake, tmp_path: Path) -> None:
    rows = [_read(i) for i in range(3)]
    ingest_file(lake, _write(tmp_path / "a.csv", rows), get_mapping("anpr-read"))
    stored = _stored(lake, "a.csv")
    assert stored == {i + 2: _identity("anpr-read", r) for i, r in enumerate(rows)}


def test_repeats_across_blocks_get_ordinal_ids_and_reruns_store_nothing(
    lake: Lake, tmp_path: Path
) -> None:
    """The test lake reads 64 KiB blocks: 3,000 rows span several blocks and two days. Row 5
    appears once in the first file and three times in the second, in different blocks; row 100
    appears twice in the second only."""
    mapping = get_mapping("anpr-read")
    ingest_file(lake, _write(tmp_path / "first.csv", [_read(5, day=10)]), mapping)
    rows = [_read(i, day=9 + i % 2) for i in range(3000)]
    rows[1500] = rows[5]
    rows[2900] = rows[5]
    rows[2000] = rows[100]  # repeated content that is new: its file is written again
    second = _write(tmp_path / "second.csv", rows)
    report = ingest_file(lake, second, mapping)
    # The first copy of row 5 is stored already; its second and third copies are new rows.
    assert (report.rows_read, report.rows_duplicate, report.rows_stored) == (3000, 1, 2999)
    base = _identity("anpr-read", rows[5])
    assert _stored(lake, "first.csv") == {2: base}
    ids = _stored(lake, "second.csv")
    assert 5 + 2 not in ids  # its first copy: the row already stored from the first file
    assert ids[1500 + 2] == uuid.UUID(hashlib.md5(f"{base}#2".encode()).hexdigest())
    assert ids[2900 + 2] == uuid.UUID(hashlib.md5(f"{base}#3".encode()).hexdigest())
    first_100 = _identity("anpr-read", rows[100])
    assert ids[100 + 2] == first_100
    assert ids[2000 + 2] == uuid.UUID(hashlib.md5(f"{first_100}#2".encode()).hexdigest())
    assert len(ids) == 2999 and len(set(ids.values())) == 2999
    again = ingest_file(lake, second, mapping)
    assert (again.rows_stored, again.rows_duplicate) == (0, 3000)


def test_stored_ids_are_exact_when_first_halves_collide(tmp_path: Path) -> None:
    """Ids are looked up by their first 64 bits; ids sharing those must still be told apart."""
    words = np.array([[7, 1], [7, 2], [7, 3], [9, 1], [3, 3]], dtype=np.uint64)
    path = tmp_path / "ids.parquet"
    storage = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(16), len(words), [None, pa.py_buffer(words.tobytes())]
    )
    pq.write_table(pa.table({"row_id": pa.ExtensionArray.from_storage(pa.uuid(), storage)}), path)
    stored = StoredIds({"d": [path]}, {"d": len(words)}, budget=100)
    query = np.array([[7, 3], [7, 4], [9, 1], [9, 2], [3, 3], [1, 1]], dtype=np.uint64)
    assert stored.contains("d", query).tolist() == [True, False, True, False, True, False]
    assert not stored.contains("other day", query).any()
    # A partition larger than the budget is checked file by file, with the same answer.
    small = StoredIds({"d": [path]}, {"d": len(words)}, budget=1)
    assert small.contains("d", query).tolist() == [True, False, True, False, True, False]
    assert id_words(storage).tolist() == words.tolist()
