"""Redaction of phone numbers, e-mail addresses, postcodes and names: each kind found and not
over-found, overlaps, the recall count, and hostile input. Every number is an Ofcom drama
number (07700 900xxx, 020 7946 0xxx, 0161 496 0xxx, 01632 960xxx), every address is at
example.com or example.org, every name is made up."""

from __future__ import annotations

import math
import time
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peel.evidence import redact
from peel.evidence.redact import ALL_KINDS, Redactor, Span, recall

CONTACTS = ["Dave Smith", "Ann Wilkinson", "Will Brown", "Amy Smith-Jones", "Siobhan O’Brien"]


@pytest.fixture(scope="module")
def r() -> Redactor:
    return Redactor(CONTACTS)


PHONES = [
    ("call 07700 900123 now", "call [phone] now"),
    ("07700900123", "[phone]"),
    ("+44 7700 900123", "[phone]"),
    ("+447700900123", "[phone]"),
    ("tel:+447700900456", "tel:[phone]"),
    ("0044 7700 900456", "[phone]"),
    ("+44 (0)20 7946 0123", "[phone]"),
    ("+44 07700 900123", "[phone]"),
    ("(020) 7946 0123", "[phone]"),
    ("020 7946 0999 ext. 12", "[phone]"),
    ("07700.900.789", "[phone]"),
    ("07700-900-789", "[phone]"),
    ("0 7700 900 123", "[phone]"),
    ("ring 0161 496 0000.", "ring [phone]."),
    ("01632 960123", "[phone]"),
    ("0800 123456", "[phone]"),
    ("+1 (202) 555-0123", "[phone]"),
    ("+33 6 12 34 56 78", "[phone]"),
    ("0033 6 12 34 56 78", "[phone]"),
    ("07700 900123 07700 900124", "[phone] [phone]"),
    ("07700 900123/07700 900124", "[phone]/[phone]"),
    ("+33 6 12 34 56 78 07700 900123", "[phone] [phone]"),
]

NOT_PHONES = [
    "on 12/03/2024 at 12:30",
    "12.03.2024 and 01.03.2024 10:15",
    "2024-03-12T10:15:00Z",
    "at 07:30, 19:45:10",
    "£1,200 or £12,345.67 or $1,234,567",
    "order 123456789",
    "order 2079460123",
    "order no. 0012345678",
    "Ref ORD-20240312-0042",
    "v10.0.19041.1 and build 1.0.2345.6789 and Python 3.11.7",
    "version 0.20.1234567",
    "sort code 20-00-00 account 12345678",
    "IMEI 356938035643809",
    "lat 51.5074, lon -0.1278",
    "1234 5678",
    "x07700900123",
    "07700 900 1234",
    "0 0 0 0 0 0 0 0 0 0 0 0",
]


@pytest.mark.parametrize(("text", "expected"), PHONES)
def test_phone_numbers_are_redacted(r: Redactor, text: str, expected: str) -> None:
    assert r.redact(text) == expected
    assert {s.kind for s in r.find(text)} == {"phone"}


@pytest.mark.parametrize("text", NOT_PHONES)
def test_dates_times_money_and_codes_are_not_phone_numbers(r: Redactor, text: str) -> None:
    assert r.find(text) == []


EMAILS = [
    ("mail dave.smith@example.com today", "mail [email] today"),
    ("<jo+tag@mail.example.org>", "<[email]>"),
    ("user@example.co.uk.", "[email]."),
    ("a_b-c@sub-domain.example.com, x@example.org", "[email], [email]"),
    ("ANN.W@EXAMPLE.COM", "[email]"),
    ("mailto:info@example.com", "mailto:[email]"),
]

NOT_EMAILS = ["a@b", "a@b.c", "@example.com", "x@@example.com", "dave@ home", "1.2@3.4", "a@-b.com"]


@pytest.mark.parametrize(("text", "expected"), EMAILS)
def test_email_addresses_are_redacted(r: Redactor, text: str, expected: str) -> None:
    assert r.redact(text) == expected


@pytest.mark.parametrize("text", NOT_EMAILS)
def test_incomplete_addresses_are_not_emails(r: Redactor, text: str) -> None:
    assert [s for s in r.find(text) if s.kind == "email"] == []


POSTCODES = [
    "SW1A 1AA",
    "sw1a1aa",
    "EC1V 9HX",
    "M1 1AE",
    "B33 8TH",
    "CR2 6XH",
    "DN55 1PT",
    "GIR 0AA",
    "W1A 0AX",
    "n1c4ag",
    "EH1 1YZ",
]

NOT_POSTCODES = [
    "QA1 1AA",  # Q never starts a postcode
    "SW1A 1CA",  # C never in the inward code
    "SW1A 1AAB",  # glued to a letter
    "XSW1A 1AA",
    "AB1 CDE",
    "M1",
    "meet at 3am or 9pm",
    "12/03/2024",
    "version 1.2.3",
]


@pytest.mark.parametrize("code", POSTCODES)
def test_postcodes_are_redacted(r: Redactor, code: str) -> None:
    assert r.redact(f"drop it at {code}, thanks") == "drop it at [postcode], thanks"


@pytest.mark.parametrize("text", NOT_POSTCODES)
def test_postcode_lookalikes_are_not_redacted(r: Redactor, text: str) -> None:
    assert [s for s in r.find(text) if s.kind == "postcode"] == []


NAMES = [
    ("Dave Smith said hi", "[name] said hi"),
    ("dave smith said hi", "[name] said hi"),
    ("DAVE\nSMITH", "[name]"),
    ("ask Dave", "ask [name]"),
    ("Smith was there", "[name] was there"),
    ("Dave's car and Smith’s van", "[name]'s car and [name]’s van"),
    ("Dave Smith's car", "[name]'s car"),
    ("James' car and Dave' s", "James' car and [name]' s"),
    ("Annual report by ann", "Annual report by [name]"),
    ("Davey and Daves and Dave123 and dave_x", "Davey and Daves and Dave123 and dave_x"),
    ("Will said he will call Brown", "Will said he will call Brown"),
    ("will brown was late; Will Brown's dog", "[name] was late; [name]'s dog"),
    ("Amy Smith-Jones and amy", "[name] and [name]"),
    ("siobhan o'brien and O’Brien's", "[name] and [name]'s"),
    ("Dave 2 Smith", "[name] 2 [name]"),
    ("Wilkinson, Ann", "[name], [name]"),
]


@pytest.mark.parametrize(("text", "expected"), NAMES)
def test_names_from_contacts(r: Redactor, text: str, expected: str) -> None:
    assert r.redact(text) == expected


def test_contact_labels_and_short_parts_are_not_redacted_alone() -> None:
    red = Redactor(["Mum", "Mum Mobile", "Dave Work", "Jo Li", "Mr Kwame Mensah"])
    assert red.redact("Mum said work is fine") == "Mum said work is fine"
    assert red.redact("mum mobile") == "mum mobile"
    assert red.redact("dave at work, Dave Work") == "[name] at work, [name]"
    assert red.redact("Jo Li and Jo and Li") == "[name] and Jo and Li"
    assert red.redact("Mr Mensah and Kwame") == "Mr [name] and [name]"


def test_extra_names_and_own_common_words() -> None:
    red = Redactor(extra_names=["Priya", "Rose", "Mary Jane", "Al"])
    assert red.redact("Priya met Rose and Mary Jane and Al") == (
        "[name] met Rose and [name] and Al"
    )
    mine = Redactor(["Rose Patel"], common_words={"patel"})
    assert mine.redact("rose and patel and Rose Patel") == "[name] and patel and [name]"


def test_no_names_without_lists(r: Redactor) -> None:
    assert Redactor().redact("Dave Smith and Ann") == "Dave Smith and Ann"


def test_emails_are_never_half_matched_as_names_or_phones(r: Redactor) -> None:
    assert r.redact("dave.smith@example.com") == "[email]"
    assert r.redact("07700900123@example.com") == "[email]"
    # The full name reaches into the address: the address wins, the first name stays a name.
    assert r.redact("Dave smith@example.org") == "[name] [email]"
    only_names = Redactor(CONTACTS, kinds=frozenset({"name"}))
    assert only_names.redact("dave.smith@example.com and Dave") == (
        "dave.smith@example.com and [name]"
    )


def test_overlaps_keep_the_longest_and_spans_are_sorted(r: Redactor) -> None:
    text = "Ann Wilkinson, SW1A 1AA, ann@example.com, 07700 900001"
    spans = r.find(text)
    assert [(text[s.start : s.end], s.kind) for s in spans] == [
        ("Ann Wilkinson", "name"),
        ("SW1A 1AA", "postcode"),
        ("ann@example.com", "email"),
        ("07700 900001", "phone"),
    ]
    assert spans == sorted(spans, key=lambda s: s.start)


def test_kinds_select_what_is_redacted() -> None:
    text = "Dave Smith 07700 900123 dave@example.com SW1A 1AA"
    assert Redactor(CONTACTS, kinds=frozenset({"phone"})).redact(text) == (
        "Dave Smith [phone] dave@example.com SW1A 1AA"
    )
    assert Redactor(CONTACTS, kinds=frozenset({"postcode", "email"})).redact(text) == (
        "Dave Smith 07700 900123 [email] [postcode]"
    )
    assert Redactor(CONTACTS).redact(text) == "[name] [phone] [email] [postcode]"
    with pytest.raises(ValueError, match="unknown redaction kinds"):
        Redactor(kinds=frozenset({"phone", "address"}))


def test_phone_across_a_window_edge_and_past_the_matcher_budget() -> None:
    red = Redactor()
    # 0800 123456 (nine digits) is found only by phonenumbers, which runs in windows.
    words = "lorem ipsum dolor " * (redact.PN_WINDOW // 18 + 1)
    for cut in (redact.PN_WINDOW - 5, redact.PN_WINDOW - 1, redact.PN_WINDOW):
        text = words[:cut] + " 0800 123456 " + words
        assert [text[s.start : s.end] for s in red.find(text)] == ["0800 123456"]
    # Far past the budget of matcher windows the UK and + shapes still apply.
    filler = "ref 12 34 56 78 90 " * (redact.PN_WINDOW // 19 + 1)
    long = filler * (redact.PN_BUDGET * 2) + " 07700 900321 and +33 6 12 34 56 78"
    assert red.redact(long).endswith(" [phone] and [phone]")


def test_recall_counts_found_missed_wrong_kind_and_unplanted() -> None:
    red = Redactor(["Dave Smith"])
    planted = [
        ("call 07700 900123 now", "phone", "07700 900123"),
        ("or 07700 9OO456", "phone", "07700 9OO456"),  # letters O: missed
        ("mail dave@example.com", "email", "dave@example.com"),
        ("Dave Smith and 07700 900999 here", "name", "Dave Smith"),
        ("Dave Smith and 07700 900999 here", "phone", "07700 900999"),
        ("smith@example.org", "name", "smith"),  # inside an e-mail span: another kind
        ("see Ann at SW1A 1AA", "postcode", "SW1A 1AA"),
    ]
    out = recall(red, planted)
    assert set(out) == ALL_KINDS
    assert out["phone"]["planted"] == 3
    assert out["phone"]["found"] == 2
    assert out["phone"]["recall"] == pytest.approx(2 / 3)
    assert out["name"]["planted"] == 2
    assert out["name"]["found"] == 1
    assert out["name"]["found_any_kind"] == 2
    assert out["name"]["recall_any_kind"] == 1.0
    assert out["email"]["found"] == 1
    # smith@example.org overlaps a planted value but is an email, not a planted email
    assert out["email"]["spans"] == 2
    assert out["email"]["unplanted_spans"] == 0
    assert out["postcode"]["recall"] == 1.0
    assert out["phone"]["spans"] == 2
    # nothing unplanted so far; a text with an unplanted number shows up
    more = [*planted, ("Dave rang 07700 900555", "name", "Dave")]
    again = recall(red, more)
    assert again["phone"]["unplanted_spans"] == 1
    assert again["phone"]["spans"] == 3
    assert again["name"]["found"] == 2


def test_recall_uses_whole_occurrences_and_refuses_absent_values() -> None:
    red = Redactor(["Ann Lee"])
    out = recall(red, [("Annual meeting with Ann", "name", "Ann")])
    assert out["name"]["found"] == 1
    assert math.isnan(out["phone"]["recall"])
    with pytest.raises(ValueError, match="planted value 1"):
        recall(red, [("nothing here", "phone", "07700 900123")])
    with pytest.raises(ValueError, match="unknown kind"):
        recall(red, [("x", "address", "x")])


def test_recall_on_a_planted_collection_meets_the_targets() -> None:
    first = ["Priya", "Kwame", "Siobhan", "Tomasz", "Aisling", "Dmitri", "Ngozi", "Lachlan"]
    last = ["Okafor", "Kowalski", "Brennan", "Haddad", "Fairbairn", "Lindqvist", "Achebe"]
    contacts = [f"{f} {s}" for f, s in zip(first, last, strict=False)]
    codes = ["SW1A 1AA", "ec1v 9hx", "M1 1AE", "B338TH", "CR2 6XH", "DN55 1PT", "LS1 4AP"]
    planted: list[tuple[str, str, str]] = []
    for i in range(200):
        number = [f"07700 900{i:03d}", f"+44 7700 900{i:03d}", f"020 7946 0{i:03d}"][i % 3]
        name = contacts[i % len(contacts)]
        part = name.split()[i % 2]
        mail = f"{name.split()[0].lower()}.{i}@example.{'com' if i % 2 else 'org'}"
        code = codes[i % len(codes)]
        text = (
            f"{part} here, on £{i},00 at {i % 24:02d}:15 on {i % 28 + 1}/03/2024 "
            f"ring {number} or {mail}, parcel to {code}. {name}'s order {100000 + i}"
        )
        planted += [
            (text, "phone", number),
            (text, "email", mail),
            (text, "postcode", code),
            (text, "name", part),
            (text, "name", name),
        ]
    out = recall(Redactor(contacts), planted)
    for kind in ("phone", "email", "postcode"):
        assert out[kind]["recall"] >= 0.95, kind
    assert out["name"]["recall"] >= 0.90
    assert all(out[k]["unplanted_spans"] == 0 for k in ALL_KINDS)


HOSTILE = {
    "zeros": "0" * 100_000,
    "at_signs": "a@" * 100_000,
    "dots": "a." * 1_000_000,
    "spaced_zeros": "0 " * 1_000_000,
    "pluses": "+1" * 500_000,
    "brackets": "(0" * 500_000,
    "letters": "a" * 2_000_000 + "@",
    "digits_dashes": "0-" * 1_000_000,
    "postcode_soup": "SW1A1AA" * 300_000,
    "dense_2mb": ("Dave Smith 07700 900123 SW1A 1AA dave@example.com, at 10:30 " * 40_000)[
        :2_000_000
    ],
    "ten_mb": (
        ("the van was parked by the garage on the corner " * 40 + "Dave 07700 900123 ") * 6_000
    )[:10_000_000],
}


BIG = {"dense_2mb", "ten_mb"}


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n in BIG else n for n in sorted(HOSTILE)],
)
def test_hostile_input_finishes(r: Redactor, name: str) -> None:
    text = HOSTILE[name]
    # CPU time, not wall time: other work on the machine does not make the test flaky, and
    # anything worse than linear in these sizes would take minutes.
    began = time.process_time()
    spans = r.find(text)
    assert time.process_time() - began < 5.0
    assert all(a.end <= b.start for a, b in pairwise(spans))
    if name in BIG:  # every planted number is still found, past the matcher's budget too
        assert sum(s.kind == "phone" for s in spans) == text.count("07700 900123")


def test_a_few_thousand_messages_are_quick(r: Redactor) -> None:
    messages = [
        f"Hi Dave, meet at {i % 12}:30 by the garage, bring £{i},00, call 07700 900{i % 1000:03d}"
        for i in range(3000)
    ]
    began = time.process_time()
    out = [r.redact(m) for m in messages]
    assert time.process_time() - began < 2.0
    assert all("[phone]" in o and "[name]" in o for o in out)


_FRAGMENTS = st.sampled_from(
    [
        "Dave",
        "Smith",
        " ",
        "'s",
        "-",
        "@",
        ".",
        "example.com",
        "07700",
        "900123",
        "+44",
        "(0)",
        "SW1A",
        "1AA",
        "12/03/2024",
        "£1,200",
        "Ann",
        "ual",
        "\n",
        "0",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_FRAGMENTS, max_size=40).map("".join))
def test_spans_are_sorted_disjoint_and_markers_replace_them(text: str) -> None:
    red = Redactor(CONTACTS)
    spans = red.find(text)
    assert all(0 <= s.start < s.end <= len(text) and s.kind in ALL_KINDS for s in spans)
    assert all(a.end <= b.start for a, b in pairwise(spans))
    out = red.redact(text)
    assert sum(out.count(f"[{k}]") for k in ALL_KINDS) >= len(spans)
    assert len(out) == len(text) - sum(s.end - s.start for s in spans) + sum(
        len(f"[{s.kind}]") for s in spans
    )


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=0, max_value=999),
    st.sampled_from(["07700 900{:03d}", "+44 7700 900{:03d}", "07700-900-{:03d}"]),
    st.text(alphabet="abcdefg ,.!?\n", max_size=30),
    st.text(alphabet="abcdefg ,.!?\n", max_size=30),
)
def test_a_planted_drama_number_is_always_redacted(
    n: int, form: str, before: str, after: str
) -> None:
    number = form.format(n)
    text = f"{before} {number} {after}"
    spans = Redactor().find(text)
    at = text.index(number)
    assert Span(at, at + len(number), "phone") in spans
