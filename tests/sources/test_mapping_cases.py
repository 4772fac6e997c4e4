"""Runs the table of mapping cases in mapping_cases.yaml through the real ingest."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from peel.ingest import entries, ingest_file
from peel.lake import Lake
from peel.sources import example_path, get_mapping

CASES = yaml.safe_load((Path(__file__).parent / "mapping_cases.yaml").read_text(encoding="utf-8"))


def _one_row_file(source: str, overrides: dict[str, str], folder: Path) -> Path:
    mapping = get_mapping(source)
    ex = example_path(mapping)
    assert ex is not None
    unknown = set(overrides) - set(mapping.columns)
    assert not unknown, f"case names columns {unknown} that {source} does not have"
    if ex.suffix == ".jsonl":
        first = json.loads(ex.read_text(encoding="utf-8").splitlines()[0])
        first.update(overrides)
        out = folder / f"{source}.jsonl"
        out.write_text(json.dumps(first) + "\n", encoding="utf-8")
        return out
    with ex.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    header, first = rows[0], rows[1]
    for col, value in overrides.items():
        first[header.index(col)] = value
    out = folder / f"{source}.csv"
    with out.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows([header, first])
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_mapping_case(case: dict[str, Any], lake: Lake, tmp_path: Path) -> None:
    path = _one_row_file(case["source"], case.get("set", {}), tmp_path)
    report = ingest_file(lake, path, get_mapping(case["source"]))
    assert report.rows_read == 1
    if "quarantine" in case:
        assert report.rows_quarantined == 1, f"stored, expected a quarantine: {case['name']}"
        (entry,) = entries(lake)
        assert entry["field"] == case["quarantine"]["field"]
        assert case["quarantine"]["reason"] in entry["reason"]
        assert entry["line"] == (1 if path.suffix == ".jsonl" else 2)  # CSV line 1 is the header
        return
    assert report.rows_stored == 1, report.quarantine_reasons
    table = get_mapping(case["source"]).entity.table
    engine = lake.engine()
    try:
        engine.create_views()
        cols = ", ".join(f'"{c}"' for c in case["expect"])
        got = engine.con.execute(f'SELECT {cols} FROM "{table}"').fetchone()
    finally:
        engine.close()
    assert got is not None
    for (name, want), value in zip(case["expect"].items(), got, strict=True):
        value = _plain(value)
        if isinstance(want, float):
            assert value == pytest.approx(want, abs=1e-3), name
        else:
            assert value == want, name
