"""Pieces of the validation statement written for speed give exactly the values of the plain
SQL they replace (issue 2): several time formats as one COALESCE, and the character-length
check guarded by the byte length."""

from __future__ import annotations

import itertools

import duckdb
import pytest

from peel.ingest.validate import _Sql, _strptime, _zoned

FORMAT_LISTS = [
    ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S%z"),
    ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%SZ"),
    ("%d/%m/%Y %H:%M", "%d/%m/%Y", "%Y-%m-%d %H:%M:%S %Z"),
    ("%Y-%m-%d %H:%M:%S%z",),
    ("%Y-%m-%d %H:%M",),
    ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M %%z"),  # a literal "%z", not an offset
]
TEXTS = [
    "2024-07-01T00:00:11Z",
    "2024-07-01T00:00:11+0200",
    "2024-07-01T00:00:11-05:30",
    "2024-03-31T01:30:00+0100",
    "01/07/2024 13:45",
    "01/07/2024",
    "2024-07-01 10:00:00 UTC",
    "2024-07-01 10:00:00 Europe/London",
    "2024-07-01 10:00:00+01",
    "2024-07-01 10:00",
    "2024-07-01 10:00 %z",
    "not a time",
    "",
    None,
]


@pytest.mark.parametrize("formats", FORMAT_LISTS, ids=[" | ".join(f) for f in FORMAT_LISTS])
def test_time_formats_as_coalesce_equal_the_list_form(formats: tuple[str, ...]) -> None:
    """The validation connection runs with TimeZone UTC; the plain form is what the statement
    used to say: try_strptime with the list, made UTC (CAST under UTC) and zone-free."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    s = _Sql()
    fast = _strptime("t", formats, s)
    s.params["fmts"] = list(formats)
    plain = "CAST(try_strptime(t, $fmts) AS TIMESTAMP)"
    rows = con.execute(
        f"SELECT t, {plain}, CAST({fast} AS TIMESTAMP), CAST({plain} AS DATE), "
        f"CAST({fast} AS DATE) FROM (SELECT unnest($texts) AS t)",
        {**s.params, "texts": TEXTS},
    ).fetchall()
    parsed = 0
    for text, want, got, want_day, got_day in rows:
        assert got == want, (formats, text)
        assert got_day == want_day, (formats, text)
        parsed += want is not None
    assert parsed >= 1  # the grid exercises each list with at least one text that parses
    con.close()


def test_a_date_that_does_not_exist_is_refused_beside_a_zoned_format() -> None:
    """DuckDB 2.0's list form, once any format reads a zone, parses every format leniently
    and turns 31/02/2024 into 2 March. One try_strptime per format keeps the plain formats
    strict. (A zoned format alone is still lenient in DuckDB: noted on issue 2.)"""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    s = _Sql()
    fast = _strptime("$t", ("%d/%m/%Y", "%Y-%m-%d %H:%M:%S%z"), s)
    got = con.execute(f"SELECT {fast}", {**s.params, "t": "31/02/2024"}).fetchone()
    assert got == (None,)
    con.close()


def test_zoned_formats_are_the_ones_duckdb_returns_with_a_zone() -> None:
    con = duckdb.connect()
    formats = [
        "%Y-%m-%d %H:%M:%S%z",
        "%Y-%m-%d %H:%M:%S %Z",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %%z",
        "%Y-%m-%d %%%z",
        "%d/%m/%Y",
    ]
    for fmt in formats:
        kind = con.execute("SELECT typeof(try_strptime(NULL::VARCHAR, $f))", {"f": fmt}).fetchone()
        assert kind is not None
        assert _zoned(fmt) == (kind[0] == "TIMESTAMP WITH TIME ZONE"), fmt
    con.close()


def test_length_check_counts_characters_not_bytes() -> None:
    """The statement tests strlen (bytes) before length (characters): a value of 200
    two-byte characters (400 bytes) is not too long; 300 of them are; mixed cases too."""
    con = duckdb.connect()
    limit = 256
    guarded = f"strlen(v) > {limit} AND length(v) > {limit}"
    values = ["é" * n for n in (200, 256, 257, 300)] + [
        "a" * n + "€" * m for n, m in itertools.product((0, 100, 256, 257), (0, 1, 100))
    ]
    rows = con.execute(
        f"SELECT v, {guarded}, length(v) > {limit} FROM (SELECT unnest($vs) AS v)", {"vs": values}
    ).fetchall()
    assert [r[1] for r in rows] == [r[2] for r in rows]
    assert [r[1] for r in rows[:4]] == [False, False, True, True]
    con.close()
