"""Every source mapping loads, its example file fits it row by row, the examples tell one
consistent synthetic story, docs/sources.md is what the mappings render, and a malformed
mapping fails naming the file and field."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import cast

import pytest
import yaml

from peel.errors import MappingError
from peel.schema import get_registry, normalise_code_text
from peel.sources import Mapping, all_mappings, example_path, load_mapping_file
from peel.sources.catalog import render_sources_md

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {
    "police-uk",
    "police-uk-outcomes",
    "police-uk-stop-search",
    "cris",
    "cris-person",
    "pnc-person",
    "pnc-vehicle",
    "pnc-marker",
    "pnc-keeper",
    "pnc-conviction",
    "anpr-camera",
    "anpr-read",
    "custody",
    "warrant",
    "intel",
    "person-address",
    "associate",
    "voi",
    "hr-officer",
    "hr-team",
    "cris-outcome",
}
NO_KEY = {"police-uk-stop-search"}  # police.uk publishes no reference for a search
BOOLEANS = {"true", "false"}


def read_example(mapping: Mapping) -> tuple[list[str], list[dict[str, str]]]:
    path = example_path(mapping)
    assert path is not None and path.is_file(), mapping.source
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        header = list(rows[0])
        for row in rows:
            assert list(row) == header, f"{path.name}: keys differ between lines"
            assert all(isinstance(v, str) for v in row.values()), path.name
        return header, rows
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        # Names and values are trimmed, as the ingest does (FEBRL writes ", " between fields).
        header = [c.strip() for c in next(reader)]
        rows = []
        for line in reader:
            assert len(line) == len(header), f"{path.name}: ragged row"
            rows.append(dict(zip(header, [v.strip() for v in line], strict=True)))
    return header, rows


def problems(mapping: Mapping, row: dict[str, str]) -> Iterator[str]:
    """What the ingest would quarantine in this row, checked here in plain Python."""
    registry = get_registry()
    for rule in mapping.rules:
        if rule.type == "location":
            pair = [row[c] for c in rule.columns]
            if any(v not in mapping.nulls for v in pair):
                try:
                    [float(v) for v in pair]
                except ValueError:
                    yield f"{rule.field}: not a number"
            continue
        raw = rule.value if rule.value is not None else row[rule.column or ""]
        if raw in mapping.nulls:
            if rule.required:
                yield f"{rule.field}: required but empty"
            continue
        if rule.pattern and not re.fullmatch(rule.pattern, raw):
            yield f"{rule.field}: does not match pattern"
        if rule.type in ("date", "datetime"):
            if not any(_parses(raw, fmt) for fmt in rule.formats):
                yield f"{rule.field}: no format parses"
        elif rule.type == "integer" and not re.fullmatch(r"-?[0-9]+", raw):
            yield f"{rule.field}: not an integer"
        elif rule.type == "float" and not re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", raw):
            yield f"{rule.field}: not a number"
        elif rule.type == "boolean" and raw.lower() not in BOOLEANS:
            yield f"{rule.field}: not a boolean"
        elif rule.type in ("code", "code_list"):
            assert rule.codes is not None
            known = dict(registry.codes(rule.codes).lookup_table())
            values = raw.split(rule.separator) if rule.type == "code_list" else [raw]
            if any(normalise_code_text(v) not in known for v in values):
                yield f"{rule.field}: not in code list {rule.codes}"


def _parses(raw: str, fmt: str) -> bool:
    try:
        datetime.strptime(raw, fmt)
    except ValueError:
        return False
    return True


def test_every_source_has_a_mapping() -> None:
    mappings = all_mappings()
    assert set(mappings) >= SOURCES
    for name, m in mappings.items():
        assert m.source == name
        assert m.description.strip()
        assert m.example, name
        assert bool(m.record_key) == (name not in NO_KEY), name


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_example_header_is_the_mapping_columns(source: str) -> None:
    mapping = all_mappings()[source]
    header, rows = read_example(mapping)
    assert header == list(mapping.columns)
    assert 6 <= len(rows) <= 15


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_every_example_row_is_valid(source: str) -> None:
    mapping = all_mappings()[source]
    _, rows = read_example(mapping)
    bad = {i: list(problems(mapping, row)) for i, row in enumerate(rows, start=2)}
    assert {line: p for line, p in bad.items() if p} == {}


def test_the_checker_can_fail() -> None:
    """The row check above is not vacuous: a wrong code, date and pattern are each caught."""
    mapping = all_mappings()["cris"]
    _, rows = read_example(mapping)
    row = dict(rows[0])
    row.update({"Premises": "moon base", "Committed From": "2024-03-09", "CRIS Number": "12"})
    found = " ".join(problems(mapping, row))
    for field in ("premises_type", "committed_from", "crime_ref"):
        assert field in found


def _column(source: str, field: str) -> set[str]:
    mapping = all_mappings()[source]
    rule = mapping.rule(field)
    _, rows = read_example(mapping)
    return {r[rule.column or ""] for r in rows} - {""}


def test_examples_tell_one_consistent_story() -> None:
    pnc_people = _column("pnc-person", "person_ref")
    crimes = _column("cris", "crime_ref")
    vehicles = _column("pnc-vehicle", "vrm")
    assert _column("pnc-keeper", "pnc_id") <= pnc_people
    assert _column("cris-outcome", "crime_ref") <= crimes
    assert _column("pnc-keeper", "vrm") <= vehicles
    assert _column("pnc-marker", "person_ref") <= pnc_people
    assert _column("pnc-conviction", "person_ref") <= pnc_people
    assert _column("warrant", "person_ref") <= pnc_people
    assert _column("cris-person", "crime_ref") <= crimes
    assert _column("cris-person", "pnc_id") <= pnc_people
    assert _column("custody", "crime_ref") <= crimes
    assert _column("anpr-read", "camera_id") <= _column("anpr-camera", "camera_id")
    assert _column("voi", "vrm") <= vehicles
    officers = _column("hr-officer", "officer_ref")
    teams = _column("hr-team", "team_ref")
    assert _column("cris", "officer_ref") <= officers
    assert _column("cris", "team_ref") <= teams
    assert _column("hr-officer", "team_ref") <= teams
    assert _column("associate", "associate_ref") <= pnc_people
    # The suspect in the first burglary keeps a car that ANPR reads during the crime window.
    suspect = next(
        r
        for r in read_example(all_mappings()["cris-person"])[1]
        if r["Role"] == "Suspect" and r["PNC ID"]
    )
    kept = {
        r["VRM"]
        for r in read_example(all_mappings()["pnc-keeper"])[1]
        if r["PNC ID"] == suspect["PNC ID"] and not r["Keeper To"]
    }
    reads = read_example(all_mappings()["anpr-read"])[1]
    assert any(r["VRM"] in kept and r["Read Time (UTC)"].startswith("2024-03-09T0") for r in reads)


def test_examples_are_synthetic() -> None:
    """Phones only from Ofcom's drama ranges, NI numbers with the specimen prefix, positions
    in inner London."""
    phone = re.compile(r"^(07700 900[0-9]{3}|020 7946 0[0-9]{3})$")
    for source, mapping in sorted(all_mappings().items()):
        _, rows = read_example(mapping)
        for rule in mapping.rules:
            values = {r[c] for r in rows for c in rule.columns} - {""}
            if rule.field == "phone":
                assert all(phone.match(v) for v in values), source
            if rule.field == "ni_number":
                assert all(v.startswith("QQ") for v in values), source
            if rule.type == "location" and rule.lon and rule.lat:
                for r in rows:
                    if r[rule.lon]:
                        assert abs(float(r[rule.lon]) + 0.12) <= 0.03, source
                        assert abs(float(r[rule.lat]) - 51.48) <= 0.02, source


def test_docs_sources_md_is_current() -> None:
    """docs/sources.md is generated; regenerate with `python -m peel.sources.catalog`."""
    rendered = render_sources_md()
    assert rendered == render_sources_md()
    assert (ROOT / "docs" / "sources.md").read_text(encoding="utf-8") == rendered
    for source in SOURCES:
        assert f"\n## {source}\n" in rendered


# -- malformed mappings fail with the file and the field named -----------------------------

_BASE: dict[str, object] = {
    "source": "bad",
    "description": "A broken mapping.",
    "entity": "AnprRead",
    "columns": ["id", "plate", "cam", "at"],
    "record_key": ["read_id"],
    "fields": {
        "read_id": "id",
        "vrm": "plate",
        "camera_id": "cam",
        "read_at": {"column": "at", "timezone": "UTC"},
    },
}


def _with(field: str, rule: object) -> dict[str, object]:
    fields = dict(cast(dict[str, object], _BASE["fields"]))
    fields[field] = rule
    return {**_BASE, "fields": fields}


BAD_MAPPINGS = [
    pytest.param(_with("speed", "at"), ["bad.yaml", "speed", "no field"], id="unknown-field"),
    pytest.param(_with("lane", "lane_no"), ["bad.yaml", "lane", "lane_no"], id="unknown-column"),
    pytest.param(
        _with("read_at", {"column": "at", "timezone": "Mars"}),
        ["bad.yaml", "read_at", "timezone"],
        id="bad-timezone",
    ),
    pytest.param(
        _with("read_at", {"column": "at", "formats": ["yyyy-mm-dd"]}),
        ["bad.yaml", "read_at", "strptime"],
        id="format-without-percent",
    ),
    pytest.param(
        _with("vrm", {"column": "plate", "pattern": "[A-Z"}),
        ["bad.yaml", "vrm", "regular expression"],
        id="bad-pattern",
    ),
    pytest.param(
        _with("vrm", {"column": "plate", "extract": "[A-Z]+"}),
        ["bad.yaml", "vrm", "group"],
        id="extract-without-group",
    ),
    pytest.param(
        _with("vrm", {"column": "plate", "value": "AB12 CDE"}),
        ["bad.yaml", "vrm", "exactly one"],
        id="column-and-value",
    ),
    pytest.param(
        _with("vrm", {"column": "plate", "end_of": "day"}),
        ["bad.yaml", "vrm", "datetime"],
        id="end-of-on-string",
    ),
    pytest.param(
        _with("vrm", {"column": "plate", "colour": "red"}),
        ["bad.yaml", "vrm", "colour"],
        id="unknown-rule-key",
    ),
    pytest.param(
        _with("vrm", {"lon": "plate", "lat": "cam"}),
        ["bad.yaml", "vrm", "column"],
        id="lon-lat-on-string",
    ),
    pytest.param(
        {**_BASE, "fields": {"read_id": "id", "vrm": "plate", "camera_id": "cam"}},
        ["bad.yaml", "read_at", "required"],
        id="required-field-unmapped",
    ),
    pytest.param(
        {**_BASE, "record_key": ["lane"]},
        ["bad.yaml", "lane", "record_key"],
        id="record-key-unmapped",
    ),
    pytest.param({**_BASE, "entity": "Spaceship"}, ["bad.yaml", "Spaceship"], id="unknown-entity"),
    pytest.param({**_BASE, "source": "other"}, ["bad.yaml", "other"], id="source-not-file-name"),
]


@pytest.mark.parametrize(("doc", "expected"), BAD_MAPPINGS)
def test_malformed_mapping_fails_naming_file_and_field(
    tmp_path: Path, doc: dict[str, object], expected: list[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(MappingError) as info:
        load_mapping_file(path)
    for text in expected:
        assert text in str(info.value)


def test_well_formed_mapping_loads(tmp_path: Path) -> None:
    """The base the malformed cases start from is valid, so each case tests one fault."""
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_BASE), encoding="utf-8")
    mapping = load_mapping_file(path)
    assert mapping.rule("read_at").timezone == "UTC"


# -- the police.uk mappings against the real published files -------------------------------


def _distinct(path: Path, column: str) -> set[str]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return {row[column] for row in csv.DictReader(fh)}


@pytest.mark.realdata
def test_real_stop_and_search_values_all_map(shared_data: Path) -> None:
    mapping = all_mappings()["police-uk-stop-search"]
    files = sorted((shared_data / "police_uk" / "met_stop_and_search").glob("*.csv"))
    assert files
    for path in files:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            assert next(csv.reader(fh)) == list(mapping.columns)
        for row in _rows(path):
            assert list(problems(mapping, row)) == [], path.name


@pytest.mark.realdata
def test_real_street_crime_values_all_map(shared_data: Path) -> None:
    mapping = all_mappings()["police-uk"]
    files = sorted((shared_data / "police_uk").glob("*/*-street.csv"))
    assert files
    for path in files:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            assert next(csv.reader(fh)) == list(mapping.columns)
        for row in _rows(path):
            assert list(problems(mapping, row)) == [], path.name


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        yield from csv.DictReader(fh)
