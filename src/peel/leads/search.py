"""One or many lead searches over the lake: the window query, the background rates, the
scores with far-away reads against them, and the chance figure before calibration.

Many query sets run together (calibration, evaluation): one window query for all of them and
one query for the far-away reads of the vehicles that could matter.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypedDict

import numpy as np
import pyarrow as pa

from peel.lake.engine import Engine
from peel.leads.background import Background
from peel.leads.crimes import Crime
from peel.leads.score import (
    Hits,
    Params,
    PlateHits,
    Query,
    chance,
    far_penalty,
    gains,
    null_expectation,
    other_vehicle,
    prepare,
)
from peel.leads.window import (
    ALL_TIME,
    NO_SPELLINGS,
    PLATE,
    plate_reads,
    read_days,
    window_hits,
    windows_table,
)

# Only vehicles whose uncorrected chance figure is at most this get the far-away check (it can
# only lower a score, so it cannot move anyone else across the threshold).
FAR_CHECK_BELOW = 5.0


class FarReads(TypedDict):
    """Reads of a vehicle far from a scene during its window, and what they cost its score."""

    penalty: float
    excluded_share: float
    reads: list[dict[str, str]]


@dataclass(slots=True)
class Candidate:
    """A vehicle read near some of the crimes. `gain` and `prob` are indexed by crime (every
    crime of the set, or the covered ones)."""

    plate: str
    score: float
    covered: list[int]
    hits: Mapping[int, list[tuple[str, str, float]]]
    gain: Mapping[int, float] | np.ndarray
    prob: Mapping[int, float] | np.ndarray
    far: dict[int, FarReads] = field(default_factory=dict)
    expected: float = float("inf")  # E(score) before calibration


@dataclass
class Result:
    crimes: Sequence[Crime]
    query: Query
    candidates: list[Candidate]  # best first
    considered: int
    # A single search's reads of its leading plates on the crimes' days and a day either side
    # (plate -> `window.plate_reads` rows), fetched once for the far-away reads and kept for
    # the clone check (`search_many(keep_reads=...)`); None when not fetched.
    reads: dict[str, list[dict[str, Any]]] | None = None
    read_days: set[str] = field(default_factory=set)


def _far_reads(
    engine: Engine, spans: list[tuple[int, str, datetime, datetime]], bg: Background
) -> dict[tuple[int, str], list[tuple[float, float, float, str, str]]]:
    """Reads of (set, plate) within the spans: (time, x, y, read id, camera) per key (a read
    inside several spans of one key is listed once). The reads are found by the plates' raw
    spellings where the background knows them (a third of the cost of normalising every
    read of the crimes' days)."""
    if not spans:
        return {}
    spell = bg.spellings_of(sorted({s[1] for s in spans}))
    table = pa.table(
        {
            "qid": pa.array([s[0] for s in spans], pa.int64()),
            "plate": pa.array([s[1] for s in spans], pa.string()),
            "lo": pa.array([s[2] for s in spans], pa.timestamp("us", tz="UTC")),
            "hi": pa.array([s[3] for s in spans], pa.timestamp("us", tz="UTC")),
        }
    )
    if spell is None:
        plate_of, via = PLATE.format(c="r.vrm"), ""
    else:
        plate_of, via = "sp.plate", "JOIN peel_leads_spellings sp ON sp.vrm = r.vrm"
    with (
        engine.temp_table("peel_leads_spans", table),
        engine.temp_table("peel_leads_spellings", spell if spell is not None else NO_SPELLINGS),
    ):
        rows = engine.query(
            f"""
            WITH cams AS (
              SELECT camera_id, location_x AS x, location_y AS y,
                     row_number() OVER (PARTITION BY camera_id ORDER BY _seq DESC) AS rn
              FROM {engine.table_sql("anpr_camera")}
            )
            SELECT s.qid, s.plate, r.read_at, CAST(r.row_id AS VARCHAR) AS read_id,
                   r.camera_id, c.x, c.y
            FROM {engine.table_sql("anpr_read", read_days((s[2], s[3]) for s in spans))} r
            {via}
            JOIN (SELECT DISTINCT qid, plate, lo, hi FROM peel_leads_spans) s
              ON {plate_of} = s.plate AND r.read_at >= s.lo AND r.read_at <= s.hi
            JOIN cams c ON c.camera_id = r.camera_id AND c.rn = 1
            WHERE c.x IS NOT NULL
            QUALIFY row_number() OVER (PARTITION BY s.qid, s.plate, r.row_id ORDER BY s.lo) = 1
            ORDER BY s.qid, s.plate, r.read_at, read_id
            """
        ).to_pylist()
    out: dict[tuple[int, str], list[tuple[float, float, float, str, str]]] = defaultdict(list)
    for r in rows:
        out[(r["qid"], r["plate"])].append(
            (r["read_at"].timestamp(), r["x"], r["y"], r["read_id"], r["camera_id"])
        )
    return out


def _far_from_kept(
    engine: Engine, res: Result, bg: Background, keep: int, slack: timedelta
) -> dict[tuple[int, str], list[tuple[float, float, float, str, str]]]:
    """`_far_reads` for a single search, from one `plate_reads` query over the crimes' days
    and a day either side for the plates the far-away check needs and the `keep` leading
    ones, which stay on `res` (`Result.reads`) for the clone check."""
    far_plates = [c.plate for c in res.candidates if c.expected <= FAR_CHECK_BELOW]
    leading = [c.plate for c in res.candidates if c.score > 0][: keep + len(far_plates)]
    plates = sorted(set(far_plates) | set(leading))
    day = timedelta(days=1)
    days = read_days((c.committed_from - day, c.committed_to + day) for c in res.crimes)
    kept: dict[str, list[dict[str, Any]]] = {pl: [] for pl in plates}
    if plates:
        rows = plate_reads(
            engine, plates, ALL_TIME[0], ALL_TIME[1], days=days, spellings=bg.spellings_of(plates)
        ).to_pylist()
        for r in rows:
            kept[r["plate"]].append(r)
    res.reads, res.read_days = kept, days
    windows = [(c.committed_from - slack, c.committed_to + slack) for c in res.crimes]
    far: dict[tuple[int, str], list[tuple[float, float, float, str, str]]] = {}
    for pl in far_plates:
        got = [
            (r["read_at"].timestamp(), r["x"], r["y"], r["read_id"], r["camera_id"])
            for r in kept[pl]
            if r["x"] is not None
            and r["y"] is not None
            and any(lo <= r["read_at"] <= hi for lo, hi in windows)
        ]
        if got:
            far[(0, pl)] = got
    return far


def search_many(
    engine: Engine,
    bg: Background,
    cams: dict[str, tuple[float, float]],
    sets: Sequence[Sequence[Crime]],
    p: Params,
    *,
    keep_reads: int = 0,
) -> list[Result]:
    """Score each set of crimes (see the module docstring). `keep_reads`: for a single set,
    fetch the reads of the `keep_reads` leading plates (and of those the far-away check
    needs) on the crimes' days and a day either side, in the one query that also gives the
    far-away reads, and keep them on the result (`Result.reads`) for the clone check of the
    plates shown; the leads shown after far-away reads are always among them (a far-away read
    only lowers a score, so each plate it moves out of the leading places is one the far-away
    check fetched)."""
    flat = [c for s in sets for c in s]
    qids = [q for q, s in enumerate(sets) for _ in s]
    wt = windows_table(flat, margin_min=p.margin_min, set_ids=qids)
    # ci within the set, not within the flat list.
    offsets = np.cumsum([0] + [len(s) for s in sets])
    # The hits come ordered by set, so each set's are one slice of the table.
    hits = window_hits(engine, wt, radius_m=p.radius_m)
    qid = hits.column("qid").to_numpy(zero_copy_only=False)
    bounds = np.searchsorted(qid, np.arange(len(sets) + 1))
    results: list[Result] = []
    for q, crimes in enumerate(sets):
        part = hits.slice(int(bounds[q]), int(bounds[q + 1] - bounds[q]))
        ci = part.column("ci").to_numpy(zero_copy_only=False) - int(offsets[q])
        results.append(_score_set(crimes, Hits.from_arrow(part, ci), bg, cams, p))
    # Far-away reads for the vehicles that could matter, all sets in one query: around each
    # crime's window (an hour either side: a read further off in time is more than an hour's
    # drive from the scene in `far_penalty`'s terms only for scenes over `speed_kmh` km
    # away), so the query opens the crimes' days, not every day between them.
    slack = timedelta(hours=1)
    if keep_reads > 0 and len(results) == 1:
        far = _far_from_kept(engine, results[0], bg, keep_reads, slack)
    else:
        spans = []
        for q, res in enumerate(results):
            windows = [(c.committed_from - slack, c.committed_to + slack) for c in res.crimes]
            for cand in res.candidates:
                if cand.expected <= FAR_CHECK_BELOW:
                    spans += [(q, cand.plate, lo, hi) for lo, hi in windows]
        far = _far_reads(engine, spans, bg)
    for q, res in enumerate(results):
        touched = False
        for cand in res.candidates:
            reads = far.get((q, cand.plate))
            if not reads:
                continue
            for i, crime in enumerate(res.crimes):
                own = [(t, *cams[cam]) for cam, _, t in cand.hits.get(i, []) if cam in cams]
                pen, share = far_penalty(
                    crime,
                    [(t, x, y) for t, x, y, _, _ in reads],
                    float(res.query.weights[i]),
                    p,
                    near=own,
                )
                if pen < 0:
                    a = crime.committed_from.timestamp()
                    b = crime.committed_to.timestamp()
                    shown = [
                        {"read": f"anpr_read:{rid}", "camera": cam}
                        for t, x, y, rid, cam in reads
                        if a <= t <= b
                        and np.hypot(x - crime.x, y - crime.y) >= p.far_m
                        and not other_vehicle((t, x, y), own, p)
                    ]
                    cand.far[i] = {"penalty": pen, "excluded_share": share, "reads": shown[:5]}
                    cand.score += pen
                    touched = True
        if touched:
            _expect(res, p)
    return results


def _score_set(
    crimes: Sequence[Crime],
    hits: Hits | list[dict[str, object]],
    bg: Background,
    cams: dict[str, tuple[float, float]],
    p: Params,
) -> Result:
    q = prepare(crimes, hits, bg, cams, p)
    h = q.hits
    assert h is not None and q.hit_plates is not None
    n = len(crimes)
    # A plate the background does not know yet (-1) gets the floor rate.
    probs = chance(q.lam_rows(q.hit_plates))
    all_gains = gains(probs, q.weights, p)
    # Which crimes each plate covers, and its score: the gains of those crimes added in the
    # crimes' order (as a sum over the covered list would; adding 0.0 changes nothing).
    cover = np.zeros((len(h.plates), n), bool)
    cover[h.plate, h.ci] = True
    scores = np.zeros(len(h.plates))
    for i in range(n):
        scores += np.where(cover[:, i], all_gains[:, i], 0.0)
    rows, cols = np.nonzero(cover)
    cols_list = cols.tolist()
    cut = np.searchsorted(rows, np.arange(len(h.plates) + 1)).tolist()
    # Each plate's hits (row numbers, in the hits' order), read only if the plate is shown.
    by_plate = np.argsort(h.plate, kind="stable")
    at = np.searchsorted(h.plate[by_plate], np.arange(len(h.plates) + 1)).tolist()
    cands = [
        Candidate(
            plate=plate,
            score=float(scores[k]),
            covered=cols_list[cut[k] : cut[k + 1]],
            hits=PlateHits(h, by_plate[at[k] : at[k + 1]]),
            gain=all_gains[k],
            prob=probs[k],
        )
        for k, plate in enumerate(h.plates)
    ]
    res = Result(crimes, q, cands, q.plates)
    _expect(res, p)
    return res


def _expect(res: Result, p: Params) -> None:
    positive = [c for c in res.candidates if c.score > 0]
    if positive:
        e, n = null_expectation(res.query, [c.score for c in positive], p)
        for c, v in zip(positive, e, strict=True):
            c.expected = float(v)
        res.considered = n
    for c in res.candidates:
        if c.score <= 0:
            c.expected = float(res.considered)
    # By chance figure, then score, then plate: sorted as numbers (a key tuple per candidate
    # cost 0.05 s a search at tens of thousands), the plate by its rank in text order.
    cands = res.candidates
    plates = [c.plate for c in cands]
    by_text = np.empty(len(cands), np.int64)
    by_text[sorted(range(len(cands)), key=plates.__getitem__)] = np.arange(len(cands))
    order = np.lexsort(
        (by_text, -np.array([c.score for c in cands]), np.array([c.expected for c in cands]))
    )
    res.candidates = [cands[i] for i in order.tolist()]


__all__ = ["Candidate", "Result", "search_many"]
