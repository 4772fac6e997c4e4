"""Person records for entity resolution: every current row of every lake table whose entity
carries a person's identity, normalised into one shape.

A table takes part when its entity has the `person_ref` and `surname` fields (Person,
PersonCrime, CustodyRecord, Conviction, WarningMarker, Warrant, IntelligenceReport,
PersonVehicle, and any entity a force adds with them): nothing here names a source. A
PersonVehicle row whose `keeper_type` says it is not a private person (company, hire, lease,
dealer) is not a person record.

A record's id is `<source>:<record key>` (the key's parts joined by `|`), so it stays the same
when a new version of the row arrives; rows without a record key use their row id.
"""

from __future__ import annotations

from functools import lru_cache

import pyarrow as pa
import pyarrow.compute as pc
from nicknames import NickNamer

from peel.lake.engine import DuckDBEngine
from peel.schema import Registry, get_registry

# The normalised columns every record has; comparisons use these names.
IDENTITY_FIELDS = (
    "pnc_id",
    "cro_number",
    "ni_number",
    "other_id",
    "forenames",
    "surname",
    "date_of_birth",
    "date_of_birth_text",
    "sex",
    "place_of_birth",
    "address_text",
    "postcode",
    "phone",
)

_LETTERS = "regexp_replace(upper(strip_accents({c})), '[^A-Z ]', '', 'g')"


def person_tables(registry: Registry | None = None) -> list[str]:
    """The lake tables whose rows identify a person (see the module's docstring)."""
    reg = registry or get_registry()
    return sorted(
        spec.table
        for spec in reg.entities.values()
        if spec.has_field("person_ref") and spec.has_field("surname")
    )


def _select(registry: Registry, table: str, source_sql: str) -> str:
    spec = registry.by_table(table)

    def col(name: str) -> str:
        return f'"{name}"' if spec.has_field(name) else "NULL"

    def text(name: str) -> str:
        return f"NULLIF(trim(CAST({col(name)} AS VARCHAR)), '')"

    # A record must carry something that identifies a person.
    identifying = (
        "surname",
        "forenames",
        "pnc_id",
        "cro_number",
        "ni_number",
        "other_id",
        "date_of_birth",
    )
    where = [
        "(" + " OR ".join(f'"{f}" IS NOT NULL' for f in identifying if spec.has_field(f)) + ")"
    ]
    if spec.has_field("keeper_type"):
        where.append("(keeper_type IS NULL OR lower(keeper_type) = 'private')")
    forenames = _LETTERS.format(c=text("forenames"))
    surname = _LETTERS.format(c=text("surname"))
    dob_text = text("date_of_birth_text")
    return f"""
        SELECT
          _source || ':' || coalesce(replace(_record_key, chr(31), '|'), CAST(row_id AS VARCHAR))
            AS record_id,
          _source AS source, '{table}' AS lake_table, CAST(row_id AS VARCHAR) AS row_id,
          _dataset AS dataset,
          {text("person_system")} AS person_system, {text("person_ref")} AS person_ref,
          {text("person_system")} || ':' || {text("person_ref")} AS system_ref,
          NULLIF(regexp_replace(upper({text("pnc_id")}), '\\s', '', 'g'), '') AS pnc_id,
          NULLIF(regexp_replace(upper({text("cro_number")}), '\\s', '', 'g'), '') AS cro_number,
          NULLIF(regexp_replace(upper({text("ni_number")}), '[^A-Z0-9]', '', 'g'), '')
            AS ni_number,
          NULLIF(upper({text("other_id")}), '') AS other_id,
          NULLIF(split_part(trim(regexp_replace({forenames}, '\\s+', ' ', 'g')), ' ', 1), '')
            AS forename1,
          NULLIF(trim(regexp_replace({forenames}, '\\s+', ' ', 'g')), '') AS forenames_norm,
          NULLIF(regexp_replace({surname}, '[^A-Z]', '', 'g'), '') AS surname_norm,
          coalesce(
            strftime(CAST({col("date_of_birth")} AS DATE), '%Y-%m-%d'),
            -- a date that did not parse, kept as YYYY-MM-DD text when it has eight digits
            -- (year first): a typing error in it is evidence for linkage.
            CASE WHEN regexp_full_match(regexp_replace(coalesce({dob_text}, ''), '[^0-9]', '',
                   'g'), '(1[89]|20)[0-9]{{6}}')
                 THEN regexp_replace(regexp_replace({dob_text}, '[^0-9]', '', 'g'),
                   '^([0-9]{{4}})([0-9]{{2}})([0-9]{{2}})$', '\1-\2-\3') END
          ) AS dob,
          NULLIF(upper(left({text("sex")}, 1)), 'U') AS sex,
          NULLIF(upper(regexp_replace({text("place_of_birth")}, '\\s+', ' ', 'g')), '')
            AS place_of_birth,
          NULLIF(upper(regexp_replace({text("address_text")}, '[^A-Za-z0-9 ]|\\s+', ' ', 'g')),
            '') AS address_norm,
          CASE WHEN regexp_full_match(upper(replace({text("postcode")}, ' ', '')),
                 '[A-Z]{{1,2}}[0-9][A-Z0-9]?[0-9][A-Z]{{2}}')
               THEN regexp_replace(upper(replace({text("postcode")}, ' ', '')),
                 '([0-9][A-Z]{{2}})$', ' \\1')
               ELSE NULLIF(upper({text("postcode")}), '') END AS postcode,
          NULLIF(regexp_replace(regexp_replace({text("phone")}, '[^0-9+]', '', 'g'),
            '^(\\+44|0044)', '0'), '') AS phone,
          -- Special-category (DPA 2018 s.35(8)): a comparison may use it only where the
          -- policy lists Person.self_defined_ethnicity for record linkage.
          {text("self_defined_ethnicity")} AS self_defined_ethnicity
        FROM {source_sql}
        WHERE {" AND ".join(where)}
    """


@lru_cache(maxsize=1)
def _nicknamer() -> NickNamer:
    return NickNamer()


def forename_keys(forename: str | None) -> list[str] | None:
    """The forename and the formal names it is a known nickname of (Bob -> BOB, ROBERT),
    from the curated `nicknames` data set, upper case."""
    if not forename:
        return None
    keys = {forename}
    keys.update(n.upper() for n in _nicknamer().canonicals_of(forename.lower()))
    return sorted(keys)


def with_forename_keys(records: pa.Table) -> pa.Table:
    values = records["forename1"].to_pylist()
    cache: dict[str | None, list[str] | None] = {}
    keys = [cache[v] if v in cache else cache.setdefault(v, forename_keys(v)) for v in values]
    return records.append_column("forename_keys", pa.array(keys, pa.list_(pa.string())))


def with_block_keys(records: pa.Table, max_group: int) -> pa.Table:
    """`dob_block`: the date of birth as a blocking key, empty where more than `max_group`
    records share the date (a placeholder such as 01/01/1900, or a system's default): such a
    block would pair every record in it with every other (28,000 records on one date in a
    synthetic city of a million gave 390 million pairs). The date is still compared."""
    dob = records["dob"]
    counts = pc.value_counts(dob.drop_null())
    crowded = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), max_group))
    key = pc.if_else(pc.is_in(dob, value_set=crowded), pa.scalar(None, pa.string()), dob)
    return records.append_column("dob_block", key)


def load_person_records(
    engine: DuckDBEngine, registry: Registry | None = None, datasets: list[str] | None = None
) -> pa.Table:
    """Every person record in the lake's current views, normalised (one Arrow table).

    `datasets` limits the records to those datasets (a resolve never mixes synthetic and real
    data: the caller picks)."""
    reg = registry or get_registry()
    engine.create_views()
    parts = [_select(reg, t, f'"{t}_current"') for t in person_tables(reg)]
    sql = " UNION ALL ".join(f"({p})" for p in parts)
    if datasets:
        sql = f"SELECT * FROM ({sql}) WHERE dataset IN $datasets"
        table = engine.query(sql + " ORDER BY record_id", {"datasets": datasets})
    else:
        table = engine.query(f"SELECT * FROM ({sql}) ORDER BY record_id")
    return with_forename_keys(table)


__all__ = ["IDENTITY_FIELDS", "load_person_records", "person_tables"]
