"""`peel leads evaluate`: lead search scored against a synthetic city's truth.

Reads only the files the generator wrote under truth/ (crime.parquet with series_id,
series_vehicle.parquet, series_reads.parquet), never generator code. Each query set is a
planted series with one crime dropped at random and one or two unrelated crimes of the same
type, area (within 2 km of the series' middle) and month added. `top1_rate` is the share of
series with at least three camera-covered crimes left in the set (a planted series read in
truth) whose true plate ranks first and passes the reporting threshold. `false_lead_rate` is
the share of null sets (background crimes only) with any lead past the threshold, with its
binomial 95% interval, which should hold the stated chance figure (the threshold).

Leads are ranked as `peel leads find` ranks them: with the keeper's recorded history of the
crime type as the policy's odds ratio (`history_odds`, `leads.history_odds_ratio`) when the
lake has a resolution run, and by the ANPR evidence alone otherwise; `top1_rate_anpr_only`
gives the second figure from the same searches either way.
"""

from __future__ import annotations

import math
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from peel.errors import InputRefused
from peel.lake import Lake
from peel.leads import background, calibrate
from peel.leads.chain import attach_history, clone_flags, keepers
from peel.leads.crimes import Crime
from peel.leads.find import THRESHOLD, calibration, keeping_days, pool_of, ranked
from peel.leads.score import Params
from peel.leads.search import search_many
from peel.leads.window import cameras, read_days
from peel.resolve.output import current_run


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (0.0, 1.0)
    ph = k / n
    d = 1 + z * z / n
    c = (ph + z * z / (2 * n)) / d
    h = z * math.sqrt(ph * (1 - ph) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def _plate(v: str) -> str:
    return v.replace(" ", "").upper()


# Evaluation reads the lake directly, as no user: it scores the method on a synthetic city's
# truth and returns no lead about anyone; a search for a person goes through `find`, which
# runs as a named account under the ANPR access rules and is audited.
RAN_AS = (
    "no user: the evaluation reads the lake directly (not through the ANPR access rules, not "
    "audited) to score the method against a synthetic city's truth; `peel leads find` runs as "
    "a named account (--as) and is audited"
)


def _in_series(s: Any) -> bool:
    return s is not None and int(s) >= 0


def query_sets(
    pool: list[Crime],
    series_of: dict[str, Any],
    vehicles: dict[int, dict[str, Any]],
    covered: set[str],
    rng: np.random.Generator,
) -> tuple[list[list[Crime]], list[dict[str, Any]], list[Crime]]:
    """One query set per planted series: the series with one crime dropped at random and one
    or two background crimes of the same type, month and area (2 km) added, in random order.
    Returns (sets, what each set is about, the background crimes)."""
    by_series: dict[int, list[Crime]] = {}
    for c in pool:
        s = series_of.get(c.crime_ref)
        if s is not None and _in_series(s):
            by_series.setdefault(int(s), []).append(c)
    # Series 0 is a series: `series_of.get(ref, -1) or -1` took it for background (0 is falsy),
    # so its crimes were added to its own query set and drawn into null sets.
    background_pool = [c for c in pool if not _in_series(series_of.get(c.crime_ref))]
    sets, meta = [], []
    for sid in sorted(by_series):
        crimes = sorted(by_series[sid], key=lambda c: c.committed_from)
        drop = int(rng.integers(len(crimes)))
        kept = [c for i, c in enumerate(crimes) if i != drop]
        cx = float(np.mean([c.x for c in crimes]))
        cy = float(np.mean([c.y for c in crimes]))
        month = kept[int(rng.integers(len(kept)))].committed_from
        extra = [
            c
            for c in background_pool
            if c.crime_type == crimes[0].crime_type
            and (c.committed_from.year, c.committed_from.month) == (month.year, month.month)
            and math.hypot(c.x - cx, c.y - cy) <= 2000
        ]
        k = int(rng.integers(1, 3))
        if extra:
            pick = rng.choice(len(extra), size=min(k, len(extra)), replace=False)
            kept += [extra[int(i)] for i in pick]
        order = rng.permutation(len(kept))
        sets.append([kept[int(i)] for i in order])
        meta.append(
            {
                "series_id": sid,
                "how": vehicles[sid]["how"],
                "camera_covered": sum(1 for c in kept if c.crime_ref in covered),
                "true": _plate(vehicles[sid]["vrm_read"]),
            }
        )
    return sets, meta, background_pool


def evaluate(
    lake: Lake,
    truth: Path,
    *,
    params: Params | None = None,
    null_count: int = 500,
    seed: int = 7,
    threshold: float = THRESHOLD,
    draws: int = 1,
    history_odds: float = 1.0,
    limit: int = 10,
) -> dict[str, Any]:
    """The figures above. With `draws` > 1 each series is asked about `draws` times, each
    time with another crime dropped and other crimes added (the first draw is the one a single
    draw makes), and `top1_rate` is over all of them: a city has few series, so one draw's
    rate moves in steps of 1/7 or so."""
    if draws < 1:
        raise InputRefused("draws must be at least 1")
    p = params or Params()
    for name in ("crime.parquet", "series_vehicle.parquet", "series_reads.parquet"):
        if not (truth / name).exists():
            raise InputRefused(f"{truth}: no {name} (not a synthetic city's truth folder)")
    t0 = time.perf_counter()
    crime_truth = pq.read_table(truth / "crime.parquet").to_pylist()
    series_of = {r["crime_ref"]: r["series_id"] for r in crime_truth}
    vehicles = {
        r["series_id"]: r for r in pq.read_table(truth / "series_vehicle.parquet").to_pylist()
    }
    covered = {
        r["crime_ref"]
        for r in pq.read_table(truth / "series_reads.parquet").to_pylist()
        if r["kind"] == "series"
    }
    engine = lake.engine()
    try:
        bg = background.load(lake, engine)
        cams = {r["camera_id"]: (r["x"], r["y"]) for r in cameras(engine).to_pylist()}
        types = sorted({str(v.get("crime_type", "")) for v in vehicles.values()} - {""})
        all_types = {
            r["crime_type"]
            for r in crime_truth
            if r["series_id"] is not None and r["series_id"] >= 0
        }
        pool = pool_of(engine, all_types | set(types))
        sets, meta = [], []
        for d in range(draws):
            rng = np.random.default_rng(seed if d == 0 else [seed, d])
            s_, m_, background_pool = query_sets(pool, series_of, vehicles, covered, rng)
            sets += s_
            meta += [{**m, "draw": d} for m in m_]
        cal = {
            t: calibration(lake, engine, bg, cams, t, p)
            for t in sorted({s[0].crime_type for s in sets})
        }
        results = search_many(engine, bg, cams, sets, p)
        run = current_run(lake.settings) if history_odds > 1.0 else None
        rows = []
        for m, res, crimes in zip(meta, results, sets, strict=True):
            factor = float(cal[crimes[0].crime_type]["factor"])
            plates = [c.plate for c in res.candidates]
            anpr_rank = plates.index(m["true"]) + 1 if m["true"] in plates else None
            fig = res.candidates[anpr_rank - 1].expected * factor if anpr_rank else None
            rank, lifted = anpr_rank, None
            if run is not None:
                # The leads `find` would show, in its order (keeper history as the policy's
                # odds, never for a possible clone); below them the search's own order.
                top = [c for c in res.candidates if c.score > 0][:limit]
                found = keepers(
                    engine, [c.plate for c in top], {c.plate: keeping_days(c, crimes) for c in top}
                )
                attach_history(
                    engine,
                    run,
                    found,
                    {crimes[0].crime_type},
                    exclude={c.crime_ref for c in crimes},
                )
                day = timedelta(days=1)
                days = read_days((c.committed_from - day, c.committed_to + day) for c in crimes)
                plates = [c.plate for c in top]
                clones = clone_flags(engine, plates, days=days, spellings=bg.spellings_of(plates))
                order = ranked(top, found, clones, history_odds, threshold / factor)
                shown = [c.plate for c, _ in order]
                if m["true"] in shown:
                    rank = shown.index(m["true"]) + 1
                    lifted = dict((c.plate, hf) for c, hf in order)[m["true"]] > 1.0
            rows.append(
                {
                    **{k: v for k, v in m.items() if k != "true"},
                    "crimes": len(crimes),
                    "rank": rank,
                    "rank_anpr_only": anpr_rank,
                    "true_keeper_history": lifted,
                    "chance": fig,
                    "hit": rank == 1 and fig is not None and fig <= threshold,
                    "hit_anpr_only": anpr_rank == 1 and fig is not None and fig <= threshold,
                }
            )
        counted = [r for r in rows if r["camera_covered"] >= 3]
        top1 = sum(r["hit"] for r in counted) / len(counted) if counted else None
        top1_anpr = sum(r["hit_anpr_only"] for r in counted) / len(counted) if counted else None
        first = [r for r in counted if r["draw"] == 0]
        top1_first = sum(r["hit"] for r in first) / len(first) if first else None
        by_how: dict[str, list[int]] = {}
        for r in counted:
            by_how.setdefault(str(r["how"]), [0, 0])
            by_how[str(r["how"])][0] += int(r["hit"])
            by_how[str(r["how"])][1] += 1
        # Null sets: background crimes only, of the series' types.
        null_rng = np.random.default_rng(seed + 1)
        nulls = calibrate.null_sets(
            [c for c in background_pool if c.crime_type in {s[0].crime_type for s in sets}],
            null_rng,
            n_sets=null_count,
        )
        false = 0
        for crimes, res in zip(nulls, search_many(engine, bg, cams, nulls, p), strict=True):
            factor = float(cal.get(crimes[0].crime_type, {"factor": 1.0})["factor"])
            if any(c.score > 0 and c.expected * factor <= threshold for c in res.candidates):
                false += 1
        lo, hi = wilson(false, len(nulls))
    finally:
        engine.close()
    rate = false / len(nulls) if nulls else None
    return {
        "truth": str(truth),
        "threshold": threshold,
        "params": {k: v for k, v in vars(p).items()},
        "ran_as": RAN_AS,
        "series": len({r["series_id"] for r in rows}),
        "draws": draws,
        "query_sets": len(rows),
        "series_counted": len(counted),
        "top1_rate": top1,
        "top1_rate_first_draw": top1_first,
        "top1_rate_anpr_only": top1_anpr,
        "history_odds_ratio": history_odds if run is not None else 1.0,
        "ranking": (
            f"keeper history as odds {history_odds:g} (policy leads.history_odds_ratio), "
            f"resolution run {run.run_id}"
            if run is not None
            else "ANPR evidence alone"
            + ("" if history_odds <= 1.0 else " (no resolution run in the lake: no keeper history)")
        ),
        "top1_by_how": {k: {"hits": v[0], "counted": v[1]} for k, v in sorted(by_how.items())},
        "null_sets": len(nulls),
        "false_lead_rate": rate,
        "false_lead_rate_ci95": [lo, hi],
        "stated_chance": threshold,
        "chance_within_ci": bool(nulls) and lo <= threshold <= hi,
        "calibration": cal,
        "by_series": rows,
        "seconds": round(time.perf_counter() - t0, 2),
    }


__all__ = ["RAN_AS", "evaluate", "query_sets", "wilson"]
