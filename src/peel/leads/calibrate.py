"""Null sets of crimes and the calibration of the chance figure on them.

A null set is what an investigator might pick if there were no series: background crimes of
one type, from one calendar month, within `area_km` of a first one. On each, every vehicle is
scored exactly as in a real search; if the chance figure were exact, the number of vehicles
whose figure is at most e would average e per set. It is not exact (crimes are not covered
independently, rates are estimated), and its error need not be the same at e = 1 as at the
reporting threshold (0.05), where too few null vehicles fall to measure it directly. So the
observed average count per set, N(e), is measured at several e from 1 down to the threshold
and fitted as N(e) = factor * e^gamma (a straight line in logs, each point weighted by its
count); the reported figure is factor * E^gamma. gamma = 1 is a constant factor, as at
first; gamma > 1 says the computed figure is more cautious in the tail than at 1. gamma is
kept within [0.5, 2] and is 1 when fewer than two points have counts. The fit is cached per
background, settings and crime type.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from peel.leads.crimes import Crime
from peel.leads.score import Params

REFERENCE = 1.0
# Where N(e) is counted for the fit: from the reference down to the reporting threshold.
FIT_POINTS = (1.0, 0.5, 0.2, 0.1, 0.05)
GAMMA_RANGE = (0.5, 2.0)


def null_sets(
    pool: Sequence[Crime],
    rng: np.random.Generator,
    *,
    n_sets: int,
    sizes: tuple[int, int] = (4, 10),
    area_km: float = 2.0,
    exclude: set[str] = frozenset(),  # type: ignore[assignment]
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


def fit_tail(figures: Sequence[float], n_sets: int) -> dict[str, Any]:
    """Fit N(e) = factor * e^gamma to the computed figures of every null vehicle (`figures`,
    all sets pooled) over `n_sets` null sets (see the module docstring)."""
    arr = np.asarray(figures, dtype=float)
    counts = {e: int((arr <= e).sum()) for e in FIT_POINTS}
    if n_sets == 0:
        return {"factor": 1.0, "gamma": 1.0, "counts": counts}
    pts = [(e, c) for e, c in counts.items() if c > 0]
    at_ref = counts[REFERENCE] / (n_sets * REFERENCE)
    if len(pts) < 2:
        return {"factor": max(at_ref, 1e-3), "gamma": 1.0, "counts": counts}
    x = np.log([e for e, _ in pts])
    y = np.log([c / n_sets for _, c in pts])
    w = np.array([c for _, c in pts], dtype=float)
    xm, ym = np.average(x, weights=w), np.average(y, weights=w)
    sxx = float(np.sum(w * (x - xm) ** 2))
    gamma = float(np.sum(w * (x - xm) * (y - ym)) / sxx) if sxx > 0 else 1.0
    gamma = float(np.clip(gamma, *GAMMA_RANGE))
    # The line through the weighted centre with that slope.
    factor = float(np.exp(ym - gamma * xm))
    return {"factor": max(factor, 1e-3), "gamma": gamma, "counts": counts}


def calibrated(expected: float, cal: dict[str, Any]) -> float:
    """The reported chance figure for a computed one: factor * E^gamma."""
    return float(cal["factor"]) * max(expected, 0.0) ** float(cal.get("gamma", 1.0))


# Bumped whenever scoring changes, so a cached factor from older code is never reused.
SCORING_VERSION = 4


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


__all__ = [
    "FIT_POINTS",
    "REFERENCE",
    "cache_key",
    "calibrated",
    "fit_tail",
    "null_sets",
    "read_cache",
    "write_cache",
]
