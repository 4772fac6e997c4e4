"""Fix a mapping, retry the quarantined rows: they keep their file and line, and the invariant
holds across both batches."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from helpers.police_csv import csv_text, row
from peel.ingest import entries, ingest_file, retry, summary
from peel.lake import Lake
from peel.sources import get_mapping


def test_retry_after_fixing_the_mapping(lake: Lake, tmp_path: Path) -> None:
    original = get_mapping("police-uk")
    # A force exports months as "01/2023": the shipped mapping rejects them.
    rows = [row(1), row(2, month="01/2023"), row(3, month="02/2023"), row(4, type="Nonsense")]
    path = tmp_path / "mixed.csv"
    path.write_text(csv_text(rows), encoding="utf-8")
    first = ingest_file(lake, path, original)
    assert (first.rows_read, first.rows_stored, first.rows_quarantined) == (4, 1, 3)
    open_rows = entries(lake)
    assert [(r["line"], r["field"]) for r in open_rows] == [
        (3, "committed_from"),
        (4, "committed_from"),
        (5, "crime_type"),
    ]
    assert all(r["file"] == "mixed.csv" for r in open_rows)

    # The analyst fixes the mapping: months may also be written MM/YYYY.
    fixed_rules = tuple(
        replace(r, formats=("%Y-%m", "%m/%Y"))
        if r.field in ("committed_from", "committed_to")
        else r
        for r in original.rules
    )
    fixed = replace(original, rules=fixed_rules)
    reports = retry(lake, mapping=fixed)
    assert len(reports) == 1
    second = reports[0]
    assert (second.rows_read, second.rows_stored, second.rows_quarantined) == (3, 2, 1)
    # invariant across both batches: everything read once is stored or still quarantined
    assert first.rows_read == first.rows_stored + second.rows_stored + second.rows_quarantined

    still_open = entries(lake)
    assert [(r["line"], r["field"], r["file"]) for r in still_open] == [
        (5, "crime_type", "mixed.csv")
    ]
    engine = lake.engine()
    try:
        engine.create_views()
        stored = engine.con.execute("SELECT _line, _file FROM crime ORDER BY _line").fetchall()
    finally:
        engine.close()
    assert stored == [(2, "mixed.csv"), (3, "mixed.csv"), (4, "mixed.csv")]
    groups = summary(lake)
    assert sum(g["rows"] for g in groups) == 1

    # A second retry with nothing fixed re-quarantines the row, and the old entry closes.
    again = retry(lake, mapping=fixed)
    assert (again[0].rows_read, again[0].rows_quarantined) == (1, 1)
    assert len(entries(lake)) == 1


def test_rerun_of_a_file_does_not_duplicate_quarantine(lake: Lake, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(csv_text([row(1), row(2, type="Nonsense")]), encoding="utf-8")
    a = ingest_file(lake, path, get_mapping("police-uk"))
    b = ingest_file(lake, path, get_mapping("police-uk"))
    assert (a.rows_stored, a.rows_quarantined) == (1, 1)
    assert (b.rows_stored, b.rows_duplicate, b.rows_quarantined) == (0, 1, 1)
    assert len(entries(lake)) == 1
