"""`peel evidence simulate`: a review replayed with known labels, to validate the review and
its stopping rule before anyone relies on them.

The replay is continuous active learning with BMI's features, model and batches
(`peel.evidence.bmi`), seeded as BMI is, and Peel's stopping rule (`peel.evidence.stopping`):
after each batch, if the knee method fires (and the review has grown by a tenth since the
last check), a random elusion sample of the unreviewed items is reviewed (it counts as
effort); the review stops when the sample's recall estimate reaches the target, and goes on
otherwise. Everything the rule did is in the result: each check, the estimate and interval
at stop, and the true recall (which a live review never knows).

Input (`load_input`): items as CSV or JSON Lines with `id` and `text`, labels as CSV or JSON
Lines with `id` and `label` (0 or 1). Every bad row is reported by file and line; an item
without a label, or a label without an item, is refused with counts.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from peel.errors import InputRefused
from peel.evidence.bmi import batch_sizes, check_labels, features, ranked, seed_items
from peel.evidence.stopping import elusion_estimate, knee

SAMPLE = 385  # elusion sample: +-5 points on a share at 95%, the usual audit sample
MAX_FIELD = 10_000_000


def simulate(
    texts: Sequence[str],
    labels: Sequence[int],
    *,
    target: float = 0.8,
    seed: int = 1,
    sample: int = SAMPLE,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Replay a review (see the module docstring) and report it in the shape
    `peel evidence simulate --json` prints."""
    if not 0 < target <= 1:
        raise InputRefused(f"--target-recall: {target} is not between 0 and 1")
    y = check_labels(texts, labels)
    n, rel = len(y), int(y.sum())
    rng = np.random.default_rng(seed)
    reviewed = np.zeros(n, bool)
    order: list[int] = []  # everything reviewed, samples included
    gains: list[int] = []  # the ranked review's gain curve (samples left out)
    curve: list[tuple[float, float]] = []
    found = 0

    def review(items: Sequence[int], *, ranked_review: bool) -> None:
        nonlocal found
        for i in items:
            reviewed[i] = True
            order.append(int(i))
            found += int(y[i])
            if ranked_review:
                gains.append((gains[-1] if gains else 0) + int(y[i]))
        curve.append((len(order) / n, found / rel if rel else 1.0))

    checks: list[dict[str, Any]] = []
    stopped = None
    if n:
        review(seed_items(y, rng), ranked_review=True)
    x = features(texts) if n > 1 else None
    last_check = 0
    for b in batch_sizes(max(n - len(order), 0)):
        left = np.flatnonzero(~reviewed)
        if len(left) == 0:
            break
        review(ranked(x, y, np.flatnonzero(reviewed), left)[:b].tolist(), ranked_review=True)
        k = knee(gains)
        if not k.fires or len(order) < 1.1 * last_check:
            continue
        last_check = len(order)
        left = np.flatnonzero(~reviewed)
        if len(left) == 0:
            break
        drawn = rng.choice(left, size=min(sample, len(left)), replace=False)
        review(drawn.tolist(), ranked_review=False)
        est = elusion_estimate(
            found, len(drawn), int(y[drawn].sum()), int((~reviewed).sum()), confidence=confidence
        )
        checks.append(
            {
                "reviewed": len(order),
                "knee_rank": k.rank,
                "slope_ratio": round(k.ratio, 2),
                "sample": est.sample,
                "sample_relevant": est.sample_relevant,
                "estimate": est.recall,
                "interval": [est.low, est.high],
            }
        )
        if est.recall >= target:
            stopped = checks[-1]
            break
    true_recall = found / rel if rel else 1.0
    to_target = next((e for e, r in curve if r >= target - 1e-12), None)
    return {
        "items": n,
        "relevant": rel,
        "target_recall": target,
        "confidence": confidence,
        "effort_to_target": to_target,
        "stopped": stopped is not None,
        "stopped_at_effort": len(order) / n if n else 0.0,
        "recall_at_stop": true_recall,
        "estimate": stopped["estimate"] if stopped else None,
        "interval": stopped["interval"] if stopped else None,
        "random_effort": target,
        "checks": checks,
        "curve": [[round(e, 6), round(r, 6)] for e, r in curve],
    }


@dataclass(frozen=True)
class Row:
    file: str
    line: int
    values: dict[str, str]


def _rows(path: Path, wanted: tuple[str, str], problems: list[str]) -> Iterator[Row]:
    """Rows of a CSV or JSON Lines file with the two `wanted` fields, bad ones reported."""
    name = path.name
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        with path.open("r", encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    doc = json.loads(line)
                except ValueError:
                    problems.append(f"{name}:{n}: not a JSON object")
                    continue
                if not isinstance(doc, dict) or any(k not in doc for k in wanted):
                    problems.append(f"{name}:{n}: needs the fields {', '.join(wanted)}")
                    continue
                yield Row(name, n, {k: str(doc[k]) for k in wanted})
        return
    csv.field_size_limit(MAX_FIELD)
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as f:
        reader = csv.DictReader(f)
        missing = [k for k in wanted if k not in (reader.fieldnames or [])]
        if missing:
            raise InputRefused(f"{name}: missing column(s) {', '.join(missing)}")
        while True:
            try:
                rec = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                problems.append(f"{name}:{reader.line_num}: {e}")
                continue
            if any(rec.get(k) is None for k in wanted):
                problems.append(f"{name}:{reader.line_num}: too few fields")
                continue
            yield Row(name, reader.line_num, {k: str(rec[k]) for k in wanted})


def load_input(items: Path, labels: Path) -> tuple[list[str], list[int], list[str]]:
    """(texts, labels, problems) from the item and label files, matched by id."""
    problems: list[str] = []
    for p in (items, labels):
        if not p.is_file():
            raise InputRefused(f"{p}: no such file")
    texts: dict[str, str] = {}
    for r in _rows(items, ("id", "text"), problems):
        if r.values["id"] in texts:
            problems.append(f"{r.file}:{r.line}: id repeated, left out")
            continue
        texts[r.values["id"]] = r.values["text"]
    marks: dict[str, int] = {}
    for r in _rows(labels, ("id", "label"), problems):
        v = r.values["label"].strip()
        if v not in ("0", "1"):
            problems.append(f"{r.file}:{r.line}: label must be 0 or 1")
            continue
        if r.values["id"] in marks:
            problems.append(f"{r.file}:{r.line}: id repeated, left out")
            continue
        marks[r.values["id"]] = int(v)
    unlabelled = [i for i in texts if i not in marks]
    orphans = [i for i in marks if i not in texts]
    if unlabelled or orphans:
        raise InputRefused(
            f"{len(unlabelled)} item(s) without a label and {len(orphans)} label(s) without an "
            f"item (first: {(unlabelled or orphans)[0]!r})"
        )
    ids = list(texts)
    return [texts[i] for i in ids], [marks[i] for i in ids], problems


__all__ = ["SAMPLE", "load_input", "simulate"]
