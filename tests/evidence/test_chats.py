"""WhatsApp exports: both layouts, the date order found per file, multi-line messages, system
lines and media, and bad input reported line by line with every good message kept. All text
is made up."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peel.evidence import chats
from peel.evidence.chats import read_chat


def _file(tmp_path: Path, text: str | bytes, name: str = "chat.txt") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return p


def test_android_day_first_with_multi_line_system_and_media(tmp_path: Path) -> None:
    chat = read_chat(
        _file(
            tmp_path,
            "31/12/2020, 21:15 - Messages and calls are end-to-end encrypted.\n"
            "31/12/2020, 21:16 - Alice: see you at\n"
            "the usual place\n"
            "\n"
            "at 10\n"
            "01/01/2021, 09:02 - Bob: <Media omitted>\n"
            "01/01/2021, 09:03 - Bob: ok: fine\n",
        )
    )
    assert chat.layout == "android" and chat.date_order == "DMY"
    assert not chat.date_order_ambiguous and chat.problems == []
    m = chat.messages
    assert [x.kind for x in m] == ["system", "message", "media", "message"]
    assert m[0].sender is None and m[1].sender == "Alice"
    assert m[1].text == "see you at\nthe usual place\n\nat 10"
    assert m[1].line == 2 and m[2].line == 6
    assert m[1].sent_at == datetime(2020, 12, 31, 21, 16)
    assert m[1].sent_text == "31/12/2020, 21:16"
    assert m[3].sender == "Bob" and m[3].text == "ok: fine"


def test_iphone_month_first_twelve_hour_with_marks(tmp_path: Path) -> None:
    chat = read_chat(
        _file(
            tmp_path,
            "\u200e[1/2/21, 9:15:03\u202fPM] Carol: hello\n"
            "[12/13/21, 12:05:00 AM] Dan: \u200eimage omitted\n"
            "[12/13/21, 12:06:00 PM] Dan: noon\n",
        )
    )
    assert chat.layout == "iphone" and chat.date_order == "MDY"
    assert chat.problems == []
    a, b, c = chat.messages
    assert a.sent_at == datetime(2021, 1, 2, 21, 15, 3) and a.sender == "Carol"
    assert b.kind == "media" and b.sent_at == datetime(2021, 12, 13, 0, 5)
    assert c.sent_at == datetime(2021, 12, 13, 12, 6)


def test_an_order_the_dates_cannot_decide_is_read_day_first_and_said(tmp_path: Path) -> None:
    chat = read_chat(_file(tmp_path, "03/04/2021, 10:00 - Eve: hi\n05/06/2021, 11:00 - Eve: x\n"))
    assert chat.date_order == "DMY" and chat.date_order_ambiguous
    assert chat.messages[0].sent_at == datetime(2021, 4, 3, 10, 0)


def test_year_first_dates(tmp_path: Path) -> None:
    chat = read_chat(_file(tmp_path, "2021-04-03, 10:00 - Eve: hi\n"))
    assert chat.date_order == "YMD" and chat.messages[0].sent_at == datetime(2021, 4, 3, 10, 0)


def test_contradicting_and_impossible_dates_are_reported_and_the_rest_kept(tmp_path: Path) -> None:
    chat = read_chat(
        _file(
            tmp_path,
            "preamble the exporter never writes\n"
            "25/01/2021, 10:00 - A: one\n"
            "26/01/2021, 10:01 - A: two\n"
            "01/27/2021, 10:02 - A: contradicts the order\n"
            "and its second line\n"
            "31/02/2021, 10:03 - A: no such day\n"
            "27/01/2021, 25:00 - A: no such hour\n"
            "28/01/2021, 13:00 PM - A: no such twelve-hour time\n"
            "28/01/2021, 10:04 - A: three\n",
        )
    )
    assert [m.text for m in chat.messages] == ["one", "two", "three"]
    assert [(p.line, p.reason.split(":")[0].split(" in ")[0]) for p in chat.problems] == [
        (1, "text before the first message, left out"),
        (4, "date does not fit the file's DMY order"),
        (5, "continues a message that was left out"),
        (6, "not a valid date or time"),
        (7, "not a valid date or time"),
        (8, "not a valid date or time"),
    ]
    assert all("contradicts" not in p.reason for p in chat.problems)  # never the text


def test_hostile_bytes_are_reported_not_fatal(tmp_path: Path) -> None:
    raw = (
        b"\xef\xbb\xbf01/02/2021, 10:00 - A: fine\r\n"
        b"01/02/2021, 10:01 - A: bad \xff\xfe bytes\r\n"
        b"01/02/2021, 10:02 - A: nul\x00here\n"
        + b"01/02/2021, 10:03 - A: "
        + b"x" * (chats.MAX_LINE_BYTES + 10)
        + b"\n01/02/2021, 10:04 - A: after the long line\n"
    )
    chat = read_chat(_file(tmp_path, raw))
    assert [m.text for m in chat.messages] == [
        "fine",
        "bad \ufffd\ufffd bytes",
        "nulhere",
        "after the long line",
    ]
    assert [(p.line, p.reason) for p in chat.problems] == [
        (2, "not UTF-8 text: undecodable bytes replaced"),
        (3, "NUL bytes removed"),
        (4, f"line longer than {chats.MAX_LINE_BYTES:,} bytes, left out"),
    ]
    assert chat.messages[3].line == 5


def test_a_message_is_cut_at_its_limit_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chats, "MAX_MESSAGE_CHARS", 20)
    chat = read_chat(
        _file(tmp_path, "01/02/2021, 10:00 - A: " + "y\n" * 50 + "01/02/2021, 10:01 - A: z\n")
    )
    assert len(chat.messages[0].text) <= 20 and chat.messages[1].text == "z"
    assert [(p.line, p.reason) for p in chat.problems] == [(1, "message cut at 20 characters")]


def test_an_empty_or_timestampless_file_has_no_messages(tmp_path: Path) -> None:
    assert read_chat(_file(tmp_path, b"")).messages == []
    chat = read_chat(_file(tmp_path, "just some text\nmore\n", "b.txt"))
    assert chat.layout is None and chat.messages == []
    assert [p.line for p in chat.problems] == [1, 2]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.binary(max_size=60)
        | st.sampled_from([b"01/02/2021, 10:00 - A: ok", b"[1/2/21, 9:15:03 PM] B: ok"]),
        max_size=30,
    )
)
def test_any_bytes_give_messages_and_problems_never_an_error(lines: list[bytes]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "x.txt"
        p.write_bytes(b"\n".join(lines))
        chat = read_chat(p)
    assert all(1 <= m.line <= max(chat.lines, 1) for m in chat.messages)
    assert all(1 <= pr.line <= max(chat.lines, 1) for pr in chat.problems)
    good = sum(
        1 for x in lines if x in (b"01/02/2021, 10:00 - A: ok", b"[1/2/21, 9:15:03 PM] B: ok")
    )
    # Every well-formed message line gives a message (the other lines may add more).
    assert len(chat.messages) >= good
