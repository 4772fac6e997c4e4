"""E-mail: mbox and .eml read into items, attachments listed with their hashes, and hostile
or broken mail reported message by message with every good message kept. All names and
addresses are made up (example.com, example.org)."""

from __future__ import annotations

import hashlib
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peel.evidence import mail
from peel.evidence.items import Item, Problem
from peel.evidence.mail import html_to_text, read_eml, read_mbox

SEP = b"From sender@example.com Fri Mar  5 10:15:00 2021\n"


def _file(tmp_path: Path, data: bytes, name: str) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def _eml(tmp_path: Path, data: bytes, name: str = "m.eml") -> tuple[list[Item], list[Problem]]:
    problems: list[Problem] = []
    return list(read_eml(_file(tmp_path, data, name), problems)), problems


def _mbox(tmp_path: Path, data: bytes, name: str = "m.mbox") -> tuple[list[Item], list[Problem]]:
    problems: list[Problem] = []
    return list(read_mbox(_file(tmp_path, data, name), problems)), problems


def _message(body: str = "See you at the usual place.\n", **headers: str) -> EmailMessage:
    m = EmailMessage()
    fields = {
        "From": "Ann Example <ann@example.com>",
        "To": "bob@example.org, Cat Example <cat@example.org>",
        "Cc": "dan@example.net",
        "Subject": "Plans for Friday",
        "Date": "Fri, 05 Mar 2021 10:15:00 +0100",
        "Message-ID": "<m1@example.com>",
    }
    fields.update({k.replace("_", "-"): v for k, v in headers.items()})
    for k, v in fields.items():
        m[k] = v
    m.set_content(body)
    return m


def test_an_eml_gives_one_item_with_headers_body_and_attachments(tmp_path: Path) -> None:
    m = _message(In_Reply_To="<m0@example.com>", References="<a@example.com> \t <m0@example.com>")
    m.add_alternative("<p>See you at the <b>usual</b> place.</p>", subtype="html")
    pdf = b"%PDF-1.4 made up \x00\x01\x02" * 100
    m.add_attachment(pdf, maintype="application", subtype="pdf", filename="plan.pdf")
    inner = _message("the forwarded one\n", Subject="Earlier")
    m.add_attachment(inner)
    items, problems = _eml(tmp_path, m.as_bytes())
    assert problems == []
    [it] = items
    assert it.kind == "email" and it.line == 1 and it.conversation == ""
    assert it.sender == "ann@example.com"
    assert it.recipients == ("bob@example.org", "cat@example.org", "dan@example.net")
    assert it.subject == "Plans for Friday"
    assert it.text == "See you at the usual place.\n"  # the plain branch, not the HTML one
    assert it.sent_at == datetime(2021, 3, 5, 10, 15, tzinfo=timezone(timedelta(hours=1)))
    assert it.sent_text == "Fri, 05 Mar 2021 10:15:00 +0100"
    assert it.meta_value("message_id") == "<m1@example.com>"
    assert it.meta_value("in_reply_to") == "<m0@example.com>"
    assert it.meta_value("references") == "<a@example.com> <m0@example.com>"
    assert it.meta_value("from_name") == "Ann Example"
    assert it.meta_value("cc") == "dan@example.net"
    assert it.meta_value("body_from_html") is None
    pdf_att, msg_att = it.attachments
    assert (pdf_att.name, pdf_att.content_type, pdf_att.size) == (
        "plan.pdf",
        "application/pdf",
        2000,
    )
    assert pdf_att.sha256 == hashlib.sha256(pdf).hexdigest()
    assert msg_att.content_type == "message/rfc822" and msg_att.size > 0
    assert "forwarded" not in it.text


def test_an_mbox_is_split_at_from_lines_and_matches_the_same_eml(tmp_path: Path) -> None:
    one = _message("First line.\nFrom here on we walk.\n").as_bytes()
    two = _message("Second.\n", Message_ID="<m2@example.com>").as_bytes()
    quoted = one.replace(b"\nFrom here", b"\n>From here")  # as an mboxrd writer stores it
    data = SEP + quoted + b"\n" + SEP + two + b"\n" + SEP + one + b"\n"
    items, problems = _mbox(tmp_path, data)
    assert problems == []
    assert [i.meta_value("message_id") for i in items] == [
        "<m1@example.com>",
        "<m2@example.com>",
        "<m1@example.com>",
    ]
    assert items[0].text == "First line.\nFrom here on we walk.\n"
    starts = [n + 1 for n, line in enumerate(data.split(b"\n")) if line.startswith(b"From sender")]
    assert [i.line for i in items] == starts
    # The same message stored twice, and in an .eml, is one item (equal hashes).
    [single], _ = _eml(tmp_path, one)
    assert items[0].sha256() == items[2].sha256() == single.sha256()
    assert items[0].sha256() != items[1].sha256()


def test_a_body_line_starting_with_from_but_no_time_does_not_split(tmp_path: Path) -> None:
    raw = _message("Hello\n\nFrom the garden, with love\nBye\n").as_bytes()
    items, problems = _mbox(tmp_path, SEP + raw)
    assert problems == [] and len(items) == 1
    assert items[0].text == "Hello\n\nFrom the garden, with love\nBye\n"


def test_html_only_mail_is_turned_into_text(tmp_path: Path) -> None:
    m = _message()
    m.set_content(
        "<html><head><style>p {color: red}</style><script>var x = 1;</script></head>"
        "<body><p>Meet at&nbsp;the <b>garage</b></p><div>at ten</div>line<br>break"
        "</body></html>",
        subtype="html",
    )
    [it], problems = _eml(tmp_path, m.as_bytes())
    assert problems == []
    assert it.text == "Meet at the garage\nat ten\nline\nbreak"
    assert it.meta_value("body_from_html") == "true"
    assert html_to_text("<p>a</p><p></p><p>&lt;b&gt;</p>") == "a\n<b>"


def test_inline_text_parts_are_joined_and_inline_images_listed(tmp_path: Path) -> None:
    raw = (
        b"From: ann@example.com\nDate: Fri, 05 Mar 2021 10:15:00 +0000\n"
        b'Content-Type: multipart/mixed; boundary="outer"\n\n'
        b"--outer\nContent-Type: text/plain\n\nPart one.\n"
        b'--outer\nContent-Type: multipart/alternative; boundary="alt"\n\n'
        b"--alt\nContent-Type: text/plain\n\nPart two.\n"
        b'--alt\nContent-Type: multipart/related; boundary="rel"\n\n'
        b"--rel\nContent-Type: text/html\n\n<p>Part two (HTML).</p>\n"
        b"--rel\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n\naGVsbG8=\n"
        b"--rel--\n--alt--\n"
        b'--outer\nContent-Type: text/plain\nContent-Disposition: attachment; filename="n.txt"\n'
        b"\nnotes\n--outer--\n"
    )
    [it], problems = _eml(tmp_path, raw)
    assert problems == []
    assert it.text == "Part one.\n\nPart two."
    assert [(a.name, a.content_type, a.size) for a in it.attachments] == [
        ("", "image/png", 5),
        ("n.txt", "text/plain", 5),
    ]
    assert it.attachments[0].sha256 == hashlib.sha256(b"hello").hexdigest()


@pytest.mark.parametrize(
    ("date", "expected", "problem"),
    [
        ("Fri, 05 Mar 2021 10:15:00 -0000", datetime(2021, 3, 5, 10, 15, tzinfo=UTC), None),
        ("Fri, 05 Mar 2021 10:15:00 GMT", datetime(2021, 3, 5, 10, 15, tzinfo=UTC), None),
        ("Fri, 05 Mar 2021 10:15:00", datetime(2021, 3, 5, 10, 15), "no time zone"),
        ("next Tuesday", None, "not understood"),
        ("Fri, 31 Feb 2021 10:15:00 +0000", None, "not understood"),
        ("Fri, 05 Mar 99999 10:15:00 +0000", None, "not understood"),
        (None, None, "no Date header"),
    ],
)
def test_dates(
    tmp_path: Path, date: str | None, expected: datetime | None, problem: str | None
) -> None:
    head = b"From: ann@example.com\n" + (f"Date: {date}\n".encode() if date else b"")
    [it], problems = _eml(tmp_path, head + b"\nbody\n")
    assert it.sent_at == expected
    if expected is not None and expected.tzinfo is not None:
        assert it.sent_at is not None and it.sent_at.utcoffset() == expected.utcoffset()
    assert it.sent_text == (date or "")
    assert [p.line for p in problems] == ([1] if problem else [])
    assert problem is None or problem in problems[0].reason


def test_bad_encodings_are_replaced_and_reported_never_fatal(tmp_path: Path) -> None:
    raw = (
        b'From: "Zo\xc3\xab Example" <zoe@example.com>\n'  # 8-bit UTF-8: fine
        b"To: bob@example.org\n"
        b"Subject: caf\xff secret\n"  # not UTF-8
        b"Date: Fri, 05 Mar 2021 10:15:00 +0000\n"
        b'Content-Type: multipart/mixed; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain; charset=x-no-such-charset\n\nplain \xc3\xa9\n"
        b"--b\nContent-Type: text/plain; charset=utf-8\n\nbad \xff\xfe bytes\n"
        b"--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"
        b"!!!not base64!!!\n--b--\n"
    )
    [it], problems = _eml(tmp_path, raw)
    assert it.meta_value("from_name") == "Zoë Example"
    assert it.subject == "caf\ufffd secret"
    assert it.text == "plain é\n\nbad \ufffd\ufffd bytes"
    reasons = [p.reason for p in problems]
    assert "part 2: unknown charset, read as UTF-8" in reasons
    assert "part 3: bytes not valid in its charset replaced" in reasons
    assert "undecodable bytes replaced in header(s): Subject" in reasons
    assert any(r.startswith("MIME defects: ") for r in reasons)
    assert all("secret" not in r and "bad" not in r for r in reasons)  # never the text
    it.canonical()  # encodable: no surrogates left anywhere


def _nested(depth: int) -> bytes:
    out = [b"From: ann@example.com\nDate: Fri, 05 Mar 2021 10:15:00 +0000\n"]
    for i in range(depth):
        out.append(b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (i, i))
    out.append(b"Content-Type: text/plain\n\ninnermost\n")
    out.extend(b"--b%d--\n" % i for i in reversed(range(depth)))
    return b"".join(out)


def _parts(n: int, *, typed: bool = True) -> bytes:
    part = b"--b\nContent-Type: application/octet-stream\n\nxx\n" if typed else b"--b\n\nxx\n"
    return (
        b'From: ann@example.com\nContent-Type: multipart/mixed; boundary="b"\n\n'
        + part * n
        + b"--b--\n"
    )


@pytest.mark.parametrize(
    ("raw", "refused"),
    [
        (_nested(mail.MAX_DEPTH), None),
        (_nested(mail.MAX_DEPTH + 1), "nested deeper than 20 levels"),
        (_nested(20_000), "nested deeper than 20 levels"),
        (b"From: a@example.com\n" + b"Content-Type: message/rfc822\n\n" * 5000, "nested deeper"),
        (_parts(mail.MAX_PARTS - 1), None),
        (_parts(mail.MAX_PARTS + 1), "more than 1,000 MIME parts"),
        (_parts(5000, typed=False), "more than 1,000 MIME parts"),  # no header to count
    ],
)
def test_hostile_mime_is_refused_with_a_message(
    tmp_path: Path, raw: bytes, refused: str | None
) -> None:
    good = _message("after the hostile one\n").as_bytes()
    t = time.perf_counter()
    items, problems = _mbox(tmp_path, SEP + raw + b"\n" + SEP + good)
    assert time.perf_counter() - t < 5
    assert items[-1].text == "after the hostile one\n" and items[-1].line > 1
    if refused is None:
        assert len(items) == 2 and not any("left out" in p.reason for p in problems)
    else:
        assert len(items) == 1
        assert [p.line for p in problems if refused in p.reason] == [1]


def test_boundaries_named_in_body_text_are_not_nesting(tmp_path: Path) -> None:
    body = "".join(f'Content-Type: multipart/mixed; boundary="x{i}"\n' for i in range(50))
    [it], problems = _eml(tmp_path, _message("Raw headers, quoted:\n" + body).as_bytes())
    assert problems == [] and it.text.endswith('boundary="x49"\n')


def test_the_walk_refuses_what_the_raw_scan_let_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Declared by boundary parameters split RFC 2231 style, the raw scan misses the nesting;
    # the walk over the parsed message still refuses it.
    monkeypatch.setattr(mail, "MAX_DEPTH", 3)
    out = [b"From: ann@example.com\n"]
    for i in range(6):
        out.append(b'Content-Type: multipart/mixed; boundary*0="q%d"\n\n--q%d\n' % (i, i))
    out.append(b"\nx\n")
    items, problems = _eml(tmp_path, b"".join(out))
    assert items == []
    assert [p.reason for p in problems] == ["MIME nested deeper than 3 levels, message left out"]


def test_long_headers_are_read_leniently_or_refused_quickly(tmp_path: Path) -> None:
    to = b", ".join(b"u%d@example.org" % i for i in range(20_000))  # about 330 KB
    params = b"; ".join(b"p%d=v" % i for i in range(100_000))
    data = (
        SEP
        + b"From: ann@example.com\nTo: "
        + to
        + b"\nSubject: "
        + b"=?utf-8?q?long?= " * 5000
        + b"\n\nbody\n\n"
        + SEP
        + b"From: ann@example.com\nContent-Type: text/plain; "
        + params
        + b"\n\nbody\n\n"
        + SEP
        + _message("last\n").as_bytes()
    )
    t = time.perf_counter()
    items, problems = _mbox(tmp_path, data)
    assert time.perf_counter() - t < 5
    first, last = items
    assert len(first.recipients) == 20_000 and first.recipients[-1] == "u19999@example.org"
    assert first.subject.startswith("=?utf-8?q?long?=")  # as written, not decoded
    assert last.text == "last\n"
    reasons = [(p.line, p.reason) for p in problems if "longer" in p.reason]
    assert reasons == [
        (1, "header To longer than 50,000 characters: read leniently"),
        (1, "header Subject longer than 50,000 characters: read leniently"),
        (8, "a Content-* header longer than 10,000 characters, message left out"),
    ]


def test_content_headers_too_long_in_all_refuse_the_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mail, "MAX_CONTENT_HEADERS_TOTAL", 2_000)
    items, problems = _eml(tmp_path, _parts(100))
    assert items == []
    assert [p.reason for p in problems] == [
        "Content-* headers longer than 2,000 characters in all, message left out"
    ]
    items, problems = _eml(tmp_path, _parts(10), "small.eml")
    assert len(items) == 1


def test_a_message_over_the_size_limit_is_skipped_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mail, "MAX_MESSAGE_BYTES", 10_000)
    small = _message("small\n").as_bytes()
    big = _message("x" * 20_000 + "\n").as_bytes()
    items, problems = _mbox(tmp_path, SEP + small + b"\n" + SEP + big + b"\n" + SEP + small)
    assert [i.text for i in items] == ["small\n", "small\n"]
    big_line = small.count(b"\n") + 3
    assert [(p.line, p.reason) for p in problems] == [
        (big_line, "message larger than 10,000 bytes, left out")
    ]
    items, problems = _eml(tmp_path, big, "big.eml")
    assert items == [] and [p.line for p in problems] == [1]


def test_a_huge_line_is_read_in_pieces(tmp_path: Path) -> None:
    body = b"From a" + b"y" * (3 * mail._CHUNK + 17)  # not a separator: not at a line start
    raw = b"From: ann@example.com\nDate: Fri, 05 Mar 2021 10:15:00 +0000\n\n" + body + b"\n"
    long_sep = SEP.rstrip() + b" " + b"x" * (2 * mail._CHUNK) + b"\n"
    items, problems = _mbox(tmp_path, SEP + raw + b"\n" + long_sep + _message("next\n").as_bytes())
    assert problems == []
    assert [i.line for i in items] == [1, 7]
    assert items[0].text.encode() == body + b"\n" and items[1].text == "next\n"


def test_empty_garbage_and_nul_input(tmp_path: Path) -> None:
    assert _mbox(tmp_path, b"") == ([], [])
    items, problems = _eml(tmp_path, b"")
    assert items == [] and [(p.line, p.reason) for p in problems] == [(1, "empty file")]
    items, problems = _mbox(tmp_path, b"no mbox here\n\x00\xff\xfe garbage\n" + SEP)
    assert items == []
    assert [(p.line, p.reason) for p in problems] == [
        (1, 'text before the first "From " line, left out'),
        (3, "empty message, left out"),
    ]
    raw = _message("nul\x00here\n").as_bytes()
    [it], _ = _eml(tmp_path, raw)
    assert it.text == "nul\x00here\n"
    garbage = bytes(range(256)) * 40
    items, problems = _eml(tmp_path, garbage)
    assert len(items) <= 1 and all(p.line == 1 for p in problems)
    for item in items:
        item.canonical()


def test_a_big_mbox_is_read_one_message_at_a_time(tmp_path: Path) -> None:
    """About 100 MB of mail; the peak memory while reading stays a small multiple of one
    message (2 MB), far below the file."""
    path = tmp_path / "big.mbox"
    body = ("z" * 2_000_000 + "\n").encode()
    head = b"From: ann@example.com\nTo: bob@example.org\nSubject: big\n"
    with path.open("wb") as f:
        for i in range(50):
            f.write(SEP + head + b"Message-ID: <%d@example.com>\n\n" % i + body + b"\n")
    assert path.stat().st_size > 100_000_000
    problems: list[Problem] = []
    tracemalloc.start()
    try:
        count = 0
        for item in read_mbox(path, problems):
            count += 1
            assert len(item.text) == 2_000_001
            del item
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 50
    assert peak < 25_000_000, peak


def test_problems_for_one_message_do_not_touch_the_next(tmp_path: Path) -> None:
    bad = b"From: nobody\nSubject: \xff\n\n\n"
    good = _message().as_bytes()
    items, problems = _mbox(tmp_path, SEP + bad + SEP + good)
    assert len(items) == 2 and items[1].sender == "ann@example.com"
    assert {p.line for p in problems} == {1}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.binary(max_size=80)
        | st.sampled_from(
            [
                SEP.rstrip(),
                b"From: ann@example.com",
                b"Content-Type: multipart/mixed; boundary=b",
                b"Content-Type: message/rfc822",
                b"--b",
                b"--b--",
                b"",
                b"Date: junk",
            ]
        ),
        max_size=40,
    )
)
def test_any_bytes_give_items_and_problems_never_an_error(lines: list[bytes]) -> None:
    data = b"\n".join(lines)
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "x.mbox"
        p.write_bytes(data)
        problems: list[Problem] = []
        items = list(read_mbox(p, problems))
        eml_problems: list[Problem] = []
        items += list(read_eml(p, eml_problems))
    n = data.count(b"\n") + 1
    assert all(1 <= x.line <= n for x in items)
    assert all(1 <= x.line <= n for x in problems + eml_problems)
    for item in items:
        item.sha256()
