"""Scoring: how surprising is each vehicle's presence near these crimes, against its own
background, and how many vehicles would do as well by chance.

For a vehicle v and crime i, the background rate `lam[v, i]` is the expected number of its
reads at the cameras within the radius of the crime during the crime's widened window, from
its own counts per camera and hour of the week (reads of this search's hits left out, so the
crimes do not explain themselves), plus a small prior: its total reads spread like all traffic
over those cameras and hours (a vehicle never seen there could still pass). The chance that it
is read there by chance is p = 1 - exp(-lam).

The score is the log likelihood ratio between "v was involved" and "v passes anyway", over
every crime of the set. Involved, v is read near a scene with chance rho on top of its
background (P(read) = rho + (1 - rho) p); not involved, with chance p. A crime's weight w_i
(falling with the window's length) is the chance that the crime says anything at all: with
chance 1 - w_i it is treated as uninformative (likelihood ratio 1). So a covered crime has
ratio 1 + w_i rho (1 - p) / p and a crime v missed has ratio 1 - w_i rho; both kinds count.
Measured from the score of a vehicle that covers nothing (the same for every vehicle of the
query, so ranks and the chance figure do not depend on it), a covered crime adds

    ln(1 + w_i rho (1 - p) / p) - ln(1 - w_i rho)

which is never negative: a commuter (p near 1) earns about -ln(1 - w rho) per covered crime,
a vehicle that rarely comes near the scene earns ln(w rho / p) more, and a plate that covers
many crimes of the set pays for none of the misses that a plate covering few pays for. A read
of v far away during the committed window rules out the part of the window it could not have
reached the scene in (at `speed_kmh` in a straight line), and adds ln(1 - w_i * excluded
share) (at most ln 0.05 per crime); a far read that no single vehicle could reconcile with
v's own read near the same scene (faster than `clone_kmh`) is another vehicle carrying the
plate (a clone, or a misread), and does not count against v.

The chance figure of a score s is E(s) = sum over every vehicle u in the background of
P(S_u >= s) when each crime is covered independently with u's own p: the expected number of
vehicles, among all considered, that would score s or more by chance. It is computed exactly on
a grid by dynamic programming (vehicles with the same totals and no reads near any scene share
one distribution), then calibrated on null sets of background crimes (find.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from peel.leads.background import HOURS_PER_WEEK, Background
from peel.leads.crimes import Crime

P_FLOOR = 1e-9
GRID = 400


@dataclass(frozen=True)
class Params:
    radius_m: float = 500.0
    margin_min: float = 30.0
    rho: float = 0.5  # chance an involved vehicle is read near a scene with a camera near it
    weight_hours: float = 24.0  # a crime's weight is 1 / (1 + window hours / weight_hours)
    prior_reads: float = 1.0  # weight of the traffic-shaped prior, in reads
    speed_kmh: float = 40.0  # for far-away reads: the straight-line speed a vehicle can keep
    far_m: float = 1500.0  # a read at least this far from the scene is "far away"
    max_penalty: float = float(np.log(0.05))
    clone_kmh: float = 200.0  # two reads of a plate needing more than this are two vehicles


def crime_weight(hours: float, p: Params) -> float:
    """A crime's weight: 1 for a window of minutes, 1/2 at `weight_hours`, near 0 for weeks."""
    return 1.0 / (1.0 + max(hours, 0.0) / p.weight_hours)


def epoch_s(dt: datetime) -> float:
    return float(dt.timestamp())


def hour_overlap(lo: float, hi: float) -> np.ndarray:
    """Hours of the window [lo, hi] (epoch seconds) falling in each hour of the week."""
    out = np.zeros(HOURS_PER_WEEK)
    if hi <= lo:
        return out
    h = np.arange(int(np.floor(lo / 3600)), int(np.ceil(hi / 3600)))
    ov = np.minimum(hi, (h + 1) * 3600.0) - np.maximum(lo, h * 3600.0)
    np.add.at(out, (h + 72) % HOURS_PER_WEEK, np.clip(ov, 0, None) / 3600.0)
    return out


HitList = list[tuple[str, str, float]]  # (camera, read id, epoch seconds), in time order


@dataclass(frozen=True)
class Hits:
    """A search's reads near its crimes as columns, one entry per (crime, read): `ci` the
    crime's index in the set, `plate` an index into `plates` (the normalised plates, in order
    of first appearance), `camera` an index into `cameras`, `t` epoch seconds, `read_id`.
    In the window query's order (crime, time, read id). Columns, not a dict per read: a
    search at a force's volume has tens of thousands, and building Python objects for each
    cost more than the scoring."""

    ci: np.ndarray
    plate: np.ndarray
    plates: list[str]
    camera: np.ndarray
    cameras: list[str]
    t: np.ndarray
    read: np.ndarray
    read_ids: list[str]

    @classmethod
    def from_arrow(cls, table: pa.Table, ci: np.ndarray | None = None) -> Hits:
        """From the window query's columns (ci, plate, camera_id, read_at, read_id); `ci`
        replaces the table's own (a crime's index within its set)."""
        plate = table.column("plate").combine_chunks().dictionary_encode()
        cam = table.column("camera_id").combine_chunks().dictionary_encode()
        read = table.column("read_id").combine_chunks().dictionary_encode()
        micros = pc.cast(table.column("read_at"), pa.int64()).to_numpy(zero_copy_only=False)
        return cls(
            ci=np.asarray(
                ci if ci is not None else table.column("ci").to_numpy(zero_copy_only=False),
                np.int64,
            ),
            plate=plate.indices.to_numpy(zero_copy_only=False).astype(np.int64),
            plates=[str(v) for v in plate.dictionary.to_pylist()],
            camera=cam.indices.to_numpy(zero_copy_only=False).astype(np.int64),
            cameras=[str(v) for v in cam.dictionary.to_pylist()],
            t=micros.astype(np.float64) / 1e6,
            read=read.indices.to_numpy(zero_copy_only=False).astype(np.int64),
            read_ids=[str(v) for v in read.dictionary.to_pylist()],
        )

    @classmethod
    def of(cls, rows: Sequence[Mapping[str, object]]) -> Hits:
        """From rows (ci, plate, camera_id, read_at, read_id), as tests and callers with a
        few reads write them."""
        table = pa.table(
            {
                "ci": pa.array([int(cast(int, r["ci"])) for r in rows], pa.int64()),
                "plate": pa.array([str(r["plate"]) for r in rows], pa.string()),
                "camera_id": pa.array([str(r["camera_id"]) for r in rows], pa.string()),
                "read_at": pa.array([r["read_at"] for r in rows], pa.timestamp("us", tz="UTC")),
                "read_id": pa.array([str(r["read_id"]) for r in rows], pa.string()),
            }
        )
        return cls.from_arrow(table)

    def __len__(self) -> int:
        return len(self.ci)


class PlateHits(Mapping[int, HitList]):
    """One plate's reads near the crimes, crime by crime (ci -> [(camera, read id, t)]),
    built from the search's columns when first read: most candidates' never are."""

    __slots__ = ("_by_crime", "_hits", "_rows")

    def __init__(self, hits: Hits, rows: np.ndarray) -> None:
        self._hits = hits
        self._rows = rows
        self._by_crime: dict[int, HitList] | None = None

    def _built(self) -> dict[int, HitList]:
        if self._by_crime is None:
            h = self._hits
            out: dict[int, HitList] = {}
            for r in self._rows.tolist():
                out.setdefault(int(h.ci[r]), []).append(
                    (h.cameras[h.camera[r]], h.read_ids[h.read[r]], float(h.t[r]))
                )
            self._by_crime = out
        return self._by_crime

    def __getitem__(self, ci: int) -> HitList:
        return self._built()[ci]

    def __iter__(self) -> Iterator[int]:
        return iter(self._built())

    def __len__(self) -> int:
        return len(self._built())


@dataclass
class Query:
    """One set of crimes prepared against the background.

    Rates are kept compactly: `lam_touched` holds the rows of the plates with any read at a
    camera near any of the crimes (`touched`, background plate codes, sorted); every other
    plate's rate is its prior only, `max(total * base / weeks, floor)`, so those rows are kept
    once per distinct total (`untouched_totals`, with `untouched_counts` plates each). At a
    force's volume (millions of plates) a search then costs what the plates near the scenes
    cost, not what every plate does."""

    crimes: Sequence[Crime]
    near: list[np.ndarray]  # camera codes (background index) within the radius, per crime
    near_ids: list[list[str]]
    weights: np.ndarray
    touched: np.ndarray  # plate codes, sorted
    lam_touched: np.ndarray  # (touched, crimes)
    base: np.ndarray  # (crimes,): the prior's rate per read of a plate's total, per week
    totals: np.ndarray  # every plate's total reads (background)
    untouched_totals: np.ndarray  # distinct totals among the other plates
    untouched_counts: np.ndarray  # plates with each
    plates: int  # plates in the background
    hits: Hits | None = None
    hit_plates: np.ndarray | None = None  # background code of each of hits.plates (-1: none)
    # null_expectation's rows (gains, chances, plates each) and last tails, kept for the
    # second call after far-away reads change some scores.
    null_rows: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    null_tails: Tails | None = field(default=None, repr=False)

    def _prior(self, totals: np.ndarray) -> np.ndarray:
        return np.maximum(np.asarray(totals, float)[:, None] * self.base[None, :], LAM_FLOOR)

    def lam_rows(self, codes: np.ndarray) -> np.ndarray:
        """The rates of these background plates (code -1: a plate the background does not
        know: the floor), one row each."""
        codes = np.asarray(codes, np.int64)
        out = np.full((len(codes), len(self.crimes)), LAM_FLOOR)
        known = codes >= 0
        out[known] = self._prior(self.totals[codes[known]])
        at = np.searchsorted(self.touched, codes)
        hit = known & (at < len(self.touched))
        hit[hit] = self.touched[at[hit]] == codes[hit]
        out[hit] = self.lam_touched[at[hit]]
        return out

    def lam_of(self, code: int | None) -> np.ndarray:
        """The rates of one background plate (None: a plate the background does not know:
        the floor)."""
        if code is None:
            return np.full(len(self.crimes), LAM_FLOOR)
        at = int(np.searchsorted(self.touched, code))
        if at < len(self.touched) and self.touched[at] == code:
            return np.asarray(self.lam_touched[at])
        return np.asarray(self._prior(self.totals[code : code + 1])[0])

    def distinct_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """(rates, plates with them): every plate of the background, untouched ones grouped."""
        lam = np.vstack([self.lam_touched, self._prior(self.untouched_totals)])
        mult = np.concatenate([np.ones(len(self.touched)), self.untouched_counts.astype(float)])
        return lam, mult

    @property
    def lam(self) -> np.ndarray:
        """Every plate's rates as one (plates, crimes) matrix (for tests and small lakes)."""
        out = self._prior(self.totals)
        out[self.touched] = self.lam_touched
        return out


LAM_FLOOR = 1e-6


def prepare(
    crimes: Sequence[Crime],
    hits: Hits | Sequence[Mapping[str, object]],
    bg: Background,
    cams: dict[str, tuple[float, float]],
    p: Params,
) -> Query:
    """Background rates of every plate for every crime, with this query's hits left out.
    `hits`: `Hits`, or rows (ci, plate, camera_id, read_at, read_id)."""
    if not isinstance(hits, Hits):
        hits = Hits.of(hits)
    cam_code = {str(c): i for i, c in enumerate(bg.cameras)}
    margin = p.margin_min * 60.0
    n = len(crimes)
    V = len(bg.plates)
    near, near_ids, overlaps = [], [], []
    for c in crimes:
        ids = sorted(
            cid for cid, (x, y) in cams.items() if (x - c.x) ** 2 + (y - c.y) ** 2 <= p.radius_m**2
        )
        near_ids.append(ids)
        near.append(np.array([cam_code[i] for i in ids if i in cam_code], dtype=np.int64))
        lo = epoch_s(c.committed_from) - margin
        hi = epoch_s(c.committed_to) + margin
        overlaps.append(hour_overlap(lo, hi))
    weights = np.array([crime_weight(c.window_hours, p) for c in crimes])
    share = bg.cell_share()
    totals = bg.plate_total
    # Only the background rows at cameras near a scene (an index by camera, built once per
    # process), and only the plates that have one: flagged in an array over every plate (a
    # pass over the rows, where sorting their plate codes cost 0.1-0.2 s a search at a
    # force's volume), then counted crime by crime in one compiled pass over the rows of its
    # cameras (peel.leads.kernels; imported here, as numba takes 0.6 s to import).
    from peel.leads.kernels import flag_plates, near_rates

    starts = bg.camera_starts
    near_all = np.unique(np.concatenate(near)) if n else np.zeros(0, np.int64)
    index = bg.index()
    # Each hit's plate and camera as background codes (-1: one the background does not know).
    hit_plates = np.array([index.get(v, -1) for v in hits.plates], np.int64)
    plate_code = hit_plates[hits.plate]
    cam_of = np.array([cam_code.get(v, -1) for v in hits.cameras], np.int64)[hits.camera]
    flag = np.zeros(V, bool)
    flag_plates(starts, bg.plate, near_all, flag)
    flag[plate_code[plate_code >= 0]] = True
    touched = np.flatnonzero(flag)
    pos = np.zeros(V, np.int64)
    pos[touched] = np.arange(len(touched))
    cams_sorted = [np.sort(c) for c in near]
    cams_at = np.cumsum([0] + [len(c) for c in cams_sorted], dtype=np.int64)
    lam = near_rates(
        starts,
        bg.plate,
        bg.how,
        bg.n,
        pos,
        np.concatenate(cams_sorted).astype(np.int64) if n else np.zeros(0, np.int64),
        cams_at,
        np.array(overlaps).reshape(n, HOURS_PER_WEEK),
        len(touched),
    )
    base = np.zeros(n)
    for i in range(n):
        base[i] = p.prior_reads * (
            float((share[near[i]] * overlaps[i][None, :]).sum()) if len(near[i]) else 0.0
        )
    lam += totals[touched][:, None] * base[None, :]
    # Leave this query's hits out of the counts (each hit was counted once in its cell): each
    # read once (its first appearance, in the hits' order), from every crime whose near
    # cameras include its camera.
    first = np.sort(np.unique(hits.read, return_index=True)[1])
    first = first[(plate_code[first] >= 0) & (cam_of[first] >= 0)]
    if len(first):
        rows_out = pos[plate_code[first]]
        cams_out = cam_of[first]
        how = ((np.floor(hits.t[first] / 3600) + 72) % HOURS_PER_WEEK).astype(np.int64)
        for i in range(n):
            at = np.isin(cams_out, near[i])
            np.subtract.at(lam[:, i], rows_out[at], overlaps[i][how[at]])
    # Every rate stays above zero (after the leave-out, too).
    lam = np.maximum(np.clip(lam, 0.0, None) / bg.weeks, LAM_FLOOR)
    # Every plate's total, counted by value once per background; the touched plates' taken off.
    all_totals, all_counts = bg.total_counts
    t_totals, t_counts = np.unique(totals[touched], return_counts=True)
    counts = all_counts.copy()
    counts[np.searchsorted(all_totals, t_totals)] -= t_counts
    u_totals, u_counts = all_totals[counts > 0], counts[counts > 0]
    return Query(
        crimes,
        near,
        near_ids,
        weights,
        touched=touched,
        lam_touched=lam,
        base=base / bg.weeks,
        totals=totals,
        untouched_totals=u_totals,
        untouched_counts=u_counts,
        plates=V,
        hits=hits,
        hit_plates=hit_plates,
    )


def chance(lam: np.ndarray) -> np.ndarray:
    return np.clip(1.0 - np.exp(-lam), P_FLOOR, 1.0)


def gains(prob: np.ndarray, weights: np.ndarray, p: Params) -> np.ndarray:
    """Score added by covering each crime (see the module docstring):
    ln(1 + w rho (1 - p) / p) - ln(1 - w rho)."""
    wr = np.minimum(weights * p.rho, 0.99)[None, :]
    return np.log1p(wr * (1.0 - prob) / prob) - np.log1p(-wr)


def other_vehicle(
    read: tuple[float, float, float], near: Sequence[tuple[float, float, float]], p: Params
) -> bool:
    """Whether a read (time, x, y) cannot be the vehicle of any of `near` (faster than
    `clone_kmh` in a straight line between them)."""
    t, x, y = read
    return any(
        float(np.hypot(x - nx, y - ny)) > p.clone_kmh / 3.6 * abs(t - nt) for nt, nx, ny in near
    )


def far_penalty(
    crime: Crime,
    reads: Sequence[tuple[float, float, float]],
    weight: float,
    p: Params,
    *,
    near: Sequence[tuple[float, float, float]] = (),
) -> tuple[float, float]:
    """(penalty, excluded share of the committed window) from reads (time, x, y) of a
    vehicle at least `far_m` from the scene: it could not be at the scene within d / speed of
    each of them. `near` are the vehicle's own reads (time, x, y) near this scene: a far read
    that could not be the same vehicle as one of them (faster than `clone_kmh`) is another
    vehicle with the plate and is left out."""
    a, b = epoch_s(crime.committed_from), epoch_s(crime.committed_to)
    speed = p.speed_kmh / 3.6
    spans = []
    for t, x, y in reads:
        d = float(np.hypot(x - crime.x, y - crime.y))
        if d < p.far_m or t < a - d / speed or t > b + d / speed:
            continue
        if other_vehicle((t, x, y), near, p):
            continue
        spans.append((max(a, t - d / speed), min(b, t + d / speed)))
    if not spans:
        return 0.0, 0.0
    spans.sort()
    covered, cur_a, cur_b = 0.0, spans[0][0], spans[0][1]
    for s0, s1 in spans[1:]:
        if s0 > cur_b:
            covered += cur_b - cur_a
            cur_a, cur_b = s0, s1
        else:
            cur_b = max(cur_b, s1)
    covered += cur_b - cur_a
    share = 1.0 if b <= a else min(covered / (b - a), 1.0)
    # With chance 1 - w the crime says nothing (see gains), so the ratio is 1 - w * share.
    return max(float(np.log(max(1.0 - weight * share, 1e-12))), p.max_penalty), share


@dataclass(frozen=True)
class Tails:
    """The rows' tails summed on one grid: `acc[b]` = sum over rows of mult * P(S >= b * delta)
    (up to the grid's rounding), exact for b >= `lowest` (rows that cannot reach `lowest` were
    left out). Read at any scores whose top is `top` and whose cuts are all >= `lowest`."""

    top: float
    lowest: int
    acc: np.ndarray


def _grid(scores: np.ndarray, n: int) -> tuple[float, float, np.ndarray]:
    """(top, delta, cut per score) of the grid for these scores and n crimes."""
    top = float(max(scores.max(), 1e-6))
    delta = top / GRID
    # Each jump is rounded to the grid (at most half a bin off), so a sum of n of them may be
    # n/2 bins off: the cut allows that, erring towards a larger (more cautious) figure.
    cut = np.clip(np.ceil(scores / delta - 0.5 * n - 1e-9).astype(np.int64), 0, GRID)
    return top, delta, cut


def tail_sums(
    gain: np.ndarray,
    prob: np.ndarray,
    mult: np.ndarray,
    top: float,
    lowest: int,
    *,
    below: int | None = None,
) -> Tails:
    """Every row's distribution of the score on the grid of `top`, summed over rows.
    `below`: only the rows whose jumps add up to less than it (the rows a `Tails` with
    lowest = `below` left out)."""
    delta = top / GRID
    B = GRID + 1
    jumps = np.minimum(np.rint(gain / delta), B - 1).astype(np.int64)
    # A row whose jumps cannot add up to the lowest cut adds nothing to any figure: left out
    # (exact; at a force's volume most plates near the scenes pass them too often to reach it).
    if len(gain):
        reach = jumps.sum(axis=1)
        keep = reach >= lowest
        if below is not None:
            keep &= reach < below
        jumps, prob, mult = jumps[keep], prob[keep], mult[keep]
    # The DP itself is compiled (peel.leads.kernels), imported here: importing numba costs
    # about 0.6 s, which every `peel` command would otherwise pay. A large set of rows runs
    # as two halves on two threads (the kernel releases the GIL) and the halves' sums are
    # added: a fixed split, so the figure does not depend on the machine.
    from peel.leads.kernels import dp_tail_sums

    jumps = np.ascontiguousarray(jumps, dtype=np.int64)
    prob = np.ascontiguousarray(prob, dtype=np.float64)
    mult = np.ascontiguousarray(mult, dtype=np.float64)
    if len(jumps) < _SPLIT_ROWS:
        return Tails(top, lowest, dp_tail_sums(jumps, prob, mult, B))
    h = len(jumps) // 2
    second = _pool().submit(dp_tail_sums, jumps[h:], prob[h:], mult[h:], B)
    acc = dp_tail_sums(jumps[:h], prob[:h], mult[:h], B)
    return Tails(top, lowest, acc + second.result())


_SPLIT_ROWS = 20_000
_POOL: list[ThreadPoolExecutor] = []


def _pool() -> ThreadPoolExecutor:
    """One worker thread for the DP's second half, started on first use."""
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="peel-dp"))
    return _POOL[0]


# A forked child has the pool but not its thread (work submitted there would wait forever):
# it starts its own.
os.register_at_fork(after_in_child=_POOL.clear)


def expected_at_least(
    gain: np.ndarray, prob: np.ndarray, scores: Sequence[float], *, mult: np.ndarray | None = None
) -> np.ndarray:
    """E(s) for each s in `scores`: the sum over rows (vehicles; `mult` copies each) of the
    chance that independent coverage with probabilities `prob` earns gains adding up to s."""
    return expected_with_tails(gain, prob, scores, mult=mult)[0]


def expected_with_tails(
    gain: np.ndarray,
    prob: np.ndarray,
    scores: Sequence[float],
    *,
    mult: np.ndarray | None = None,
    reuse: Tails | None = None,
) -> tuple[np.ndarray, Tails | None]:
    """`expected_at_least`, and the tails it read (to pass as `reuse` next time). `reuse`:
    tails computed before for the same rows; used as they are when they serve these scores,
    extended by the rows a lower cut lets in, or computed again when the top score moved."""
    gain = np.atleast_2d(np.asarray(gain, dtype=float))
    prob = np.atleast_2d(np.asarray(prob, dtype=float))
    scores_arr = np.asarray(scores, dtype=float)
    if len(scores_arr) == 0:
        return scores_arr, reuse
    top, _, cut = _grid(scores_arr, gain.shape[1])
    lowest = int(cut.min())
    mult = np.ones(len(gain)) if mult is None else np.asarray(mult, dtype=float)
    if reuse is None or reuse.top != top:
        reuse = tail_sums(gain, prob, mult, top, lowest)
    elif reuse.lowest > lowest:
        # Same grid, a lower cut (a far-away read lowered a score): only the rows left out
        # before are added.
        more = tail_sums(gain, prob, mult, top, lowest, below=reuse.lowest)
        reuse = Tails(top, lowest, reuse.acc + more.acc)
    return reuse.acc[cut], reuse


def _equal_rows(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first row of each group, group of each row) for the groups of equal rows of `key`.
    Rows are grouped by one number each (a fixed random combination of their columns) and
    the grouping is then checked against the rows themselves, falling back to numpy's exact
    row-wise unique (several times slower: it sorts the rows as byte strings) if two
    different rows ever share the number."""
    if len(key) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    mix = np.random.default_rng(0).uniform(1.0, 2.0, key.shape[1])
    _, first, inverse = np.unique(key @ mix, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    if not np.array_equal(key[first][inverse], key):
        _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
        inverse = inverse.ravel()
    return first, inverse


def null_expectation(q: Query, scores: Sequence[float], p: Params) -> tuple[np.ndarray, int]:
    """E(s) over every plate of the background, and how many plates that is. Plates whose
    rates are all prior-only and equal share one computation."""
    if q.null_rows is None:
        lam, mult = q.distinct_rows()
        first, inverse = _equal_rows(np.round(lam, 12))
        counts = np.bincount(inverse, weights=mult, minlength=len(first))
        prob = chance(lam[first])
        q.null_rows = (gains(prob, q.weights, p), prob, counts)
    g, prob, counts = q.null_rows
    e, q.null_tails = expected_with_tails(g, prob, scores, mult=counts, reuse=q.null_tails)
    return e, q.plates


__all__ = [
    "Params",
    "Query",
    "Tails",
    "chance",
    "crime_weight",
    "expected_at_least",
    "expected_with_tails",
    "far_penalty",
    "gains",
    "hour_overlap",
    "null_expectation",
    "other_vehicle",
    "prepare",
    "tail_sums",
]
