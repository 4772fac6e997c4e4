"""A lead search end to end: crimes -> vehicles near them, scored against their own
background -> chance figure calibrated on null sets -> keeper at the time, relevant history,
clone check -> ranked leads, each with an explanation in the products shape (claim, evidence
row ids, arithmetic lines, confidence, code version).

`find_leads` does the analysis; `authorised_find` wraps it in the ANPR access rules and the
audit (governance), for a named user or service identity.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from peel import __version__
from peel.governance.access import Caller, operation
from peel.governance.anpr import require_access
from peel.governance.policy import Policy
from peel.lake import Lake
from peel.lake.engine import DuckDBEngine, Engine
from peel.leads import background, calibrate
from peel.leads.chain import Keeper, attach_history, clone_flags, history_factor, keepers
from peel.leads.crimes import Crime, check_crimes, current_sql
from peel.leads.raised import raise_leads
from peel.leads.score import Params
from peel.leads.search import Candidate, Result, search_many
from peel.leads.window import cameras, read_days
from peel.resolve.output import current_run
from peel.serving import Store

logger = logging.getLogger(__name__)
THRESHOLD = 0.05  # a lead is reported when about this many vehicles or fewer would do as well
CALIBRATION_SETS = 150
CODE_VERSION = f"peel {__version__} leads/2"


def pool_of(engine: Engine, crime_types: set[str]) -> list[Crime]:
    """Every crime of these types with a position and a window (the null sets' pool)."""
    from peel.leads.crimes import _to_crimes

    rows = engine.query(
        "SELECT crime_ref, crime_type, location_x AS x, location_y AS y, committed_from, "
        "committed_to, CAST(row_id AS VARCHAR) AS row_id, _dataset AS dataset "
        f"FROM {current_sql(engine, 'crime', 'crime_ref')} c "
        "WHERE location_x IS NOT NULL AND committed_from IS NOT NULL ORDER BY crime_ref"
    ).to_pylist()
    crimes, _ = _to_crimes([r for r in rows if r["crime_type"] in crime_types])
    return [c for c in crimes if c.window_hours <= 24 * 14]


def calibration(
    lake: Lake,
    engine: Engine,
    bg: background.Background,
    cams: dict[str, tuple[float, float]],
    crime_type: str,
    p: Params,
    *,
    n_sets: int = CALIBRATION_SETS,
    seed: int = 20261205,
) -> dict[str, Any]:
    """The calibration factor for one crime type (cached)."""
    path = lake.settings.data_dir / "leads" / "calibration.json"
    key = calibrate.cache_key(bg.fingerprint, p, crime_type)
    got = calibrate.read_cache(path, key)
    if got is not None and got.get("sets", 0) >= n_sets:
        return got
    t0 = time.perf_counter()
    sets = calibrate.null_sets(
        pool_of(engine, {crime_type}), np.random.default_rng(seed), n_sets=n_sets
    )
    observed = 0
    for res in search_many(engine, bg, cams, sets, p):
        observed += sum(1 for c in res.candidates if c.expected <= calibrate.REFERENCE)
    n = len(sets)
    factor = (observed / (n * calibrate.REFERENCE)) if n else 1.0
    value = {
        "sets": n,
        "observed": observed,
        "factor": max(factor, 1e-3) if n else 1.0,
        "seconds": round(time.perf_counter() - t0, 2),
        "crime_type": crime_type,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    calibrate.write_cache(path, key, value)
    return value


def keeping_days(c: Candidate, crimes: Sequence[Crime]) -> tuple[Any, Any]:
    """The first and last day of the crimes the vehicle was read near (for its keeper)."""
    days = [crimes[i].committed_from.date() for i in c.covered]
    return min(days), max(days)


def ranked(
    top: Sequence[Candidate],
    found: dict[str, list[Keeper]],
    clones: dict[str, dict[str, Any]],
    odds: float,
    cutoff: float = float("inf"),
) -> list[tuple[Candidate, float]]:
    """`top` (in the search's order: chance figure, then score) ordered for presentation, each
    with its history factor (`chain.history_factor`): reported leads (`expected` at or below
    `cutoff`, the threshold before calibration) before the rest, and within each group by the
    chance figure divided by that factor, then the search's own order. The factor orders; it
    never reports, and never lifts a lead below the threshold above a reported one."""
    factors = [history_factor(found.get(c.plate, []), c.plate in clones, odds) for c in top]
    order = sorted(
        range(len(top)),
        key=lambda i: (top[i].expected > cutoff, top[i].expected / factors[i], i),
    )
    return [(top[i], factors[i]) for i in order]


def _explain(
    c: Candidate,
    res: Result,
    cal: dict[str, Any],
    chance_fig: float,
    keepers_: list[Keeper],
    clone: dict[str, Any] | None,
    crime_type: str,
    far_m: float,
    model_version: str,
    rho: float = 0.5,
    history: float = 1.0,
) -> dict[str, Any]:
    n = len(res.crimes)
    p_far_km = far_m / 1000.0
    noun = crime_type.replace("-", " ") if crime_type else "crime"
    cams_used = sorted({cam for i in c.covered for cam, _, _ in c.hits[i]})
    claim = (
        f"read near {len(c.covered)} of {n} {noun} scenes at cameras {', '.join(cams_used)}; "
        f"about {chance_fig:.2g} vehicles would do this by chance"
    )
    if c.far:
        claim += f"; read far away during {len(c.far)} of the windows (counted against it)"
    evidence = [f"crime:{res.crimes[i].row_id}" for i in c.covered]
    evidence += [f"anpr_read:{rid}" for i in c.covered for _, rid, _ in c.hits[i]]
    for f in c.far.values():
        evidence += [r["read"] for r in f["reads"]]
    arithmetic = []
    for i in range(n):
        cr = res.crimes[i]
        w = float(res.query.weights[i])
        if i in c.covered:
            arithmetic.append(
                f"{cr.crime_ref}: window {cr.window_hours:.1f} h, weight {w:.2f}; chance of "
                f"this vehicle there anyway p = {c.prob[i]:.2g}; an involved vehicle is read "
                f"near a scene with chance {rho:g}; adds ln(1 + {w:.2f} x {rho:g} x (1 - p)/p) "
                f"- ln(1 - {w:.2f} x {rho:g}) = {c.gain[i]:.2f}"
            )
        if i in c.far:
            f = c.far[i]
            arithmetic.append(
                f"{cr.crime_ref}: read {p_far_km:.1f} km or more away during the window, which "
                f"rules out {f['excluded_share']:.0%} of it; adds "
                f"ln(1 - {w:.2f} x share) = {f['penalty']:.2f}"
            )
    arithmetic.append(f"score = {c.score:.2f}")
    arithmetic.append(
        f"vehicles considered: {res.considered:,}; expected number scoring {c.score:.2f} or "
        f"more by chance (each crime covered independently at its own rate) = {c.expected:.3g}"
    )
    arithmetic.append(
        f"calibration on {cal['sets']} null sets of background {cal['crime_type']} crimes: "
        f"{cal['observed']} vehicles at or below {calibrate.REFERENCE:g} against "
        f"{cal['sets'] * calibrate.REFERENCE:g} expected -> factor {cal['factor']:.2f}"
    )
    arithmetic.append(f"chance figure = {c.expected:.3g} x {cal['factor']:.2f} = {chance_fig:.3g}")
    if history > 1.0:
        arithmetic.append(
            f"ranked by {chance_fig:.3g} / {history:g} = {chance_fig / history:.3g}: the keeper at "
            f"the time has a recorded history of {noun} (policy leads.history_odds_ratio "
            f"{history:g}); whether the lead is reported depends on {chance_fig:.3g} alone"
        )
    keeper_text = []
    suspect = None
    for k in keepers_:
        if k.row_id:
            evidence.append(f"person_vehicle:{k.row_id}")
        if k.kind != "person":
            keeper_text.append(f"the keeper at the time is a {k.kind} firm, not a person")
            continue
        h = k.history
        bits = []
        if h.get("convictions"):
            bits.append(f"{len(h['convictions'])} {noun} conviction(s)")
        if h.get("crimes"):
            bits.append(f"named on {len(h['crimes'])} {noun} crime(s)")
        if h.get("intelligence"):
            bits.append(f"{len(h['intelligence'])} {noun} intelligence report(s)")
        text = "keeper at the time " + ("has " + ", ".join(bits) if bits else "has no such history")
        keeper_text.append(text)
        for v in h.values():
            evidence += [str(x["record"]) for x in v if "record" in x]
        suspect = suspect or k.profile_id
    if clone is not None:
        keeper_text = [
            "the plate was read at two places faster than travel allows: a possible clone, so "
            "the registered keeper is not presented as the suspect"
        ]
        evidence += list(clone["evidence"])
        suspect = None
    if keeper_text:
        claim += "; " + "; ".join(keeper_text)
    if history > 1.0:
        claim += "; that history counts in the ranking (policy)"
    confidence = float(np.exp(-chance_fig))
    return {
        "claim": claim,
        "evidence": evidence,
        "arithmetic": arithmetic,
        "confidence": round(confidence, 4),
        "confidence_text": f"about {chance_fig:.2g} vehicles would do this by chance",
        "code_version": CODE_VERSION,
        "model_version": model_version,
        "_suspect": suspect,
    }


def find_leads(
    lake: Lake,
    crimes: Sequence[Crime],
    *,
    params: Params | None = None,
    threshold: float = THRESHOLD,
    limit: int = 10,
    calibration_sets: int = CALIBRATION_SETS,
    engine: DuckDBEngine | None = None,
    log_step: Callable[[str], None] = lambda s: None,
    history_odds: float = 1.0,
) -> dict[str, Any]:
    """Ranked leads for these crimes (see the module docstring). `history_odds`: the
    policy's `leads.history_odds_ratio` (1: rank by the ANPR evidence alone; `authorised_find`
    passes the policy's). Logs hold no plates."""
    p = params or Params()
    check_crimes(list(crimes))
    own = engine is None
    eng = engine or lake.engine()
    try:
        t0 = time.perf_counter()
        bg = background.load(lake, eng)
        log_step(
            f"per-plate background: {len(bg.n):,} rows over {bg.weeks:.1f} weeks, "
            + ("cached" if bg.cached else "built")
            + f" (build time {bg.build_seconds:.2f} s)"
        )
        cams = {r["camera_id"]: (r["x"], r["y"]) for r in cameras(eng).to_pylist()}
        types = sorted({c.crime_type for c in crimes})
        crime_type = types[0] if len(types) == 1 else ",".join(types)
        cal = calibration(lake, eng, bg, cams, types[0], p, n_sets=calibration_sets)
        log_step(f"calibration factor {cal['factor']:.2f} from {cal['sets']} null sets")
        t1 = time.perf_counter()
        res = search_many(eng, bg, cams, [list(crimes)], p, keep_reads=limit)[0]
        search_s = time.perf_counter() - t1
        top = [c for c in res.candidates if c.score > 0][:limit]
        plates = [c.plate for c in top]
        found = keepers(eng, plates, {c.plate: keeping_days(c, crimes) for c in top})
        attach_history(
            eng,
            current_run(lake.settings),
            found,
            set(types),
            exclude={c.crime_ref for c in crimes},
        )
        # Impossible journeys on the crimes' days, a day either side.
        day = timedelta(days=1)
        days = read_days((c.committed_from - day, c.committed_to + day) for c in crimes)
        if res.reads is not None and res.read_days == days and set(plates) <= set(res.reads):
            kept = [r for pl in plates for r in res.reads[pl]]
            clones = clone_flags(eng, plates, days=days, reads=kept)
        else:
            clones = clone_flags(eng, plates, days=days, spellings=bg.spellings_of(plates))
        leads = []
        cutoff = threshold / float(cal["factor"])
        order = ranked(top, found, clones, history_odds, cutoff)
        for rank, (c, hf) in enumerate(order, start=1):
            fig = c.expected * float(cal["factor"])
            exp = _explain(
                c,
                res,
                cal,
                fig,
                found.get(c.plate, []),
                clones.get(c.plate),
                crime_type,
                p.far_m,
                f"background {bg.fingerprint}",
                p.rho,
                hf,
            )
            suspect = exp.pop("_suspect")
            leads.append(
                {
                    "rank": rank,
                    "vrm": c.plate,
                    "score": round(c.score, 3),
                    "crimes_covered": [crimes[i].crime_ref for i in c.covered],
                    "chance": fig,
                    "reported": fig <= threshold,
                    "history_factor": hf,
                    "possible_clone": c.plate in clones,
                    "keepers": [asdict(k) for k in found.get(c.plate, [])],
                    "suspect_profile": suspect,
                    "far_away": {crimes[i].crime_ref: f for i, f in c.far.items()},
                    "explanation": exp,
                }
            )
        return {
            "crimes": [c.crime_ref for c in crimes],
            "params": asdict(p),
            "threshold": threshold,
            "history_odds_ratio": history_odds,
            "vehicles_considered": res.considered,
            "vehicles_near": len(res.candidates),
            "background": {
                "rows": len(bg.n),
                "weeks": round(bg.weeks, 2),
                "build_seconds": round(bg.build_seconds, 3),
                "cached": bg.cached,
            },
            "calibration": cal,
            "seconds": {"search": round(search_s, 3), "total": round(time.perf_counter() - t0, 3)},
            "leads": leads,
            "reported": sum(1 for lead in leads if lead["reported"]),
        }
    finally:
        if own:
            eng.close()


def read_times(crimes: Sequence[Crime], margin_min: float) -> tuple[Any, Any]:
    m = timedelta(minutes=margin_min)
    return (
        min(c.committed_from for c in crimes) - m,
        max(c.committed_to for c in crimes) + m,
    )


def authorised_find(
    lake: Lake,
    store: Store,
    policy: Policy,
    caller: Caller,
    crimes: Sequence[Crime],
    *,
    authorisation_id: int | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    **kwargs: Any,
) -> dict[str, Any]:
    """`find_leads` for a caller: the oldest read the search touches must pass the ANPR
    access rules (recent tier, or an authorisation); the search is audited with the crimes
    asked about and the plates returned, and each reported lead is raised as a product
    (`product_id` on the lead; `raised` lists the ids new in this search)."""
    p = kwargs.get("params") or Params()
    oldest, _ = read_times(crimes, p.margin_min)
    query = {"crimes": [c.crime_ref for c in crimes], "radius_m": p.radius_m}
    decision = require_access(
        store,
        policy,
        caller,
        read_time=oldest,
        authorisation_id=authorisation_id,
        object_type="anpr_lead_search",
        query=query,
    )
    # The search runs before the write transaction opens (it takes seconds; on SQLite a
    # transaction held that long would queue every other writer, patrol checks included);
    # nothing is returned until the audit entry below is committed.
    kwargs.setdefault("history_odds", policy.leads.history_odds_ratio)
    out = find_leads(lake, crimes, **kwargs)
    out["access"] = {"tier": decision.tier, "reason": decision.reason}
    with operation(
        store,
        policy,
        caller,
        permission=policy.anpr.permission,
        operation="consultation",
        object_type="anpr_lead_search",
        query=query,
        clock=clock,
    ) as op:
        # Reported leads become products (decisions, evidence pack, oversight), in the same
        # transaction as the audit entry that says who raised them.
        raised = raise_leads(
            op.conn,
            out,
            crimes,
            run=current_run(lake.settings),
            case_reference=caller.case_reference,
            created_by=caller.username,
            synthetic_datasets=synthetic_datasets(lake),
            now=clock(),
        )
        out["raised"] = raised
        op.returned([f"vrm:{lead['vrm']}" for lead in out["leads"]])
        op.returned(f"product:{pid}" for pid in raised)
    return out


def synthetic_datasets(lake: Lake) -> set[str]:
    """Datasets the lake records as synthetic cities (`_cities/<dataset>.json`)."""
    cities = lake.lake_dir / "_cities"
    return {p.stem for p in cities.glob("*.json")} if cities.is_dir() else set()


__all__ = [
    "CODE_VERSION",
    "THRESHOLD",
    "authorised_find",
    "calibration",
    "find_leads",
    "ranked",
    "synthetic_datasets",
]
