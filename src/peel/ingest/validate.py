"""Set-based validation and mapping in DuckDB: one SQL statement turns a block of source text
columns into typed schema columns, with each row's errors named by field and rule.

The statement is composed from the mapping (identifiers quoted, values bound as parameters),
so a new source needs no new code. Errors never quote the value, only the field and the rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from peel.schema import Registry
from peel.settings import get_settings
from peel.sources.mapping import FieldRule, Mapping

_TRUE = ["true", "t", "yes", "y", "1"]
_FALSE = ["false", "f", "no", "n", "0"]
_NORM = "regexp_replace(lower({x}), '[^a-z0-9]', '', 'g')"  # = schema.normalise_code_text


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class _Sql:
    params: dict[str, Any] = field(default_factory=dict)
    joins: list[str] = field(default_factory=list)
    ctes: dict[str, str] = field(default_factory=dict)

    def param(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"${name}"


@dataclass(frozen=True)
class Validation:
    sql: str  # trims every source column
    params: dict[str, Any]
    local_datetimes: tuple[str, ...]  # fields whose naive times are local wall-clock times
    projected: tuple[tuple[str, str | None], ...]  # location fields given as x/y, with their CRS
    # The statement with a trim only on the listed columns (where some value of the block
    # starts or ends in a byte that could be white space): trimming is a third of the work.
    trimmed: dict[tuple[frozenset[str], frozenset[str]], str] = field(default_factory=dict)
    _untrimmed: tuple[str, ...] = ()  # each column's cleaning without trim, in column order
    _trimmed: tuple[str, ...] = ()  # and with it
    _cols: tuple[str, ...] = ()  # the source's columns
    # The output field whose value is the record key, when the key is one plain text field:
    # the statement then leaves `_record_key` out and the caller reuses that column.
    key_field: str | None = None
    # Output columns whose value is a source column's text as it is once cleaned (output name,
    # source column): when a block's column needs no trim and holds no null spelling, the
    # statement leaves it out and the caller takes the block's own column (`passthrough`).
    copied: tuple[tuple[str, str], ...] = ()
    _head: str = ""  # the statement up to its final SELECT list
    _tail: str = ""  # and after it (the ORDER BY of an ordered statement)
    _select: tuple[tuple[str, str], ...] = ()  # (output name, select item)
    _null_empty: bool = True  # the only null spelling is the empty string

    def trim_columns(self, block: pa.Table) -> frozenset[str]:
        """The source columns of `block` where some value may need a trim."""
        return frozenset(c for c in self._cols if _may_need_trim(block[c]))

    def passthrough(self, block: pa.Table, trim: frozenset[str]) -> frozenset[str]:
        """The source columns of `copied` whose values the statement would return unchanged in
        this block: no trim needed and no empty value (which the statement makes null)."""
        if not self._null_empty:
            return frozenset()
        return frozenset(
            c
            for _, c in self.copied
            if c not in trim and block[c].num_chunks == 1 and not _has_empty(block[c].chunk(0))
        )

    def sql_for(
        self,
        block: pa.Table,
        trim: frozenset[str] | None = None,
        passthrough: frozenset[str] = frozenset(),
    ) -> str:
        """The statement for one block: columns none of whose values has space to trim are
        used as they are (the result is the same, faster). `trim` is `trim_columns(block)`
        when the caller has it already (the read-ahead thread works it out). Output columns
        copied from a source column in `passthrough` are left out: the caller adds the
        block's own column under the output name."""
        names = self.trim_columns(block) if trim is None else trim
        key = (names, passthrough)
        sql = self.trimmed.get(key)
        if sql is None:
            head = self._head
            for c, plain, full in zip(self._cols, self._untrimmed, self._trimmed, strict=True):
                if c not in names:
                    head = head.replace(full, plain, 1)
            left_out = {out for out, c in self.copied if c in passthrough}
            items = [item for out, item in self._select if out not in left_out]
            sql = f"{head} SELECT {', '.join(items)} FROM named{self._tail}"
            self.trimmed[key] = sql
        return sql


# Bytes that may begin or end a value DuckDB's trim would change: ASCII space and controls,
# and any non-ASCII byte (Unicode spaces). A superset, so skipping the trim never changes a value.
def _may_need_trim(col: pa.ChunkedArray) -> bool:
    for chunk in col.chunks:
        if not pa.types.is_string(chunk.type):
            return True
        bufs = chunk.buffers()
        if len(chunk) == 0 or bufs[2] is None:
            continue
        offsets = np.frombuffer(bufs[1], dtype=np.int32)[
            chunk.offset : chunk.offset + len(chunk) + 1
        ]
        data = np.frombuffer(bufs[2], dtype=np.uint8)
        if len(data) == 0:
            continue
        # First and last byte of each value. An empty value reads a neighbour's byte instead,
        # which at worst asks for a trim that changes nothing.
        for at in (offsets[:-1], offsets[1:] - 1):
            b = np.take(data, at, mode="clip")
            # a byte <= 0x20 or >= 0x7F; min and max are single passes with no temporaries
            if int(b.min()) <= 0x20 or int(b.max()) >= 0x7F:
                return True
    return False


def _has_empty(chunk: pa.Array) -> bool:
    """True when some value of a string array is empty or null."""
    if chunk.null_count or not pa.types.is_string(chunk.type):
        return True
    if len(chunk) == 0:
        return False
    offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)[
        chunk.offset : chunk.offset + len(chunk) + 1
    ]
    return bool(np.any(offsets[1:] == offsets[:-1]))


def register_code_tables(con: duckdb.DuckDBPyConnection, registry: Registry) -> None:
    """One table per code list: (normalised spelling, canonical code)."""
    for name, cl in registry.code_lists.items():
        rows = cl.lookup_table()
        codes = pa.table(
            {
                "k": pa.array([r[0] for r in rows], pa.string()),
                "code": pa.array([r[1] for r in rows], pa.string()),
            }
        )
        con.register("_codes_in", codes)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {quote_ident('codes_' + name)} AS "
            "SELECT k, code FROM _codes_in"
        )
        con.unregister("_codes_in")


def build_validation(
    mapping: Mapping, relation: str = "raw_block", *, ordered: bool = False
) -> Validation:
    """The statement for `mapping`. `ordered` returns the rows in the table's storage order
    (partition day, then sort fields, then line), which spares the writer a sort."""
    s = _Sql()
    nulls = s.param(list(mapping.nulls)) if mapping.nulls != ("",) else ""

    index = {c: i for i, c in enumerate(mapping.columns)}
    cleaned: list[str] = []
    untrimmed: list[str] = []
    for c, i in index.items():
        q = quote_ident(c)
        for out, v in ((cleaned, f"trim({q})"), (untrimmed, q)):
            if mapping.nulls == ("",):
                out.append(f"NULLIF({v}, '') AS _peel_c{i}")
            else:
                out.append(
                    f"CASE WHEN {q} IS NULL OR list_contains({nulls}, {v}) THEN NULL "
                    f"ELSE {v} END AS _peel_c{i}"
                )

    def clean(column: str) -> str:
        return f"_peel_c{index[column]}"

    select: list[str] = []
    typed: list[str] = []
    errors: list[tuple[str, str]] = []  # (field name, SQL yielding reason or NULL)
    local: list[str] = []
    projected: list[tuple[str, str | None]] = []
    copied: dict[str, tuple[str, str]] = {}  # select item -> (output name, source column)
    mapped = {r.field: r for r in mapping.rules}
    for spec in mapping.entity.fields:
        rule = mapped.get(spec.name)
        if rule is None:
            for col, sql_type in spec.physical_columns():
                physical = "TIMESTAMP" if sql_type == "TIMESTAMPTZ" else sql_type
                select.append(f"CAST(NULL AS {physical}) AS {quote_ident(col)}")
            continue
        if rule.type == "location":
            exprs, errs = _location(rule, clean, s)
            if rule.x:
                projected.append((rule.field, rule.crs))
            select.extend(exprs)
            errors.extend(errs)
            continue
        if rule.value is not None:
            raw = s.param(rule.value)
        elif rule.join:
            raw = f"NULLIF(concat_ws(' ', {', '.join(clean(c) for c in rule.join)}), '')"
        else:
            raw = clean(rule.column or "")
        if rule.extract:
            raw = f"NULLIF(regexp_extract({raw}, {s.param(rule.extract)}, 1), '')"
        name = quote_ident(rule.field)
        value, reason = _typed(rule, raw, s)
        v_name = quote_ident("_peel_v_" + rule.field)
        r_name = quote_ident("_peel_r_" + rule.field)
        typed.append(f"{value} AS {v_name}")
        typed.append(f"{raw} AS {r_name}")
        # The cleaned text of one source column, unchanged: the caller may copy it instead.
        plain = rule.column and rule.value is None and not rule.join and not rule.extract
        if rule.type == "datetime":
            if rule.timezone == "local":
                local.append(rule.field)
            select.append(f"{v_name} AS {name}")
            select.append(f"{r_name} AS {quote_ident(rule.field + '_text')}")
            if plain:
                copied[select[-1]] = (rule.field + "_text", str(rule.column))
            select.append(f"CAST(NULL AS VARCHAR) AS {quote_ident(rule.field + '_flag')}")
        else:
            select.append(f"{v_name} AS {name}")
            if plain and rule.type in ("string", "text"):
                copied[select[-1]] = (rule.field, str(rule.column))
        checks = []
        if rule.pattern:
            checks.append(
                f"WHEN {r_name} IS NOT NULL AND NOT regexp_full_match({r_name}, "
                f"{s.param(rule.pattern)}) "
                f"THEN {_sql_text('does not match the pattern ' + rule.pattern[:40])}"
            )
        if not rule.lenient and rule.type not in ("string", "text"):
            checks.append(
                f"WHEN {r_name} IS NOT NULL AND {v_name} IS NULL THEN {_sql_text(reason)}"
            )
        if rule.required:
            checks.append(f"WHEN {r_name} IS NULL THEN 'required but empty'")
        if rule.type == "string":
            limit = get_settings().max_string_chars
            checks.append(
                # strlen (bytes, read from the string header) is never less than length
                # (characters), so counting characters is needed only past the byte limit.
                f"WHEN strlen({r_name}) > {int(limit)} AND length({r_name}) > {int(limit)} "
                f"THEN 'longer than {int(limit)} characters'"
            )
        if checks:
            errors.append((rule.field, "CASE " + " ".join(checks) + " END"))
    # Each field's error is computed once, as a column, then named and joined.
    error_cols = [(f, quote_ident("_peel_e_" + f), e) for f, e in errors]
    error_items = ", ".join(
        f"CASE WHEN {c} IS NOT NULL THEN {_sql_text(f)} || ': ' || {c} END"
        for f, c, _ in error_cols
    )
    first_field = ", ".join(
        f"CASE WHEN {c} IS NOT NULL THEN {_sql_text(f)} END" for f, c, _ in error_cols
    )
    raw_cols = [quote_ident(c) for c in mapping.columns]
    sep = "chr(31)"
    hashed = ", ".join(f"coalesce({c}, chr(30))" for c in raw_cols)
    source = s.param(mapping.source)
    key_parts = [_key_expr(mapping.rule(k), clean, s) for k in mapping.record_key]
    record_key = (
        f"CASE WHEN {' OR '.join(f'({k}) IS NULL' for k in key_parts)} THEN NULL "
        f"ELSE concat_ws({sep}, {', '.join(key_parts)}) END"
        if len(key_parts) > 1
        else f"CAST(({key_parts[0]}) AS VARCHAR)"  # one part: the same, without a copy
        if key_parts
        else "CAST(NULL AS VARCHAR)"
    )
    key_field = _plain_text_key(mapping)
    raw_json = ", ".join(f"{c} := {c}" for c in raw_cols)
    select += [
        f"{quote_ident('_line')}",
        *([] if key_field else [f"{record_key} AS _record_key"]),
        # Identity: the MD5 digest of the source and every raw value (the record key is a
        # function of them), joined by chr(31), a missing value spelled chr(30). md5_number
        # hands over the 16 digest bytes as they are: the same bytes as
        # CAST(md5(...) AS UUID), without writing and parsing hex (tests pin it to hashlib).
        f"md5_number(concat_ws({sep}, {source}, {hashed})) AS _identity",
        "_error_field",
        "_errors",
        # The source's own values, only for rows that fail: what quarantine keeps for retry.
        f"CASE WHEN _errors <> '' THEN CAST(to_json(struct_pack({raw_json})) AS VARCHAR) END"
        " AS _raw",
    ]
    # Good rows (nearly all) only evaluate the test; the text is built for bad rows alone.
    any_error = " OR ".join(f"{c} IS NOT NULL" for _, c, _ in error_cols)
    named = [
        f"CASE WHEN {any_error} THEN coalesce({first_field}) END AS _error_field"
        if errors
        else "NULL AS _error_field",
        f"CASE WHEN {any_error} THEN concat_ws('; ', {error_items}) ELSE '' END AS _errors"
        if errors
        else "'' AS _errors",
    ]
    joins = " ".join(s.joins)
    checked = ", ".join(f"{e} AS {c}" for _, c, e in error_cols)
    head = (
        f"WITH src AS (SELECT *, {', '.join(cleaned)} FROM {relation}), "
        f"typed AS (SELECT src.*{', ' if typed else ''}{', '.join(typed)} FROM src {joins}), "
        f"checked AS (SELECT *{', ' if checked else ''}{checked} FROM typed), "
        f"named AS (SELECT *, {', '.join(named)} FROM checked)"
    )
    sql = f"{head} SELECT {', '.join(select)} FROM named"
    layout = mapping.entity.layout
    tail = ""
    if ordered and (layout.sort or layout.partition_field):
        keys = [quote_ident(k) for k in layout.sort]
        if layout.partition_field and (not keys or layout.sort[0] != layout.partition_field):
            keys.insert(0, f"CAST({quote_ident(layout.partition_field)} AS DATE)")
        tail = f" ORDER BY {', '.join(keys)}, {quote_ident('_line')}"
        sql += tail
    return Validation(
        sql,
        s.params,
        tuple(local),
        tuple(projected),
        _untrimmed=tuple(untrimmed),
        _trimmed=tuple(cleaned),
        _cols=tuple(mapping.columns),
        key_field=key_field,
        # Left out only from the unordered statement (the ordered one is used as it is).
        copied=tuple(copied.values()) if not ordered else (),
        _head=head,
        _tail=tail,
        _select=tuple((copied.get(item, ("", ""))[0], item) for item in select),
        _null_empty=mapping.nulls == ("",),
    )


def _plain_text_key(mapping: Mapping) -> str | None:
    """The field that holds the record key as it is: a single key field read from one column
    as text, with no constant, join or extract (its value is then the cleaned column, exactly
    what the key expression gives)."""
    if len(mapping.record_key) != 1:
        return None
    rule = mapping.rule(mapping.record_key[0])
    plain = rule.column and rule.value is None and not rule.join and not rule.extract
    return rule.field if plain and rule.type in ("string", "text") else None


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _key_expr(rule: FieldRule, clean: Any, s: _Sql) -> str:
    if rule.value is not None:
        return s.param(rule.value)
    if rule.column:
        return str(clean(rule.column))
    return " || ',' || ".join(str(clean(c)) for c in rule.columns)


def _zoned(fmt: str) -> bool:
    """True when a strptime format reads a UTC offset or zone name (%z, %Z): DuckDB then
    returns TIMESTAMP WITH TIME ZONE."""
    return re.search(r"(?<!%)(?:%%)*%[zZ]", fmt) is not None


def _strptime(raw: str, formats: tuple[str, ...], s: _Sql) -> str:
    """The text parsed by the first of `formats` that fits, as a UTC time without zone (the
    statement runs with TimeZone UTC). The same value as DuckDB's try_strptime with the list
    of formats, written as a COALESCE of one try_strptime per format: DuckDB tries a later
    format only on the rows the earlier ones left NULL, where the list form costs about three
    times as much on rows that fit the first of two formats."""
    parts = []
    for fmt in formats:
        one = f"try_strptime({raw}, {s.param(fmt)})"
        parts.append(f"timezone('UTC', {one})" if _zoned(fmt) else one)
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def _typed(rule: FieldRule, raw: str, s: _Sql) -> tuple[str, str]:
    """(typed value expression, reason when the text does not convert)."""
    t = rule.type
    if t in ("string", "text"):
        return raw, "cannot be read as text"
    if t == "integer":
        return f"TRY_CAST({raw} AS BIGINT)", "not a whole number"
    if t == "float":
        v = f"TRY_CAST({raw} AS DOUBLE)"
        return f"CASE WHEN isfinite({v}) THEN {v} END", "not a finite number"
    if t == "boolean":
        return (
            f"CASE WHEN list_contains({s.param(_TRUE)}, lower({raw})) THEN true "
            f"WHEN list_contains({s.param(_FALSE)}, lower({raw})) THEN false END",
            "not yes/no (true, false, yes, no, y, n, 1, 0)",
        )
    shown = ", ".join(rule.formats)
    if t == "date":
        day = _strptime(raw, rule.formats, s)
        return f"CAST({day} AS DATE)", f"not a date in the format {shown}"
    if t == "datetime":
        # A zoned format's time is converted to UTC whatever the rule's timezone, as before.
        parsed = _strptime(raw, rule.formats, s)
        if rule.end_of == "month":
            parsed = f"date_trunc('month', {parsed}) + INTERVAL 1 MONTH - INTERVAL 1 MICROSECOND"
        elif rule.end_of == "day":
            parsed = f"date_trunc('day', {parsed}) + INTERVAL 1 DAY - INTERVAL 1 MICROSECOND"
        return f"CAST({parsed} AS TIMESTAMP)", f"not a time in the format {shown}"
    if t == "code":
        alias = quote_ident(f"j_{rule.field}")
        s.joins.append(
            f"LEFT JOIN {quote_ident('codes_' + str(rule.codes))} AS {alias} "
            f"ON {alias}.k = {_NORM.format(x=raw)}"
        )
        return f"{alias}.code", f"not in the code list {rule.codes}"
    if t == "code_list":
        table = quote_ident("codes_" + str(rule.codes))
        sep = s.param(rule.separator)
        parts = (
            f"list_filter(list_transform(string_split({raw}, {sep}), lambda p: trim(p)), "
            "lambda p: p <> '')"
        )
        # DuckDB allows no subquery inside a lambda: the code map is joined in once.
        alias = quote_ident(f"m_{rule.field}")
        s.joins.append(f"CROSS JOIN (SELECT map(list(k), list(code)) AS m FROM {table}) AS {alias}")
        mapped = f"list_transform({parts}, lambda p: {alias}.m[{_NORM.format(x='p')}])"
        return (
            f"CASE WHEN list_count({mapped}) = len({parts}) THEN {mapped} END",
            f"holds a code not in the code list {rule.codes}",
        )
    raise AssertionError(f"unhandled type {t}")


def _area(crs: str | None) -> tuple[float, float, float, float]:
    """The configured area (WGS84 bounds) in the given CRS."""
    west, south, east, north = get_settings().area_bounds
    if not crs or crs.upper() in ("EPSG:4326", "WGS84"):
        return west, south, east, north
    from pyproj import Transformer

    t = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x0, y0, x1, y1 = t.transform_bounds(west, south, east, north)
    return float(x0), float(y0), float(x1), float(y1)


def _location(rule: FieldRule, clean: Any, s: _Sql) -> tuple[list[str], list[tuple[str, str]]]:
    f = rule.field
    if rule.lon and rule.lat:
        a, b = clean(rule.lon), clean(rule.lat)
        va, vb = f"TRY_CAST({a} AS DOUBLE)", f"TRY_CAST({b} AS DOUBLE)"
        ok = f"({va} BETWEEN -180 AND 180 AND {vb} BETWEEN -90 AND 90)"
        exprs = [
            f"CASE WHEN {ok} THEN {va} END AS {quote_ident(f + '_lon')}",
            f"CASE WHEN {ok} THEN {vb} END AS {quote_ident(f + '_lat')}",
            f"CAST(NULL AS DOUBLE) AS {quote_ident(f + '_x')}",
            f"CAST(NULL AS DOUBLE) AS {quote_ident(f + '_y')}",
        ]
        what = "longitude and latitude"
    else:
        a, b = clean(rule.x or ""), clean(rule.y or "")
        va, vb = f"TRY_CAST({a} AS DOUBLE)", f"TRY_CAST({b} AS DOUBLE)"
        ok = f"(isfinite({va}) AND isfinite({vb}))"
        exprs = [
            f"CAST(NULL AS DOUBLE) AS {quote_ident(f + '_lon')}",
            f"CAST(NULL AS DOUBLE) AS {quote_ident(f + '_lat')}",
            f"CASE WHEN {ok} THEN {va} END AS {quote_ident(f + '_x')}",
            f"CASE WHEN {ok} THEN {vb} END AS {quote_ident(f + '_y')}",
        ]
        what = "easting and northing"
    x0, y0, x1, y1 = _area(None if rule.lon else rule.crs)
    inside = (
        f"({va} BETWEEN {s.param(x0)} AND {s.param(x1)} "
        f"AND {vb} BETWEEN {s.param(y0)} AND {s.param(y1)})"
    )
    checks = [
        f"WHEN ({a} IS NULL) <> ({b} IS NULL) THEN 'only one of the {what} is given'",
        f"WHEN {a} IS NOT NULL AND {va} IS NULL THEN 'the first coordinate is not a number'",
        f"WHEN {b} IS NOT NULL AND {vb} IS NULL THEN 'the second coordinate is not a number'",
        f"WHEN {a} IS NOT NULL AND NOT {ok} THEN 'the {what} are out of range'",
        f"WHEN {a} IS NOT NULL AND NOT {inside} THEN 'the {what} are outside the area "
        "(PEEL_AREA_BOUNDS: Great Britain and Northern Ireland unless set)'",
    ]
    if rule.required:
        checks.append(f"WHEN {a} IS NULL THEN 'required but empty'")
    return exprs, [(f, "CASE " + " ".join(checks) + " END")]


__all__ = ["Validation", "build_validation", "quote_ident", "register_code_tables"]
