"""The real police.uk files: every row stored once, nothing stored twice, lines exact."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from peel.ingest import ingest_files
from peel.lake import Lake
from peel.lake.info import lake_info
from peel.sources import get_mapping

pytestmark = pytest.mark.realdata
LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def street_files(shared_data: Path) -> list[Path]:
    files = sorted((shared_data / "police_uk" / "city_of_london_2022-07_2023-06").glob("*.csv"))
    assert len(files) == 12
    return files


def test_twelve_months_store_every_row_once(lake: Lake, street_files: list[Path]) -> None:
    first = ingest_files(lake, street_files, get_mapping("police-uk"))
    assert first["rows_read"] == 9019
    assert first["rows_stored"] == 9019
    assert first["rows_quarantined"] == 0
    assert first["rows_duplicate"] == 0
    second = ingest_files(lake, street_files, get_mapping("police-uk"))
    assert second["rows_read"] == 9019
    assert second["rows_stored"] == 0
    assert second["rows_duplicate"] == 9019
    info = lake_info(lake)
    assert info["tables"]["crime"]["rows"] == 9019
    # Crime IDs that appear on two rows are versions of one record, all kept.
    assert info["tables"]["crime"]["key_conflicts"] > 100


def test_rows_keep_exact_provenance(lake: Lake, street_files: list[Path]) -> None:
    path = street_files[0]
    ingest_files(lake, [path], get_mapping("police-uk"))
    with path.open(encoding="utf-8-sig", newline="") as fh:
        source_rows = list(csv.reader(fh))[1:]
    engine = lake.engine()
    try:
        engine.create_views()
        got = engine.con.execute(
            "SELECT _line, crime_ref, crime_type, location_lon, location_x, location_y, "
            "committed_from, committed_to, row_id, _file FROM crime ORDER BY _line"
        ).fetchall()
        asb_kept = engine.con.execute(
            "SELECT count(*) FROM crime WHERE crime_ref IS NULL AND crime_type = "
            "'anti-social-behaviour'"
        ).fetchone()
        unknown_location = engine.con.execute(
            "SELECT count(*) FROM crime WHERE location_lon IS NULL"
        ).fetchone()
    finally:
        engine.close()
    assert len(got) == len(source_rows)
    assert len({r[8] for r in got}) == len(got)  # row_id unique
    for line, ref, _ctype, lon, x, y, c_from, c_to, _rid, file in got:
        src = source_rows[line - 2]  # line 1 is the header; no quoted newlines in these files
        assert (ref or "") == src[0]
        assert file == path.name
        if src[4]:
            assert lon == pytest.approx(float(src[4]))
            # British National Grid: the City of London is near E 532,000 N 181,000
            assert 520_000 < x < 545_000 and 170_000 < y < 190_000
        # Months are local (Europe/London): July starts at 23:00 UTC on 30 June.
        local_from, local_to = c_from.astimezone(LONDON), c_to.astimezone(LONDON)
        assert (local_from.year, local_from.month) == tuple(map(int, src[1].split("-")))
        assert (local_from.day, local_from.hour) == (1, 0)
        assert local_to.month == local_from.month and (local_to + timedelta(seconds=1)).day == 1
    assert asb_kept is not None and asb_kept[0] > 0
    assert unknown_location is not None and unknown_location[0] > 0


def test_met_stop_and_search_month(lake: Lake, shared_data: Path) -> None:
    """The real Met stop-and-search file: every row stored, 871 with an unknown location."""
    (path,) = sorted((shared_data / "police_uk" / "met_stop_and_search").glob("*.csv"))
    result = ingest_files(lake, [path], get_mapping("police-uk-stop-search"))
    assert (result["rows_read"], result["rows_stored"], result["rows_quarantined"]) == (
        10_490,
        10_490,
        0,
    )
    engine = lake.engine()
    try:
        engine.create_views()
        no_location = engine.con.execute(
            "SELECT count(*) FROM stop_search WHERE location_lon IS NULL"
        ).fetchone()
        ethnicity = engine.con.execute(
            "SELECT count(*) FROM stop_search WHERE self_defined_ethnicity IS NOT NULL"
        ).fetchone()
    finally:
        engine.close()
    assert no_location == (871,)
    assert ethnicity == (10_490 - 104,)  # 104 rows leave it empty
