"""`peel evidence evaluate`: the disclosure review scored on a synthetic city's phone case.

For each case under `truth/evidence/<case>/` (the generator's answers) and its material under
`exports/evidence/<case>/`:

- **Redaction recall**: every phone number, e-mail address, postcode and contact name the
  generator planted in a message, and whether the redactor (built from the phone's own
  contact list, as `peel evidence ingest` keeps it) covers it; the figures per kind, with
  the spans that cover nothing planted (false positives or unplanted personal data).
- **The review**: the messages replayed with the generator's relevant set through the same
  code as `peel evidence simulate` (continuous active learning, the knee method and an
  elusion sample): effort to the target recall, where the rule stopped, the true recall
  there and whether its interval covers it; and BMI's effort to 95% recall on the same
  messages.

Only this module reads `truth/` (DESIGN: an analysis never does).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from peel.errors import InputRefused
from peel.evidence.bmi import replay_bmi
from peel.evidence.chats import Problem, read_chat
from peel.evidence.ingest import read_contacts
from peel.evidence.redact import Redactor, recall
from peel.evidence.simulate import simulate


def _messages(folder: Path) -> dict[tuple[str, int], str]:
    out: dict[tuple[str, int], str] = {}
    for f in sorted(folder.glob("*.txt")):
        for m in read_chat(f).messages:
            out[(f.name, m.line)] = m.text
    return out


def evaluate_case(city: Path, truth_case: Path, *, seed: int, target: float) -> dict[str, Any]:
    meta = json.loads((truth_case / "case.json").read_text(encoding="utf-8"))
    folder = city / "exports" / "evidence" / truth_case.name
    if not folder.is_dir():
        raise InputRefused(f"no material for case {meta.get('reference')} at {folder}")
    texts = _messages(folder)
    problems: list[Problem] = []
    contacts = read_contacts(folder / "contacts.csv", problems)
    redactor = Redactor(contact_names=[c[0] for c in contacts])
    planted: list[tuple[str, str, str]] = []
    with (truth_case / "pii.csv").open(encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            text = texts.get((r["file"], int(r["line"])))
            if text is None:
                raise InputRefused(f"pii.csv names {r['file']}:{r['line']}, not a message")
            planted.append((text, r["kind"], r["value"]))
    red = recall(redactor, planted)
    keys: list[tuple[str, int]] = []
    labels: list[int] = []
    with (truth_case / "relevant.csv").open(encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            keys.append((r["file"], int(r["line"])))
            labels.append(int(r["relevant"]))
    items = [texts[k] for k in keys]
    sim = simulate(items, labels, target=target, seed=seed)
    bmi = replay_bmi(items, labels, seed=seed, target=0.95)
    lo, hi = sim["interval"] if sim["interval"] else (None, None)
    return {
        "case": meta.get("reference"),
        "messages": len(items),
        "relevant": int(sum(labels)),
        "contacts": len(contacts),
        "redaction": {
            k: {
                "planted": v["planted"],
                "found": v["found"],
                "recall": round(float(v["recall"]), 4) if v["planted"] else None,
                "unplanted_spans": v["unplanted_spans"],
            }
            for k, v in red.items()
        },
        "review": {
            "target_recall": target,
            "seed": seed,
            "effort_to_target": sim["effort_to_target"],
            "stopped": sim["stopped"],
            "stopped_at_effort": sim["stopped_at_effort"],
            "recall_at_stop": sim["recall_at_stop"],
            "interval": sim["interval"],
            "interval_covers": lo is not None and lo <= sim["recall_at_stop"] <= hi,
            "bmi_effort_to_95": bmi.effort_to(0.95),
        },
    }


def evaluate(truth: Path, *, seed: int = 1, target: float = 0.8) -> dict[str, Any]:
    cases = sorted(p for p in (truth / "evidence").glob("*") if (p / "case.json").is_file())
    if not cases:
        raise InputRefused(f"{truth}: no disclosure case in this truth folder")
    return {"cases": [evaluate_case(truth.parent, c, seed=seed, target=target) for c in cases]}


__all__ = ["evaluate", "evaluate_case"]
