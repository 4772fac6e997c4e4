"""The command line contract: --json prints exactly one JSON document, exit codes 0/1/2."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from helpers.police_csv import csv_text, row
from peel.cli.main import app

runner = CliRunner()


def invoke(args: list[str]) -> tuple[int, str, str]:
    result = runner.invoke(app, args)
    return result.exit_code, result.stdout, result.stderr


def test_ingest_json_has_totals_and_batches(data_dir: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text(csv_text([row(1), row(2)]), encoding="utf-8")
    b.write_text(csv_text([row(3), row(4, type="Nonsense")]), encoding="utf-8")
    code, out, _ = invoke(["ingest", "police-uk", str(a), str(b), "--json"])
    assert code == 0
    doc = json.loads(out)
    assert (
        doc["rows_read"],
        doc["rows_stored"],
        doc["rows_quarantined"],
        doc["rows_duplicate"],
    ) == (
        4,
        3,
        1,
        0,
    )
    assert [x["file"] for x in doc["batches"]] == ["a.csv", "b.csv"]
    code, out, _ = invoke(["ingest", "police-uk", str(a), "--json", "--dataset", "police-uk"])
    assert json.loads(out)["rows_duplicate"] == 2


def test_refused_file_exits_2_and_keeps_other_files(data_dir: Path, tmp_path: Path) -> None:
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(csv_text([row(1)]), encoding="utf-8")
    bad.write_text("x,y\n1,2\n", encoding="utf-8")
    code, out, err = invoke(["ingest", "police-uk", str(good), str(bad), "--json"])
    assert code == 2
    doc = json.loads(out)
    assert doc["rows_stored"] == 1 and doc["files_refused"] == 1
    assert "missing columns" in err


def test_unknown_source_is_a_usage_error(data_dir: Path, tmp_path: Path) -> None:
    p = tmp_path / "a.csv"
    p.write_text("a\n", encoding="utf-8")
    code, out, err = invoke(["ingest", "no-such-source", str(p)])
    assert code == 2
    assert "unknown source 'no-such-source'" in err and "police-uk" in err
    assert out == ""


def test_lake_info_and_quarantine_json(data_dir: Path, tmp_path: Path) -> None:
    p = tmp_path / "a.csv"
    p.write_text(csv_text([row(1), row(2, type="Nonsense")]), encoding="utf-8")
    invoke(["ingest", "police-uk", str(p), "--quiet"])
    code, out, _ = invoke(["lake", "info", "--json"])
    assert code == 0
    info = json.loads(out)
    assert info["tables"]["crime"]["rows"] == 1
    assert info["quarantine"]["open"] == 1
    code, out, _ = invoke(["quarantine", "list", "--json"])
    groups = json.loads(out)["groups"]
    assert groups[0]["field"] == "crime_type" and groups[0]["rows"] == 1
    batch = groups[0]["batch"]
    code, out, _ = invoke(["quarantine", "show", batch, "--json"])
    shown = json.loads(out)["rows"][0]
    assert shown["line"] == 3 and "raw" not in shown
    code, out, _ = invoke(["quarantine", "show", batch, "--json", "--raw"])
    assert "Nonsense" in json.loads(out)["rows"][0]["raw"]


def test_help_everywhere() -> None:
    for args in (
        ["--help"],
        ["ingest", "--help"],
        ["lake", "info", "--help"],
        ["quarantine", "retry", "--help"],
    ):
        code, out, _ = invoke(args)
        assert code == 0 and "Usage" in out
