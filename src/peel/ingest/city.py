"""Ingest a synthetic city: every export its manifest lists, with the source that reads it.

Only the manifest is read (file names, sources, generator version), never `truth/`. The
manifest is recorded in the lake under `_cities/<dataset>.json` with the city's folder, so that
`evaluate` commands can find the truth of the city the lake holds.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from peel.errors import InputRefused
from peel.ingest.pipeline import BatchReport, ingest_files, summarise
from peel.lake import Lake
from peel.lake.catalog import Manifest
from peel.sources import all_mappings


def read_city_manifest(city: Path) -> dict[str, Any]:
    path = city / "manifest.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputRefused(f"{path}: not a synthetic city manifest ({e})") from None
    if not isinstance(doc, dict) or doc.get("generator") != "peel.synth" or "exports" not in doc:
        raise InputRefused(f"{path}: not a synthetic city manifest (no generator or exports)")
    return doc


def ingest_city(
    lake: Lake,
    city: Path,
    dataset: str,
    on_file: Callable[[BatchReport], None] | None = None,
    before_commit: Callable[[Manifest], None] | None = None,
) -> dict[str, Any]:
    """Ingest every export of a city as a synthetic dataset; returns summarise() of all."""
    manifest = read_city_manifest(city)
    mappings = all_mappings()
    reports: list[BatchReport] = []
    by_source: dict[str, list[Path]] = {}
    for name, source in manifest["exports"].items():
        if source not in mappings:
            raise InputRefused(f"{city}: export {name} needs source {source!r}, which is unknown")
        by_source.setdefault(source, []).append(city / "exports" / name)
    for source in sorted(by_source):
        done = ingest_files(
            lake,
            by_source[source],
            mappings[source],
            dataset=dataset,
            synthetic=True,
            on_file=on_file,
            before_commit=before_commit,
        )
        reports += [_from_json(b) for b in done["batches"]]
    record = {"dataset": dataset, "city": str(city.resolve()), "manifest": manifest}
    target = lake.lake_dir / "_cities" / f"{dataset}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    return summarise(reports)


def _from_json(doc: dict[str, Any]) -> BatchReport:
    return BatchReport(**doc)


__all__ = ["ingest_city", "read_city_manifest"]
