"""Lake layout: day partitions sorted by time, current view, recovery, dataset rules."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from helpers.police_csv import csv_text, row
from peel.errors import InputRefused
from peel.ingest import ingest_file
from peel.lake import Lake
from peel.sources import example_path, get_mapping


def _anpr_file(path: Path, n: int) -> Path:
    header = list(get_mapping("anpr-read").columns)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        for i in range(n):
            # written out of time order, across three days
            day = 9 + (i * 7) % 3
            minute = (i * 37) % 1440
            ts = f"2024-03-{day:02d}T{minute // 60:02d}:{minute % 60:02d}:00Z"
            w.writerow(
                [f"RD-{i:06d}", f"AB{i % 90 + 10:02d} CDE", "CAM-1", ts, "0.9", f"img/{i}.jpg", "1"]
            )
    return path


def test_anpr_reads_are_partitioned_by_day_and_sorted(lake: Lake, tmp_path: Path) -> None:
    report = ingest_file(lake, _anpr_file(tmp_path / "reads.csv", 500), get_mapping("anpr-read"))
    assert report.rows_stored == 500
    (manifest,) = lake.catalog.manifests()
    files = manifest.tables["anpr_read"]
    assert sorted(f.partition for f in files) == ["2024-03-09", "2024-03-10", "2024-03-11"]
    for f in files:
        path = lake.settings.data_dir / f.path
        assert path.parent.name == f"day={f.partition}"
        times = pq.read_table(path, columns=["read_at"])["read_at"].to_pylist()
        assert times == sorted(times)
        assert {t.strftime("%Y-%m-%d") for t in times} == {f.partition}


def test_current_view_keeps_latest_version(lake: Lake, tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text(csv_text([row(1, outcome="Under investigation"), row(2)]), encoding="utf-8")
    b.write_text(csv_text([row(1, outcome="Awaiting court outcome")]), encoding="utf-8")
    ingest_file(lake, a, get_mapping("police-uk"))
    ingest_file(lake, b, get_mapping("police-uk"))
    engine = lake.engine()
    try:
        engine.create_views()
        history = engine.con.execute("SELECT count(*) FROM crime").fetchone()
        current = engine.con.execute(
            "SELECT last_outcome FROM crime_current WHERE crime_ref = $r", {"r": row(1)[0]}
        ).fetchall()
    finally:
        engine.close()
    assert history == (3,)
    assert current == [("awaiting-court-outcome",)]


def test_recovery_removes_unlisted_files(lake: Lake, tmp_path: Path) -> None:
    p = tmp_path / "a.csv"
    p.write_text(csv_text([row(1)]), encoding="utf-8")
    ingest_file(lake, p, get_mapping("police-uk"))
    stray = lake.settings.data_dir / "lake" / "crime" / "crashed-batch-00001.parquet"
    stray.write_bytes(b"PAR1 partial")
    pending = lake.settings.data_dir / "lake" / "_catalog" / ".pending-crashed.json"
    pending.write_text("{}", encoding="utf-8")
    engine = lake.engine()
    try:  # readers never see the stray file
        assert str(stray) not in engine.table_sql("crime")
    finally:
        engine.close()
    assert lake.recover() == 2
    assert not stray.exists() and not pending.exists()
    assert len(list((lake.settings.data_dir / "lake" / "crime").glob("*.parquet"))) == 1


def test_synthetic_and_real_never_share_a_dataset(lake: Lake) -> None:
    mapping = get_mapping("police-uk")
    example = example_path(mapping)
    assert example is not None
    ingest_file(lake, example, mapping, dataset="mixed", synthetic=True)
    with pytest.raises(InputRefused, match="never mixed"):
        ingest_file(lake, example, mapping, dataset="mixed", synthetic=False)
    assert all(m.synthetic for m in lake.catalog.manifests())
