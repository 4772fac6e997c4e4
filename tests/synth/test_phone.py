"""The disclosure case's phone: WhatsApp exports that read cleanly, a relevant set at the
right prevalence that no single keyword finds, and personal data recorded exactly (every
planted value where the truth says, and nothing planted that the truth leaves out)."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from peel.evidence.chats import ChatMessage, read_chat
from peel.synth import build_params
from peel.synth.crime import build_crimes
from peel.synth.generate import stream
from peel.synth.geo import build_borough
from peel.synth.phone import CASE_DIR, CASE_REFERENCE, write_phone_case
from peel.synth.population import build_people
from peel.synth.vehicles import build_vehicles

DRAMA = re.compile(r"(07700900\d{3}|02079460\d{3}|01134960\d{3}|01614960\d{3})")
POSTCODE = re.compile(r"[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}", re.IGNORECASE)
# What a careful redactor would look for, to check that the truth leaves nothing out.
PHONE_LIKE = re.compile(r"[+(]?\d[\d ()-]{8,}\d")
EMAIL_LIKE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
CITY_POSTCODE_LIKE = re.compile(r"\bL[XY]\d ?\d[A-Z]{2}\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def city() -> dict[str, Any]:
    p = build_params("tiny")
    b = build_borough(p, stream(5, "geography"))
    people, addr = build_people(p, b, stream(5, "people"))
    veh = build_vehicles(p, people, stream(5, "vehicles"))
    crimes, series, _, _ = build_crimes(p, b, people, addr, veh, stream(5, "crime"))
    return dict(p=p, people=people, addr=addr, crimes=crimes, series=series)


def _write(out: Path, city: dict[str, Any], seed: int) -> dict[str, Any]:
    return write_phone_case(out, np.random.default_rng(seed), **city)


@pytest.fixture(scope="module")
def case(city: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("phone")
    counts = _write(out, city, 1)
    ev, tr = out / "exports" / "evidence" / CASE_DIR, out / "truth" / "evidence" / CASE_DIR
    chats = {f.name: read_chat(f) for f in sorted(ev.glob("chat-*.txt"))}
    with (tr / "relevant.csv").open(encoding="utf-8", newline="") as f:
        relevant = list(csv.DictReader(f))
    with (tr / "pii.csv").open(encoding="utf-8", newline="") as f:
        pii = list(csv.DictReader(f))
    with (ev / "contacts.csv").open(encoding="utf-8", newline="") as f:
        contacts = list(csv.DictReader(f))
    return dict(
        out=out,
        counts=counts,
        chats=chats,
        relevant=relevant,
        pii=pii,
        contacts=contacts,
        meta=json.loads((tr / "case.json").read_text(encoding="utf-8")),
        messages={(name, m.line): m for name, c in chats.items() for m in c.messages},
    )


def _national(phone: str) -> str:
    digits = re.sub(r"[^\d]", "", phone)
    return "0" + digits[2:] if phone.startswith("+44") else digits


def _covered(spans: list[tuple[int, int]], a: int, b: int) -> bool:
    return any(s <= a and b <= e for s, e in spans)


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(folder.rglob("*"))
        if f.is_file()
    }


def test_every_chat_reads_cleanly_in_both_layouts(case: dict[str, Any]) -> None:
    chats = case["chats"]
    assert len(chats) >= 5
    for c in chats.values():
        assert c.problems == []
        assert c.date_order == "DMY" and not c.date_order_ambiguous
    assert {c.layout for c in chats.values()} == {"android", "iphone"}
    messages: list[ChatMessage] = list(case["messages"].values())
    assert 2000 <= len(messages) <= 5000
    kinds = Counter(m.kind for m in messages)
    assert kinds["system"] >= 8 and kinds["media"] >= 20
    assert any("end-to-end encrypted" in m.text for m in messages if m.kind == "system")
    assert any(" added " in m.text for m in messages if m.kind == "system")
    assert sum("\n" in m.text for m in messages) >= 20  # multi-line messages
    assert any(c["group"] for c in case["meta"]["chats"])
    assert sum(not c["group"] for c in case["meta"]["chats"]) >= 3
    # A few months of the synthetic year.
    times = [m.sent_at for m in messages]
    assert min(times).year == max(times).year == 2024
    assert (max(times) - min(times)).days >= 60


def test_relevant_set_covers_every_message_at_the_right_prevalence(case: dict[str, Any]) -> None:
    rows = case["relevant"]
    keys = [(r["file"], int(r["line"])) for r in rows]
    assert len(keys) == len(set(keys))
    assert set(keys) == set(case["messages"])  # every message, and only message starts
    flags = [int(r["relevant"]) for r in rows]
    assert set(flags) == {0, 1}
    assert 0.02 <= sum(flags) / len(flags) <= 0.05
    rel = [case["messages"][k] for k, f in zip(keys, flags, strict=True) if f]
    assert all(m.kind == "message" for m in rel)
    assert len({m.sender for m in rel}) >= 3
    assert len({k[0] for k, f in zip(keys, flags, strict=True) if f}) >= 3
    assert sum(len(m.text.split()) <= 3 for m in rel) >= 5  # only meaningful in context
    meta = case["meta"]
    assert meta["reference"] == CASE_REFERENCE == case["counts"]["reference"]
    assert meta["counts"]["relevant"] == sum(flags) and meta["counts"]["messages"] == len(rows)


def test_no_single_word_finds_the_relevant_set(case: dict[str, Any]) -> None:
    """The review is hard: the best one-word search (by F1) misses most of it or drowns it."""
    words: list[set[str]] = []
    flags = []
    for r in case["relevant"]:
        m = case["messages"][(r["file"], int(r["line"]))]
        words.append(set(re.findall(r"[a-z']+", m.text.lower())))
        flags.append(int(r["relevant"]))
    n_rel = sum(flags)
    hits: Counter[str] = Counter()
    true_hits: Counter[str] = Counter()
    for ws, f in zip(words, flags, strict=True):
        hits.update(ws)
        if f:
            true_hits.update(ws)
    best = max(2 * true_hits[w] / (hits[w] + n_rel) for w in true_hits)
    assert best < 0.35
    # ... and everyday talk uses the case's words.
    everyday = set().union(*(ws for ws, f in zip(words, flags, strict=True) if not f))
    assert {"car", "job", "gaff", "outside", "police", "selling"} <= everyday


def test_personal_data_is_recorded_exactly(case: dict[str, Any]) -> None:
    contacts = case["contacts"]
    assert list(contacts[0]) == ["name", "phone", "email"] and len(contacts) >= 30
    names = {c["name"] for c in contacts}
    forenames = {c["name"].split(" ")[0].lower() for c in contacts}
    name_words = {w.lower() for n in names for w in n.split(" ")}
    for c in contacts:
        assert DRAMA.fullmatch(_national(c["phone"])), c["phone"]
        assert c["email"] == "" or c["email"].endswith(
            ("@example.com", "@example.org", "@example.net")
        )
    by_message: dict[tuple[str, int], list[tuple[str, str]]] = {}
    for r in case["pii"]:
        key = (r["file"], int(r["line"]))
        by_message.setdefault(key, []).append((r["kind"], r["value"]))
        text = case["messages"][key].text
        assert r["value"] in text, key
        v = r["value"]
        if r["kind"] == "phone":
            assert DRAMA.fullmatch(_national(v)), v
        elif r["kind"] == "email":
            assert v.lower().endswith(("@example.com", "@example.org", "@example.net")), v
        elif r["kind"] == "postcode":
            assert POSTCODE.fullmatch(v), v
        else:
            assert r["kind"] == "name" and (v in names or v.lower() in forenames), v
    kinds = Counter(r["kind"] for r in case["pii"])
    assert min(kinds[k] for k in ("phone", "email", "postcode", "name")) >= 150, kinds
    values = {r["value"] for r in case["pii"]}
    assert any(" " in v for v in values if POSTCODE.fullmatch(v))
    assert any(" " not in v for v in values if POSTCODE.fullmatch(v))
    assert any(v.islower() for v in values if POSTCODE.fullmatch(v))
    assert {"+44", "(0"} <= {v[:3] if v.startswith("+") else v[:2] for v in values}
    possessive = [
        r
        for r in case["pii"]
        if r["kind"] == "name"
        and r["value"] + "'s" in case["messages"][(r["file"], int(r["line"]))].text
    ]
    assert len(possessive) >= 20
    # Nothing a redactor should find is missing from the truth.
    for key, m in case["messages"].items():
        found = by_message.get(key, [])
        spans = [(i.start(), i.end()) for _, v in found for i in re.finditer(re.escape(v), m.text)]
        for pattern in (PHONE_LIKE, EMAIL_LIKE, CITY_POSTCODE_LIKE):
            for hit in pattern.finditer(m.text):
                assert _covered(spans, hit.start(), hit.end()), (key, pattern.pattern)
        for hit in re.finditer(r"[A-Za-z']+", m.text):
            word = hit.group().lower().removesuffix("'s")
            if word in name_words:
                assert _covered(spans, hit.start(), hit.start() + len(word)), key


def test_same_seed_same_bytes_other_seed_differs(
    city: dict[str, Any], case: dict[str, Any], tmp_path: Path
) -> None:
    again = _write(tmp_path / "again", city, 1)
    assert again == case["counts"]
    first = _digest(case["out"])
    assert _digest(tmp_path / "again") == first and len(first) >= 8
    _write(tmp_path / "other", city, 2)
    other = _digest(tmp_path / "other")
    assert set(other) == set(first)
    assert all(other[f] != first[f] for f in first if "chat-" in f or f.endswith("pii.csv"))
