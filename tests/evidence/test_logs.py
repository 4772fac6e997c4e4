"""SMS and call logs (CSV) and JSON Lines: the layouts and aliases accepted, who is who, and
bad input reported record by record with every good item kept. Numbers are in Ofcom's drama
range (07700 900xxx); names and text are made up."""

from __future__ import annotations

import csv
import json
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peel.evidence import logs
from peel.evidence.items import Item, Problem
from peel.evidence.logs import normalise_number, read_calls_csv, read_jsonl, read_sms_csv


def _read(
    reader: object, tmp_path: Path, data: str | bytes, name: str = "x.csv"
) -> tuple[list[Item], list[tuple[int, str]]]:
    p = tmp_path / name
    p.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    problems: list[Problem] = []
    assert callable(reader)
    items = list(reader(p, problems))
    return items, [(x.line, x.reason) for x in problems]


def test_an_sms_export_with_aliases_bom_crlf_and_a_quoted_newline(tmp_path: Path) -> None:
    data = (
        "\ufeffDate/Time;Direction;Phone Number;Contact Name;Message Body;Read\r\n"
        "05/03/2021 10:15:00;Incoming;07700 900123;Ann Example;see you at;yes\r\n"
        '05/03/2021 10:16:00;Sent;07700-900123;Ann Example;"ok,\r\nthe usual place";\r\n'
        "\r\n"
        "06/03/2021 09:00:00;received;+44 7700 900124;;hello;no\r\n"
    )
    items, problems = _read(read_sms_csv, tmp_path, data)
    assert problems == []
    a, b, c = items
    assert [i.line for i in items] == [2, 3, 6]
    assert a.kind == "sms" and a.text == "see you at"
    assert a.sender == "07700 900123" and a.recipients == ()
    assert b.sender is None and b.recipients == ("07700-900123",)
    assert b.text == "ok,\nthe usual place"
    assert a.conversation == b.conversation == "07700900123"
    assert c.conversation == "+447700900124"
    assert a.sent_at == datetime(2021, 3, 5, 10, 15) and a.sent_text == "05/03/2021 10:15:00"
    assert a.meta == (("contact", "Ann Example"), ("direction", "incoming"), ("read", "yes"))
    assert b.meta_value("read") is None  # empty cells are not kept


def test_date_and_time_columns_and_a_tab_separator(tmp_path: Path) -> None:
    data = "DATE\tTIME\tTYPE\tADDRESS\tBODY\n2021-03-05\t10:15:00\tout\t07700900125\thi\n"
    [it], problems = _read(read_sms_csv, tmp_path, data)
    assert problems == []
    assert it.sent_at == datetime(2021, 3, 5, 10, 15) and it.sent_text == "2021-03-05 10:15:00"
    assert it.recipients == ("07700900125",) and it.text == "hi"


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2021-03-05T10:15:00Z", datetime(2021, 3, 5, 10, 15, tzinfo=UTC)),
        ("2021-03-05 10:15:00+01:00", datetime(2021, 3, 5, 9, 15, tzinfo=UTC)),
        ("1614939300", datetime(2021, 3, 5, 10, 15, tzinfo=UTC)),
        ("1614939300000", datetime(2021, 3, 5, 10, 15, tzinfo=UTC)),
        ("05/03/2021 10:15:00(UTC+1)", datetime(2021, 3, 5, 9, 15, tzinfo=UTC)),
        ("05.03.2021 10:15 UTC", datetime(2021, 3, 5, 10, 15, tzinfo=UTC)),
        ("05/03/21 10:15 PM", datetime(2021, 3, 5, 22, 15)),
        ("05/03/2021", datetime(2021, 3, 5)),
    ],
)
def test_timestamps(tmp_path: Path, written: str, expected: datetime) -> None:
    data = f'timestamp,direction,number,text\n"{written}",in,07700900123,x\n'
    [it], problems = _read(read_sms_csv, tmp_path, data)
    assert problems == []
    assert it.sent_at == expected and it.sent_text == written
    assert (it.sent_at.tzinfo is None) == (expected.tzinfo is None)


def test_month_first_files_are_found_and_contradicting_dates_reported(tmp_path: Path) -> None:
    data = (
        "timestamp,direction,number,text\n"
        "03/13/2021 10:00,in,07700900123,one\n"
        "03/14/2021 10:00,in,07700900123,two\n"
        "04/05/2021 10:00,in,07700900123,three\n"
        "25/03/2021 10:00,in,07700900123,four\n"
        "not a date,in,07700900123,five\n"
        ",in,07700900123,six\n"
    )
    items, problems = _read(read_sms_csv, tmp_path, data)
    assert [i.text for i in items] == ["one", "two", "three", "four", "five", "six"]
    assert items[2].sent_at == datetime(2021, 4, 5, 10, 0)
    assert [i.sent_at is None for i in items] == [False, False, False, True, True, True]
    assert problems == [
        (5, "date does not fit the file's MDY order: left empty"),
        (6, "timestamp not understood: sent_at left empty"),
        (7, "no timestamp: sent_at left empty"),
    ]


def test_a_header_without_a_required_column_refuses_the_file_once(tmp_path: Path) -> None:
    data = "Direction,Number,Body,Folder Name\nin,07700900123,hello\n" * 3
    items, problems = _read(read_sms_csv, tmp_path, data)
    assert items == []
    assert problems == [
        (1, "not an SMS log: missing column(s): timestamp; not recognised: Folder Name")
    ]
    # A file with no header at all: its first row is data, and is not repeated.
    data = "05/03/2021 10:15,in,07700 900123,meet me at the garage\n"
    items, problems = _read(read_sms_csv, tmp_path, data)
    assert items == [] and len(problems) == 1 and problems[0][0] == 1
    assert "900123" not in problems[0][1] and "garage" not in problems[0][1]
    assert problems[0][1].startswith("not an SMS log: no column has a known name")
    items, problems = _read(read_sms_csv, tmp_path, b"")
    assert items == [] and problems == [(1, "not an SMS log: no header row (the file is empty)")]


def test_ragged_rows_are_reported_and_the_rest_kept(tmp_path: Path) -> None:
    data = (
        "timestamp,direction,number,text\n"
        "2021-03-05 10:00,in,07700900123,one\n"
        "2021-03-05 10:01,in,07700900123,an unquoted, comma\n"
        "2021-03-05 10:02,in,07700900123\n"
        "2021-03-05 10:03,in,07700900123,trailing separator,\n"
        "2021-03-05 10:04,sideways,07700900123,unknown direction\n"
        "2021-03-05 10:05,out,,no number\n"
    )
    items, problems = _read(read_sms_csv, tmp_path, data)
    assert [i.text for i in items] == [
        "one",
        "trailing separator",
        "unknown direction",
        "no number",
    ]
    assert items[2].meta_value("direction") == "unknown"
    assert items[2].sender is None and items[2].recipients == ()
    assert items[3].recipients == () and items[3].conversation == ""
    assert problems == [
        (3, "5 fields where the header has 4: left out"),
        (4, "3 fields where the header has 4: left out"),
        (6, "direction not understood: kept as unknown"),
        (7, "no number or contact: the other party is unknown"),
    ]
    assert all("comma" not in r for _, r in problems)


def test_latin1_files_nul_bytes_and_bad_bytes(tmp_path: Path) -> None:
    header = b"timestamp,direction,number,text\n"
    items, problems = _read(
        read_sms_csv, tmp_path, header + b"2021-03-05 10:00,in,07700900123,caf\xe9\n"
    )
    assert items[0].text == "café"
    assert problems == [(1, "not UTF-8: the file is read as Latin-1")]
    data = (
        header
        + "2021-03-05 10:00,in,07700900123,café\n".encode()
        + b"2021-03-05 10:01,in,07700900123,bad \xff\n"
        + b"2021-03-05 10:02,in,07700900123,nul\x00here\n"
    )
    items, problems = _read(read_sms_csv, tmp_path, data)
    assert [i.text for i in items] == ["café", "bad \ufffd", "nulhere"]
    assert problems == [
        (3, "not UTF-8 text: undecodable bytes replaced"),
        (4, "NUL bytes removed"),
    ]


def test_huge_fields_and_lines_are_reported_not_read_whole(tmp_path: Path) -> None:
    limit = csv.field_size_limit()
    data = (
        "timestamp,direction,number,text\n"
        f'2021-03-05 10:00,in,07700900123,"{"x" * (limit + 10)}"\n'
        "2021-03-05 10:01,in,07700900123,after the big field\n"
        f"2021-03-05 10:02,in,07700900123,{'y' * (logs.MAX_LINE_BYTES + 10)}\n"
        "2021-03-05 10:03,in,07700900123,after the long line\n"
    )
    items, problems = _read(read_sms_csv, tmp_path, data)
    assert [i.text for i in items] == ["after the big field", "after the long line"]
    assert [i.line for i in items] == [3, 5]
    assert problems == [
        (2, f"a field longer than {limit:,} characters: left out"),
        (4, f"line longer than {logs.MAX_LINE_BYTES:,} bytes, left out"),
    ]


def test_calls_directions_and_durations(tmp_path: Path) -> None:
    data = (
        "Call Date,Call Type,Number,Name,Duration\n"
        "2021-03-05 10:00,Outgoing,07700900123,Ann Example,192\n"
        "2021-03-05 11:00,incoming,07700900124,,0:03:12\n"
        "2021-03-05 12:00,Missed,07700900125,,\n"
        "2021-03-05 13:00,declined,07700900125,,0\n"
        "2021-03-05 14:00,incoming,07700900126,,1:01:01\n"
        "2021-03-05 15:00,outgoing,07700900126,,45.4\n"
        "2021-03-05 16:00,outgoing,07700900126,,soon\n"
        "2021-03-05 17:00,outgoing,07700900126,,-3\n"
    )
    items, problems = _read(read_calls_csv, tmp_path, data)
    assert [i.text for i in items] == [
        "outgoing call, 3 min 12 s",
        "incoming call, 3 min 12 s",
        "missed call",
        "rejected call",
        "incoming call, 1 h 1 min 1 s",
        "outgoing call, 45 s",
        "outgoing call",
        "outgoing call",
    ]
    assert all(i.kind == "call" for i in items)
    assert [i.meta_value("duration_seconds") for i in items] == [
        "192",
        "192",
        None,
        "0",
        "3661",
        "45",
        None,
        None,
    ]
    assert [i.meta_value("direction") for i in items[:4]] == [
        "outgoing",
        "incoming",
        "missed",
        "rejected",
    ]
    assert items[0].recipients == ("07700900123",) and items[0].sender is None
    assert items[2].sender == "07700900125" and items[2].recipients == ()
    assert items[0].meta_value("contact") == "Ann Example"
    assert problems == [
        (8, "duration not understood: left out"),
        (9, "duration not understood: left out"),
    ]
    # An SMS log is not a call log: "missed" is no SMS direction.
    items, problems = _read(
        read_calls_csv, tmp_path, "timestamp,direction,text\n2021-03-05,in,x\n", "c.csv"
    )
    assert items == []
    assert problems == [(1, "not a call log: missing column(s): number; not recognised: text")]


def test_the_same_sms_in_two_exports_is_one_item(tmp_path: Path) -> None:
    one = "timestamp,direction,number,text\n2021-03-05 10:00,in,07700900123,same\n"
    two = "time,direction,phone,message,extra\n\n\n2021-03-05 10:00,in,07700900123,same,\n"
    [a], _ = _read(read_sms_csv, tmp_path, one, "a.csv")
    [b], _ = _read(read_sms_csv, tmp_path, two, "b.csv")
    assert a.line != b.line and a.sha256() == b.sha256()
    [c], _ = _read(read_sms_csv, tmp_path, one.replace("same", "other"), "c.csv")
    assert c.sha256() != a.sha256()


@pytest.mark.parametrize(
    ("written", "key"),
    [
        ("07700 900123", "07700900123"),
        ("(07700) 900-123", "07700900123"),
        ("+44 7700 900123", "+447700900123"),
        ("0044 7700 900123", "+447700900123"),
        ("Example  Bank", "Example Bank"),
    ],
)
def test_normalise_number(written: str, key: str) -> None:
    assert normalise_number(written) == key


def test_json_lines_good_and_bad(tmp_path: Path) -> None:
    lines = [
        json.dumps(
            {
                "id": 7,
                "text": "hello",
                "sent_at": "2021-03-05T10:15:00+01:00",
                "sender": "ann@example.com",
                "recipients": "bob@example.org; cat@example.org",
                "subject": "Plans",
                "conversation": "case notes",
                "kind": "Record",
                "source": {"system": "made-up", "page": 3},
                "flag": True,
            }
        ),
        '{"text": "no time", "recipients": ["07700900123", 7700900124]}',
        "",
        '{"text": "broken',
        "[1, 2]",
        '{"sender": "x"}',
        '{"text": 5}',
        '{"text": "odd kind", "kind": "fax"}',
        '{"text": "bad time", "sent_at": "yesterday"}',
        '{"text": "bad list", "recipients": {"a": 1}, "sender": ["x"]}',
        "[" * 100_000 + "]" * 100_000,
        '{"text": "lone \\ud800 surrogate"}',
        '{"text": "' + "1" * 10 + '", "n": ' + "9" * 5000 + "}",
    ]
    items, problems = _read(read_jsonl, tmp_path, "\n".join(lines) + "\n", "r.jsonl")
    assert [i.text for i in items] == [
        "hello",
        "no time",
        "odd kind",
        "bad time",
        "bad list",
        "lone \ufffd surrogate",
    ]
    a = items[0]
    assert a.kind == "record" and a.line == 1
    assert a.sent_at == datetime(2021, 3, 5, 10, 15, tzinfo=timezone(timedelta(hours=1)))
    assert a.sent_text == "2021-03-05T10:15:00+01:00"
    assert (a.sender, a.recipients) == ("ann@example.com", ("bob@example.org", "cat@example.org"))
    assert (a.subject, a.conversation) == ("Plans", "case notes")
    assert a.meta == (
        ("flag", "true"),
        ("id", "7"),
        ("source", '{"page":3,"system":"made-up"}'),
    )
    assert items[1].recipients == ("07700900123", "7700900124") and items[1].sent_at is None
    assert items[2].kind == "record" and items[2].meta_value("kind_as_written") == "fax"
    assert items[4].meta_value("recipients") == '{"a":1}' and items[4].sender is None
    assert problems == [
        (4, "not valid JSON: left out"),
        (5, "not a JSON object: left out"),
        (6, "no text: left out"),
        (7, "text is not a string: left out"),
        (8, "kind is not one of chat, sms, call, email, record: read as record"),
        (9, "sent_at is not ISO 8601: sent_at left empty"),
        (10, "sender is not a string: kept in meta"),
        (10, "recipients not understood: kept in meta"),
        (11, "JSON nested too deeply: left out"),
        (12, "lone surrogate escapes replaced"),
        (13, "not valid JSON: left out"),
    ]
    for item in items:
        item.canonical()


def test_an_items_content_reads_back_as_the_same_item(tmp_path: Path) -> None:
    sms, _ = _read(
        read_sms_csv,
        tmp_path,
        "timestamp,direction,number,contact,text\n2021-03-05T10:00Z,in,07700900123,Ann,hi\n",
    )
    original = sms[0]
    line = json.dumps(original.content())
    [back], problems = _read(read_jsonl, tmp_path, line + "\n", "r.jsonl")
    assert problems == []
    assert back.sha256() == original.sha256() and back.kind == "sms"


def test_hostile_lines_in_json_lines(tmp_path: Path) -> None:
    data = (
        b'{"text": "a"}\n'
        + b'{"text": "'
        + b"x" * (logs.MAX_JSON_LINE_BYTES + 5)
        + b'"}\n'
        + b'{"text": "nul\x00"}\n'
        + b'{"text": "bad \xff"}\n'
        + b"\x00\x01\x02\xff\n"
        + b'\xef\xbb\xbf{"text": "not first: BOM is garbage"}\n'
        + b'{"text": "b"}'
    )
    items, problems = _read(read_jsonl, tmp_path, data, "r.jsonl")
    assert [i.text for i in items] == ["a", "nul", "bad \ufffd", "b"]
    assert [i.line for i in items] == [1, 3, 4, 7]
    assert problems == [
        (2, f"line longer than {logs.MAX_JSON_LINE_BYTES:,} bytes, left out"),
        (3, "NUL bytes removed"),
        (4, "not UTF-8 text: undecodable bytes replaced"),
        (5, "NUL bytes removed"),
        (5, "not UTF-8 text: undecodable bytes replaced"),
        (5, "not valid JSON: left out"),
        (6, "not valid JSON: left out"),
    ]
    assert _read(read_jsonl, tmp_path, b"", "e.jsonl") == ([], [])
    items, problems = _read(read_jsonl, tmp_path, b'\xef\xbb\xbf{"text": "c"}\r\n', "bom.jsonl")
    assert [i.text for i in items] == ["c"] and problems == []


_GOOD = "2021-03-05 10:00,in,07700900123,ok"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.binary(max_size=60) | st.sampled_from([_GOOD.encode(), b'"', b"", b",,,,"]),
        max_size=30,
    ),
    st.sampled_from(["sms", "calls", "jsonl"]),
)
def test_any_bytes_give_items_and_problems_never_an_error(lines: list[bytes], which: str) -> None:
    header = {
        "sms": b"timestamp,direction,number,text\n",
        "calls": b"timestamp,direction,number,duration\n",
        "jsonl": b"",
    }[which]
    reader = {"sms": read_sms_csv, "calls": read_calls_csv, "jsonl": read_jsonl}[which]
    data = header + b"\n".join(lines)
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "x"
        p.write_bytes(data)
        problems: list[Problem] = []
        items = list(reader(p, problems))
    n = data.count(b"\n") + 1
    assert all(1 <= i.line <= n for i in items)
    assert all(1 <= x.line <= n for x in problems)
    for item in items:
        item.sha256()
    if which == "sms" and all(b'"' not in x for x in lines):
        # Without quotes to run lines together, every well-formed row gives an item.
        assert len(items) >= sum(1 for x in lines if x == _GOOD.encode())
