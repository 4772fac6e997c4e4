"""`peel resolve evaluate`: the current run's profiles scored against ground truth.

Truth is either a synthetic city's `truth/person_identity.parquet` (source, record_ref,
person_id: the generator's own answer for every person-bearing row) or a CSV of
`record_id,entity_id` for any ingested source (record ids as resolution writes them,
`<source>:<record key>`, or the bare record key when the CSV names one source's records).
Only records that the truth labels are scored.

Figures:
- pairwise precision, recall and F1 over record pairs placed in one profile;
- B-cubed precision and recall (per record, averaged);
- `false_merge_share`: profiles holding records of two or more real people, over all profiles
  with a labelled record;
- `misattributed_warnings`: warrant and warning-marker records in a profile that also holds
  a record of another real person (the officer at the roadside would see a warning that is
  not this person's).
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from peel.errors import PeelError
from peel.resolve.output import ResolveRun

WARNING_TABLES = ("warrant", "warning_marker")


def truth_labels(truth: Path) -> dict[str, str]:
    """record id -> true entity id, from a truth folder or a CSV."""
    if truth.is_dir():
        path = truth / "person_identity.parquet"
        if not path.exists():
            raise PeelError(f"resolve evaluate: {truth} has no person_identity.parquet")
        t = pq.read_table(path, columns=["source", "record_ref", "person_id"])
        return {
            f"{s}:{r}": str(p)
            for s, r, p in zip(
                t["source"].to_pylist(),
                t["record_ref"].to_pylist(),
                t["person_id"].to_pylist(),
                strict=True,
            )
        }
    out: dict[str, str] = {}
    try:
        with truth.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or {"record_id", "entity_id"} - set(reader.fieldnames):
                raise PeelError(
                    f"resolve evaluate: {truth} must have the columns record_id,entity_id"
                )
            for line, row in enumerate(reader, start=2):
                if not row["record_id"] or not row["entity_id"]:
                    raise PeelError(f"resolve evaluate: {truth} line {line}: empty id")
                out[row["record_id"].strip()] = row["entity_id"].strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise PeelError(f"resolve evaluate: cannot read {truth} ({exc})") from exc
    return out


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def score(run: ResolveRun, labels: dict[str, str]) -> dict[str, Any]:
    clusters = run.clusters()
    records = run.records().select(["record_id", "lake_table"])
    table_of = dict(
        zip(records["record_id"].to_pylist(), records["lake_table"].to_pylist(), strict=True)
    )
    profile_of = dict(
        zip(clusters["record_id"].to_pylist(), clusters["profile_id"].to_pylist(), strict=True)
    )
    if labels and not any(r in profile_of for r in labels):
        # A CSV may name records by their bare key: match on the part after "<source>:".
        by_key: dict[str, list[str]] = defaultdict(list)
        for r in profile_of:
            by_key[r.split(":", 1)[1]].append(r)
        relabelled = {}
        for key, entity in labels.items():
            for r in by_key.get(key, []):
                relabelled[r] = entity
        labels = relabelled
    scored = [r for r in profile_of if r in labels]
    if not scored:
        raise PeelError("resolve evaluate: no record of the run is in the truth given")
    members: dict[str, list[str]] = defaultdict(list)
    for r in scored:
        members[profile_of[r]].append(r)
    entity_size = Counter(labels[r] for r in scored)
    tp = predicted = 0
    b_prec = b_rec = 0.0
    merged_profiles = 0
    misattributed = 0
    for recs in members.values():
        counts = Counter(labels[r] for r in recs)
        predicted += _pairs(len(recs))
        tp += sum(_pairs(c) for c in counts.values())
        for r in recs:
            same = counts[labels[r]]
            b_prec += same / len(recs)
            b_rec += same / entity_size[labels[r]]
        if len(counts) > 1:
            merged_profiles += 1
            misattributed += sum(1 for r in recs if table_of.get(r) in WARNING_TABLES)
    actual = sum(_pairs(c) for c in entity_size.values())
    precision = tp / predicted if predicted else 1.0
    recall = tp / actual if actual else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    n = len(scored)
    return {
        "run_id": run.run_id,
        "records_scored": n,
        "records_unlabelled": len(profile_of) - n,
        "entities": len(entity_size),
        "profiles": len(members),
        "pairs_true": actual,
        "pairs_predicted": predicted,
        "pairs_correct": tp,
        "precision": round(precision, 6),
        "recall": round(recall, 6),
        "f1": round(f1, 6),
        "bcubed_precision": round(b_prec / n, 6),
        "bcubed_recall": round(b_rec / n, 6),
        "false_merge_share": round(merged_profiles / len(members), 6),
        "false_merge_profiles": merged_profiles,
        "misattributed_warnings": misattributed,
        "overrides": run.card()["counts"].get("overrides_merge", 0)
        + run.card()["counts"].get("overrides_split", 0),
    }


def evaluate(run: ResolveRun, truth: Path) -> dict[str, Any]:
    """Score the run, record the figures on its card and return them."""
    figures = score(run, truth_labels(truth))
    figures["truth"] = str(truth)
    card = run.card()
    card["evaluation"] = figures
    run.write_card(card)
    return figures


def errors(run: ResolveRun, labels: dict[str, str], limit: int = 20) -> dict[str, Any]:
    """Ids of a few false merges and missed links, for tuning (no names)."""
    clusters = run.clusters()
    profile_of = dict(
        zip(clusters["record_id"].to_pylist(), clusters["profile_id"].to_pylist(), strict=True)
    )
    by_entity: dict[str, set[str]] = defaultdict(set)
    by_profile: dict[str, set[str]] = defaultdict(set)
    for r, e in labels.items():
        if r in profile_of:
            by_entity[e].add(profile_of[r])
            by_profile[profile_of[r]].add(e)
    merges = [p for p, es in by_profile.items() if len(es) > 1][:limit]
    splits = [e for e, ps in by_entity.items() if len(ps) > 1][:limit]
    return {"false_merges": merges, "split_entities": splits}


def dumps(figures: dict[str, Any]) -> str:
    return json.dumps(figures, indent=2, sort_keys=True)


__all__ = ["errors", "evaluate", "score", "truth_labels"]
