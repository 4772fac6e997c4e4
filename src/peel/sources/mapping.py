"""Source mappings as data: one YAML file per source system, from its columns to the schema.

A mapping names the entity type it fills, the columns its files carry, the record key, and for
each schema field the column(s) it comes from and how to parse them. A mapping that names an
unknown field, code list or column fails when it is loaded, before any row is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from peel.errors import InputRefused, MappingError
from peel.schema import EntitySpec, Registry, get_registry

_RULE_KEYS = {
    "column",  # source column (all types but location)
    "lon",  # location from WGS84 longitude/latitude columns
    "lat",
    "x",  # location from projected coordinates in `crs` (default: the settings CRS)
    "y",
    "crs",
    "formats",  # strptime formats for date and datetime (first that parses wins)
    "timezone",  # datetime: "local" (Europe/London by default), "UTC", or "offset" (in the text)
    "end_of",  # datetime from a coarser period: "day" or "month" -> last second of it
    "separator",  # code_list: between codes (default ";")
    "pattern",  # a regular expression the whole raw text must match
    "value",  # a constant for every row
    "extract",  # a regular expression with one group: the part of the text that is the value
    "join",  # several columns joined with single spaces (empty ones skipped) into one value
    "lenient",  # true: text that does not parse leaves the field empty instead of quarantining
}
_TIMEZONES = ("local", "UTC", "offset")
_DEFAULT_FORMATS = {
    "date": ["%Y-%m-%d"],
    "datetime": ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
}


@dataclass(frozen=True)
class FieldRule:
    field: str
    type: str
    column: str | None = None
    lon: str | None = None
    lat: str | None = None
    x: str | None = None
    y: str | None = None
    crs: str | None = None
    formats: tuple[str, ...] = ()
    timezone: str = "local"
    end_of: str | None = None
    separator: str = ";"
    pattern: str | None = None
    value: str | None = None
    extract: str | None = None
    join: tuple[str, ...] = ()
    lenient: bool = False
    codes: str | None = None
    required: bool = False

    @property
    def columns(self) -> list[str]:
        return [c for c in (self.column, self.lon, self.lat, self.x, self.y) if c] + list(self.join)


@dataclass(frozen=True)
class Mapping:
    source: str
    description: str
    entity: EntitySpec
    columns: tuple[str, ...]
    rules: tuple[FieldRule, ...]
    record_key: tuple[str, ...] = ()
    optional_columns: frozenset[str] = field(default_factory=frozenset)
    nulls: tuple[str, ...] = ("",)
    example: str | None = None

    @property
    def required_columns(self) -> list[str]:
        return [c for c in self.columns if c not in self.optional_columns]

    def rule(self, field_name: str) -> FieldRule:
        for r in self.rules:
            if r.field == field_name:
                return r
        raise KeyError(field_name)

    def check_header(self, header: list[str], where: str) -> None:
        """Refuse a file whose header is not this source's, naming missing and extra columns."""
        present = set(header)
        missing = [c for c in self.required_columns if c not in present]
        known = set(self.columns)
        unexpected = [c for c in header if c not in known]
        dupes = sorted({c for c in header if header.count(c) > 1})
        problems = []
        if missing:
            problems.append("missing columns: " + _short_list(missing))
        if unexpected:
            problems.append("unexpected columns: " + _short_list(unexpected))
        if dupes:
            problems.append("columns named twice: " + _short_list(dupes))
        if problems:
            raise InputRefused(f"{where}: not a {self.source} file ({'; '.join(problems)})")


def _short_list(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(repr(n[:60]) for n in names[:limit])
    if len(names) > limit:
        shown += f" and {len(names) - limit:,} more"
    return shown


def parse_mapping(data: Any, where: str, registry: Registry) -> Mapping:
    if not isinstance(data, dict):
        raise MappingError(f"{where}: top level must be a mapping")
    allowed = {
        "source",
        "description",
        "entity",
        "columns",
        "optional_columns",
        "record_key",
        "fields",
        "nulls",
        "example",
    }
    unknown = set(data) - allowed
    if unknown:
        raise MappingError(f"{where}: unknown keys {sorted(unknown)}")
    for name in ("source", "description", "entity", "columns", "fields"):
        if not data.get(name):
            raise MappingError(f"{where}: missing '{name}'")
    try:
        entity = registry.entity(str(data["entity"]))
    except Exception as e:
        raise MappingError(f"{where}: {e}") from e
    columns = tuple(str(c) for c in data["columns"])
    if len(set(columns)) != len(columns):
        raise MappingError(f"{where}: a column is listed twice")
    optional = frozenset(str(c) for c in data.get("optional_columns", ()) or ())
    if not optional <= set(columns):
        raise MappingError(
            f"{where}: optional_columns not in columns: {sorted(optional - set(columns))}"
        )
    raw_fields = data["fields"]
    if not isinstance(raw_fields, dict):
        raise MappingError(f"{where}: 'fields' maps schema fields to rules")
    rules = []
    for fname, raw in raw_fields.items():
        fwhere = f"{where} field {fname}"
        if not entity.has_field(str(fname)):
            raise MappingError(f"{fwhere}: {entity.name} has no field {fname!r}")
        spec = entity.field(str(fname))
        if isinstance(raw, str):
            raw = {"column": raw}
        if not isinstance(raw, dict):
            raise MappingError(f"{fwhere}: a rule is a column name or a mapping")
        bad = set(raw) - _RULE_KEYS
        if bad:
            raise MappingError(f"{fwhere}: unknown rule keys {sorted(bad)}")
        rule = FieldRule(
            field=spec.name,
            type=spec.type,
            column=raw.get("column"),
            lon=raw.get("lon"),
            lat=raw.get("lat"),
            x=raw.get("x"),
            y=raw.get("y"),
            crs=raw.get("crs"),
            formats=tuple(
                str(f) for f in (raw.get("formats") or _DEFAULT_FORMATS.get(spec.type, []))
            ),
            timezone=str(raw.get("timezone", "local")),
            end_of=raw.get("end_of"),
            separator=str(raw.get("separator", ";")),
            pattern=raw.get("pattern"),
            value=None if raw.get("value") is None else str(raw.get("value")),
            extract=raw.get("extract"),
            join=tuple(str(c) for c in raw.get("join") or ()),
            lenient=bool(raw.get("lenient", False)),
            codes=spec.codes,
            required=spec.required,
        )
        _check_rule(rule, fwhere, set(columns))
        rules.append(rule)
    mapped = {r.field for r in rules}
    missing_required = [f.name for f in entity.fields if f.required and f.name not in mapped]
    if missing_required:
        raise MappingError(f"{where}: required fields not mapped: {missing_required}")
    raw_key = data.get("record_key") or []
    key: list[str] = [raw_key] if isinstance(raw_key, str) else [str(k) for k in raw_key]
    for k in key:
        if k not in mapped:
            raise MappingError(f"{where}: record_key field {k!r} is not mapped")
    nulls = tuple(str(n) for n in (data.get("nulls") or [""]))
    return Mapping(
        source=str(data["source"]),
        description=str(data["description"]),
        entity=entity,
        columns=columns,
        rules=tuple(rules),
        record_key=tuple(key),
        optional_columns=optional,
        nulls=nulls,
        example=data.get("example"),
    )


def _check_rule(rule: FieldRule, where: str, columns: set[str]) -> None:
    for c in rule.columns:
        if c not in columns:
            raise MappingError(f"{where}: column {c!r} is not in the mapping's columns")
    if rule.type == "location":
        if not ((rule.lon and rule.lat) or (rule.x and rule.y)):
            raise MappingError(f"{where}: a location takes lon+lat or x+y columns")
        if rule.column:
            raise MappingError(f"{where}: a location takes lon+lat or x+y, not column")
    elif sum(x is not None for x in (rule.column, rule.value, rule.join or None)) != 1:
        raise MappingError(f"{where}: give exactly one of 'column', 'join' or 'value'")
    elif any((rule.lon, rule.lat, rule.x, rule.y)):
        raise MappingError(f"{where}: lon/lat/x/y are for location fields")
    if rule.timezone not in _TIMEZONES:
        raise MappingError(f"{where}: timezone is one of {_TIMEZONES}")
    if rule.end_of not in (None, "day", "month"):
        raise MappingError(f"{where}: end_of is 'day' or 'month'")
    if (rule.end_of or rule.timezone != "local") and rule.type != "datetime":
        raise MappingError(f"{where}: timezone and end_of apply to datetime fields")
    for rx in (rule.pattern, rule.extract):
        if rx is not None:
            try:
                compiled = re.compile(rx)
            except re.error as e:
                raise MappingError(f"{where}: bad regular expression: {e}") from e
            if rx is rule.extract and compiled.groups != 1:
                raise MappingError(f"{where}: 'extract' needs exactly one group")
    for fmt in rule.formats:
        if "%" not in fmt:
            raise MappingError(f"{where}: {fmt!r} is not a strptime format")


def _mappings_dir() -> Path:
    with resources.as_file(resources.files("peel.sources")) as base:
        return Path(base) / "mappings"


def load_mapping_file(path: Path, registry: Registry | None = None) -> Mapping:
    registry = registry or get_registry()
    where = f"sources/mappings/{path.name}"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise MappingError(f"{where}: not valid YAML: {e}") from e
    m = parse_mapping(data, where, registry)
    if m.source != path.stem:
        raise MappingError(f"{where}: source {m.source!r} differs from the file name")
    return m


@lru_cache(maxsize=1)
def all_mappings() -> dict[str, Mapping]:
    """Every mapping shipped in `peel/sources/mappings/`, by source name."""
    return {p.stem: load_mapping_file(p) for p in sorted(_mappings_dir().glob("*.yaml"))}


def get_mapping(source: str) -> Mapping:
    mappings = all_mappings()
    if source not in mappings:
        raise MappingError(
            f"unknown source {source!r}; known sources: {', '.join(sorted(mappings))}"
        )
    return mappings[source]


def example_path(mapping: Mapping) -> Path | None:
    """The example file shipped with a mapping (used by the demo and docs/sources.md)."""
    if not mapping.example:
        return None
    with resources.as_file(resources.files("peel.sources")) as base:
        return Path(base) / "examples" / mapping.example


__all__ = [
    "FieldRule",
    "Mapping",
    "all_mappings",
    "example_path",
    "get_mapping",
    "load_mapping_file",
    "parse_mapping",
]
