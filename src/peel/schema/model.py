"""The data model as data: field, entity and code-list specifications loaded from YAML.

Entity and link types live one per file under `schema/entities/`, code lists under
`schema/codes/`. Nothing else in Peel hard-codes a lake column: it asks the registry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from peel.errors import SchemaError

FIELD_TYPES = (
    "string",  # short identifier-like text
    "text",  # free text (modus operandi narrative, intelligence text)
    "integer",
    "float",
    "boolean",
    "date",
    "datetime",  # local source time -> UTC, with the source text and a clock-change flag
    "code",  # one value from a code list
    "code_list",  # several values from a code list
    "location",  # WGS84 plus a projected position
)

# DPA 2018 s.35(8): the kinds of sensitive processing.
SPECIAL_CATEGORIES = (
    "racial_or_ethnic_origin",
    "political_opinions",
    "religious_or_philosophical_beliefs",
    "trade_union_membership",
    "genetic",
    "biometric",
    "health",
    "sex_life_or_orientation",
)

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

# How each field type is stored in the lake: (suffix, DuckDB type) per physical column.
_PHYSICAL: dict[str, tuple[tuple[str, str], ...]] = {
    "string": (("", "VARCHAR"),),
    "text": (("", "VARCHAR"),),
    "integer": (("", "BIGINT"),),
    "float": (("", "DOUBLE"),),
    "boolean": (("", "BOOLEAN"),),
    "date": (("", "DATE"),),
    "datetime": (("", "TIMESTAMPTZ"), ("_text", "VARCHAR"), ("_flag", "VARCHAR")),
    "code": (("", "VARCHAR"),),
    "code_list": (("", "VARCHAR[]"),),
    "location": (("_lon", "DOUBLE"), ("_lat", "DOUBLE"), ("_x", "DOUBLE"), ("_y", "DOUBLE")),
}


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    description: str
    required: bool = False
    special_category: str | None = None
    matchable: bool = False
    personal: bool = False
    codes: str | None = None

    def physical_columns(self) -> list[tuple[str, str]]:
        """(column name, DuckDB type) for each lake column this field occupies."""
        return [(self.name + suffix, sql_type) for suffix, sql_type in _PHYSICAL[self.type]]


@dataclass(frozen=True)
class LayoutSpec:
    partition_field: str | None = None  # a datetime field; partitioned by its UTC day
    sort: tuple[str, ...] = ()


@dataclass(frozen=True)
class EntitySpec:
    name: str
    kind: str  # "entity" or "link"
    table: str
    description: str
    fields: tuple[FieldSpec, ...]
    source_entity: str | None = None  # links: the "from" end
    target_entity: str | None = None  # links: the "to" end
    layout: LayoutSpec = field(default_factory=LayoutSpec)

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def has_field(self, name: str) -> bool:
        return any(f.name == name for f in self.fields)

    def physical_columns(self) -> list[tuple[str, str]]:
        return [col for f in self.fields for col in f.physical_columns()]

    @property
    def special_category_fields(self) -> list[FieldSpec]:
        return [f for f in self.fields if f.special_category]


@dataclass(frozen=True)
class Code:
    code: str
    label: str
    aliases: tuple[str, ...] = ()
    description: str = ""
    special_category: str | None = None


@dataclass(frozen=True)
class CodeList:
    name: str
    description: str
    codes: tuple[Code, ...]
    source: str = ""

    def lookup_table(self) -> list[tuple[str, str]]:
        """(normalised spelling, canonical code) for every accepted spelling."""
        rows: dict[str, str] = {}
        for c in self.codes:
            for spelling in (c.code, c.label, *c.aliases):
                key = normalise_code_text(spelling)
                if key in rows and rows[key] != c.code:
                    raise SchemaError(
                        f"code list {self.name}: spelling {spelling!r} names both "
                        f"{rows[key]!r} and {c.code!r}"
                    )
                rows[key] = c.code
        return sorted(rows.items())


def normalise_code_text(text: str) -> str:
    """The spelling-insensitive key codes are matched on: case, spaces and punctuation folded.

    Must agree with the SQL in `peel.ingest.validate` (lower, then non-alphanumerics removed).
    """
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _require(data: dict[str, Any], key: str, where: str) -> Any:
    if key not in data or data[key] in (None, ""):
        raise SchemaError(f"{where}: missing '{key}'")
    return data[key]


def parse_field(data: Any, where: str) -> FieldSpec:
    if not isinstance(data, dict):
        raise SchemaError(f"{where}: a field must be a mapping")
    allowed = {
        "name",
        "type",
        "description",
        "required",
        "special_category",
        "matchable",
        "personal",
        "codes",
    }
    unknown = set(data) - allowed
    if unknown:
        raise SchemaError(f"{where}: unknown keys {sorted(unknown)}")
    name = str(_require(data, "name", where))
    where = f"{where} field {name}"
    if not _NAME.match(name):
        raise SchemaError(f"{where}: names are snake_case")
    ftype = str(_require(data, "type", where))
    if ftype not in FIELD_TYPES:
        raise SchemaError(f"{where}: unknown type {ftype!r}; one of {', '.join(FIELD_TYPES)}")
    special = data.get("special_category") or None
    if special is not None and special not in SPECIAL_CATEGORIES:
        raise SchemaError(f"{where}: special_category must be one of {SPECIAL_CATEGORIES}")
    codes = data.get("codes")
    if ftype in ("code", "code_list") and not codes:
        raise SchemaError(f"{where}: a {ftype} field names its code list in 'codes'")
    if codes and ftype not in ("code", "code_list"):
        raise SchemaError(f"{where}: only code fields take 'codes'")
    return FieldSpec(
        name=name,
        type=ftype,
        description=str(_require(data, "description", where)),
        required=bool(data.get("required", False)),
        special_category=special,
        matchable=bool(data.get("matchable", False)),
        personal=bool(data.get("personal", False)) or special is not None,
        codes=codes,
    )


def parse_entity(data: Any, where: str) -> EntitySpec:
    if not isinstance(data, dict):
        raise SchemaError(f"{where}: top level must be a mapping")
    allowed = {"name", "kind", "table", "description", "fields", "from", "to", "layout"}
    unknown = set(data) - allowed
    if unknown:
        raise SchemaError(f"{where}: unknown keys {sorted(unknown)}")
    name = str(_require(data, "name", where))
    kind = str(data.get("kind", "entity"))
    if kind not in ("entity", "link"):
        raise SchemaError(f"{where}: kind is 'entity' or 'link'")
    table = str(_require(data, "table", where))
    if not _NAME.match(table):
        raise SchemaError(f"{where}: table names are snake_case")
    raw_fields = _require(data, "fields", where)
    if not isinstance(raw_fields, list):
        raise SchemaError(f"{where}: 'fields' is a list")
    fields = tuple(parse_field(f, where) for f in raw_fields)
    names = [f.name for f in fields]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SchemaError(f"{where}: fields named twice: {dupes}")
    cols = [c for f in fields for c, _ in f.physical_columns()]
    clash = sorted({c for c in cols if cols.count(c) > 1})
    if clash:
        raise SchemaError(f"{where}: stored columns clash: {clash}")
    if any(c.startswith("_") or c == "row_id" for c in cols):
        raise SchemaError(f"{where}: names starting with '_' and 'row_id' are reserved")
    if kind == "link" and not (data.get("from") and data.get("to")):
        raise SchemaError(f"{where}: a link names its 'from' and 'to' entity types")
    layout_data = data.get("layout") or {}
    if not isinstance(layout_data, dict):
        raise SchemaError(f"{where}: 'layout' is a mapping")
    layout = LayoutSpec(
        partition_field=layout_data.get("partition_by_day"),
        sort=tuple(layout_data.get("sort", ())),
    )
    for fname in filter(None, (layout.partition_field, *layout.sort)):
        if fname not in names:
            raise SchemaError(f"{where}: layout names unknown field {fname!r}")
    if layout.partition_field:
        ptype = fields[names.index(layout.partition_field)].type
        if ptype != "datetime":
            raise SchemaError(f"{where}: layout partitions only by a datetime field's day")
    return EntitySpec(
        name=name,
        kind=kind,
        table=table,
        description=str(_require(data, "description", where)),
        fields=fields,
        source_entity=data.get("from"),
        target_entity=data.get("to"),
        layout=layout,
    )


def parse_code_list(data: Any, where: str) -> CodeList:
    if not isinstance(data, dict):
        raise SchemaError(f"{where}: top level must be a mapping")
    name = str(_require(data, "name", where))
    raw = _require(data, "codes", where)
    if not isinstance(raw, list):
        raise SchemaError(f"{where}: 'codes' is a list")
    codes = []
    for i, c in enumerate(raw, 1):
        if not isinstance(c, dict):
            raise SchemaError(f"{where}: code {i} must be a mapping")
        special = c.get("special_category") or None
        if special is not None and special not in SPECIAL_CATEGORIES:
            raise SchemaError(f"{where}: code {i}: unknown special_category {special!r}")
        codes.append(
            Code(
                code=str(_require(c, "code", f"{where} code {i}")),
                label=str(_require(c, "label", f"{where} code {i}")),
                aliases=tuple(str(a) for a in c.get("aliases", ()) or ()),
                description=str(c.get("description", "")),
                special_category=special,
            )
        )
    seen = [c.code for c in codes]
    dupes = sorted({s for s in seen if seen.count(s) > 1})
    if dupes:
        raise SchemaError(f"{where}: codes listed twice: {dupes}")
    cl = CodeList(
        name=name,
        description=str(_require(data, "description", where)),
        codes=tuple(codes),
        source=str(data.get("source", "")),
    )
    cl.lookup_table()  # raises if two codes share a spelling
    return cl


__all__ = [
    "FIELD_TYPES",
    "SPECIAL_CATEGORIES",
    "Code",
    "CodeList",
    "EntitySpec",
    "FieldSpec",
    "LayoutSpec",
    "normalise_code_text",
    "parse_code_list",
    "parse_entity",
    "parse_field",
]
