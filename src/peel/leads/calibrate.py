"""Null sets of crimes and the calibration of the chance figure on them.

A null set is what an investigator might pick if there were no series: background crimes of
one type, from one calendar month, within `area_km` of a first one. On each, every vehicle is
scored exactly as in a real search; if the chance figure were exact, the number of vehicles
whose figure is at most e would average e per set. The calibration factor is the observed
average at e = `REFERENCE` divided by `REFERENCE`, and the reported figure is the computed one
times that factor. The factor is cached per background, settings and crime type.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from peel.leads.crimes import Crime
from peel.leads.score import Params

REFERENCE = 1.0


def null_sets(
    pool: Sequence[Crime],
    rng: np.random.Generator,
    *,
    n_sets: int,
    sizes: tuple[int, int] = (4, 10),
    area_km: float = 2.0,
    exclude: AbstractSet[str] = frozenset(),
) -> list[list[Crime]]:
    """`n_sets` sets of background crimes (same type, same month, close together)."""
    usable = [c for c in pool if c.crime_ref not in exclude]
    if not usable:
        return []
    xy = np.array([[c.x, c.y] for c in usable])
    month = np.array([c.committed_from.year * 12 + c.committed_from.month for c in usable])
    kind = np.array([c.crime_type for c in usable])
    out: list[list[Crime]] = []
    tries = 0
    while len(out) < n_sets and tries < n_sets * 20:
        tries += 1
        a = int(rng.integers(len(usable)))
        k = int(rng.integers(sizes[0], sizes[1] + 1))
        ok = (month == month[a]) & (kind == kind[a]) & (np.hypot(*(xy - xy[a]).T) <= area_km * 1000)
        idx = np.flatnonzero(ok)
        if len(idx) < k:
            continue
        pick = rng.choice(idx, size=k, replace=False)
        out.append([usable[int(i)] for i in pick])
    return out


# Bumped whenever scoring changes, so a cached factor from older code is never reused.
SCORING_VERSION = 3


def cache_key(fingerprint: str, p: Params, crime_type: str) -> str:
    return json.dumps(
        {"bg": fingerprint, "params": asdict(p), "type": crime_type, "v": SCORING_VERSION},
        sort_keys=True,
    )


def read_cache(path: os.PathLike[str], key: str) -> dict[str, Any] | None:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    got = data.get(key)
    return got if isinstance(got, dict) else None


def write_cache(path: os.PathLike[str], key: str, value: dict[str, Any]) -> None:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    data[key] = value
    tmp = str(path) + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


__all__ = ["REFERENCE", "cache_key", "null_sets", "read_cache", "write_cache"]
