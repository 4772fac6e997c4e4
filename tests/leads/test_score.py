from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from leads.memlake import T0, MemoryEngine
from peel.leads.background import Background
from peel.leads.chain import clone_flags
from peel.leads.crimes import Crime
from peel.leads.find import _explain
from peel.leads.score import (
    Params,
    chance,
    crime_weight,
    expected_at_least,
    far_penalty,
    gains,
    prepare,
)
from peel.leads.search import Candidate, Result


def crime(ref: str, hours: float, x: float = 0.0, y: float = 0.0, day: int = 0) -> Crime:
    a = T0 + timedelta(days=day)
    return Crime(ref, "burglary", x, y, a, a + timedelta(hours=hours), f"row-{ref}", "test")


def test_weight_falls_with_window_length() -> None:
    p = Params()
    w = [crime_weight(h, p) for h in (0.25, 2, 24, 168)]
    assert w == sorted(w, reverse=True)
    assert w[0] > 0.98 and abs(w[2] - 0.5) < 1e-9 and w[3] < 0.15


def _bg(rows: list[tuple[str, str, int, float]], weeks: float = 52.0) -> Background:
    plates = sorted({r[0] for r in rows})
    cams = sorted({r[1] for r in rows})
    return Background(
        plates=np.array(plates, dtype=object),
        cameras=np.array(cams, dtype=object),
        plate=np.array([plates.index(r[0]) for r in rows], np.int32),
        camera=np.array([cams.index(r[1]) for r in rows], np.int32),
        how=np.array([r[2] for r in rows], np.int16),
        n=np.array([r[3] for r in rows], float),
        weeks=weeks,
        fingerprint="t",
        build_seconds=0.0,
        cached=False,
    )


def test_background_suppresses_a_commuter() -> None:
    # T0 is Monday 12:00 UTC: hour of week 12. The commuter passes camera A then every week.
    how = 12
    traffic = [(f"OTHER{i}", "B", h, 30.0) for i in range(50) for h in range(0, 168, 7)]
    bg = _bg(
        [("COMMUTER", "A", how, 52.0), ("RARE", "A", 100, 1.0), ("RARE", "B", 50, 20.0), *traffic]
    )
    cams = {"A": (100.0, 0.0), "B": (5000.0, 0.0)}
    crimes = [crime("C1", 1.0)]
    hits = [
        {
            "ci": 0,
            "plate": pl,
            "camera_id": "A",
            "read_at": T0 + timedelta(minutes=10),
            "read_id": f"r-{pl}",
        }
        for pl in ("COMMUTER", "RARE")
    ]
    q = prepare(crimes, hits, bg, cams, Params())
    prob = chance(q.lam)
    g = gains(prob, q.weights, Params())
    commuter, rare = bg.index()["COMMUTER"], bg.index()["RARE"]
    assert prob[commuter, 0] > 0.5 > prob[rare, 0]
    # The commuter earns little more than any vehicle read at a scene does (the part of the
    # ratio for not missing it); the rare visitor several times that.
    assert g[commuter, 0] < 1.0 < 3 < g[rare, 0]
    assert g[rare, 0] > 3 * g[commuter, 0]


def _full_log_lr(prob: np.ndarray, weights: np.ndarray, covered: list[int], rho: float) -> float:
    """The log likelihood ratio written out crime by crime: involved, a vehicle is read near
    a scene with chance rho on top of its background p; a crime is informative with chance w."""
    total = 0.0
    for i, (pi, w) in enumerate(zip(prob, weights, strict=True)):
        if i in covered:
            total += np.log(w * (rho + (1 - rho) * pi) / pi + (1 - w))
        else:
            total += np.log(w * (1 - rho) + (1 - w))
    return float(total)


def test_gains_are_the_full_likelihood_ratio_missed_crimes_included() -> None:
    p = Params()
    prob = np.array([0.03, 0.2, 0.001, 0.6, 0.05])
    weights = np.array([1.0, 0.5, 0.9, 0.2, 0.7])
    g = gains(prob[None, :], weights, p)[0]
    assert (g >= 0).all()
    base = _full_log_lr(prob, weights, [], p.rho)
    for covered in ([0], [0, 2], [1, 3, 4], [0, 1, 2, 3, 4]):
        expected = _full_log_lr(prob, weights, covered, p.rho) - base
        assert abs(sum(g[i] for i in covered) - expected) < 1e-9


def test_a_plate_covering_more_crimes_outranks_a_rarer_one_covering_fewer() -> None:
    # A is read near 3 of the 4 scenes, each at a 3% background chance; B near 2 of them at
    # 0.6%. Counting only the crimes each covered (the old score) B came first; the missed
    # crime counts against B, and A comes first.
    p = Params()
    weights = np.ones(4)
    a = gains(np.array([[0.03, 0.03, 0.03, 0.03]]), weights, p)[0][:3].sum()
    b = gains(np.array([[0.006, 0.006, 0.5, 0.5]]), weights, p)[0][:2].sum()
    assert a > b
    old = [3 * np.log(0.5 / 0.03), 2 * np.log(0.5 / 0.006)]
    assert old[0] < old[1]


def test_a_long_window_says_less() -> None:
    p = Params()
    short, long = crime_weight(1.0, p), crime_weight(72.0, p)
    g = gains(np.array([[0.01, 0.01]]), np.array([short, long]), p)[0]
    assert g[0] > g[1] > 0


def test_far_away_read_counts_against() -> None:
    p = Params()
    c = crime("C1", 0.5)
    t = c.committed_from.timestamp() + 900
    near_pen, _ = far_penalty(c, [(t, 300.0, 0.0)], 1.0, p)
    far_pen, share = far_penalty(c, [(t, 20_000.0, 0.0)], 1.0, p)
    assert near_pen == 0.0
    assert share == 1.0 and far_pen == p.max_penalty
    mid_pen, mid_share = far_penalty(c, [(t, 2_000.0, 0.0)], 1.0, p)
    assert 0 < mid_share < 1 and p.max_penalty < mid_pen < 0
    # A long window (a small weight) loses less to the same far read.
    low_pen, _ = far_penalty(c, [(t, 2_000.0, 0.0)], 0.3, p)
    assert mid_pen < low_pen < 0


def test_a_far_read_no_single_vehicle_could_make_is_not_counted() -> None:
    # The plate is read near the scene (300 m) and, 60 s later, 20 km away: no one vehicle
    # does 1,200 km/h, so the far read is another vehicle with the plate (a clone) and says
    # nothing about whether this one was at the scene. Read there an hour later, it could be.
    p = Params()
    c = crime("C1", 2.0)
    t = c.committed_from.timestamp() + 1800
    near = [(t, 300.0, 0.0)]
    pen, share = far_penalty(c, [(t + 60, 20_000.0, 0.0)], 1.0, p, near=near)
    assert (pen, share) == (0.0, 0.0)
    pen, share = far_penalty(c, [(t + 3600, 20_000.0, 0.0)], 1.0, p, near=near)
    assert pen < 0 and share > 0


def test_multiplicity_matches_a_constructed_null() -> None:
    # 2,000 vehicles, 6 crimes, each covered independently with chance 0.05: the expected
    # number covering at least 3 crimes is 2000 * P(Binomial(6, 0.05) >= 3).
    rng = np.random.default_rng(1)
    v, n, p0 = 2000, 6, 0.05
    prob = np.full((v, n), p0)
    gain = np.ones((v, n))
    e = expected_at_least(gain, prob, [3.0])[0]
    from math import comb

    exact = v * sum(comb(n, k) * p0**k * (1 - p0) ** (n - k) for k in range(3, n + 1))
    assert abs(e - exact) / exact < 0.02
    sims = (rng.random((200, v, n)) < p0).sum(axis=2)
    observed = (sims >= 3).sum(axis=1).mean()
    assert abs(observed - e) < 0.25 * e + 0.05


def test_clone_flag_stops_the_keeper_being_the_suspect(mem: MemoryEngine) -> None:
    mem.cameras([("A", 0.0, 0.0), ("B", 3000.0, 0.0)])
    mem.reads(
        [
            ("r1", "CL0 NED", "A", T0),
            ("r2", "CL0 NED", "B", T0 + timedelta(seconds=30)),  # 3 km in 30 s
            ("r3", "HONEST", "A", T0),
            ("r4", "HONEST", "B", T0 + timedelta(minutes=10)),
        ]
    )
    flags = clone_flags(mem, ["CL0NED", "HONEST"])
    assert set(flags) == {"CL0NED"}
    from peel.leads.chain import Keeper
    from peel.leads.score import Query

    crimes = [crime("C1", 1.0)]
    q = Query(
        crimes,
        [np.array([0])],
        [["A"]],
        np.array([1.0]),
        touched=np.array([0]),
        lam_touched=np.zeros((1, 1)),
        base=np.zeros(1),
        totals=np.ones(1),
        untouched_totals=np.zeros(0),
        untouched_counts=np.zeros(0, np.int64),
        plates=1,
    )
    cand = Candidate("CL0NED", 5.0, [0], {0: [("A", "r1", 0.0)]}, {0: 5.0}, {0: 0.01})
    keeper = Keeper("person", "P1", "pnc:1", None, None, {"convictions": [{"record": "c:1"}]})
    res = Result(crimes, q, [cand], 10)
    cal = {"sets": 1, "observed": 1, "factor": 1.0, "crime_type": "burglary"}
    out = _explain(cand, res, cal, 0.01, [keeper], flags["CL0NED"], "burglary", 1500, "t")
    assert out["_suspect"] is None
    assert "possible clone" in out["claim"] and "conviction" not in out["claim"]
    plain = _explain(cand, res, cal, 0.01, [keeper], None, "burglary", 1500, "t")
    assert plain["_suspect"] == "P1" and "1 burglary conviction" in plain["claim"]


def test_compact_rates_match_the_full_matrix_and_the_expectation() -> None:
    # The compact form (plates near a scene as rows, every other plate grouped by its total)
    # gives each plate the rate the full matrix would, and the same chance figure as summing
    # the dynamic programme over every plate one by one.
    rng = np.random.default_rng(3)
    rows = [("NEAR1", "A", 12, 3.0), ("NEAR2", "A", 13, 40.0), ("NEAR2", "B", 12, 2.0)]
    rows += [(f"FAR{i}", "C", int(rng.integers(168)), float(rng.integers(1, 9))) for i in range(60)]
    bg = _bg(rows)
    cams = {"A": (0.0, 0.0), "B": (300.0, 0.0), "C": (9000.0, 0.0)}
    crimes = [crime("C1", 1.0), crime("C2", 3.0, x=250.0, day=1)]
    hit = {"ci": 0, "plate": "NEAR1", "camera_id": "A", "read_at": T0, "read_id": "h1"}
    p = Params()
    q = prepare(crimes, [hit], bg, cams, p)
    full = q.lam
    assert full.shape == (len(bg.plates), 2)
    # Every plate not near a scene is counted once, under its own total.
    others = np.setdiff1d(np.arange(len(bg.plates)), q.touched)
    want_totals, want_counts = np.unique(bg.plate_total[others], return_counts=True)
    assert np.array_equal(q.untouched_totals, want_totals)
    assert np.array_equal(q.untouched_counts, want_counts)
    assert len(q.touched) + int(q.untouched_counts.sum()) == len(bg.plates)
    assert set(q.touched.tolist()) == {bg.index()["NEAR1"], bg.index()["NEAR2"]}
    for name, code in bg.index().items():
        assert np.allclose(q.lam_of(code), full[code]), name
    assert np.allclose(q.lam_rows(np.arange(len(bg.plates))), full)
    assert np.allclose(q.lam_rows(np.array([-1])), 1e-6)
    # Far plates differ only by their totals: their rates are the prior alone.
    far = [bg.index()[f"FAR{i}"] for i in range(60)]
    totals = bg.plate_total[far]
    assert np.allclose(full[far], np.maximum(totals[:, None] * q.base[None, :], 1e-6))
    from peel.leads.score import null_expectation

    scores = [0.5, 2.0, 6.0]
    e, n = null_expectation(q, scores, p)
    prob = chance(full)
    one_by_one = expected_at_least(gains(prob, q.weights, p), prob, scores)
    assert n == len(bg.plates) and np.allclose(e, one_by_one)


def _plain_expected(gain: np.ndarray, prob: np.ndarray, scores: list[float]) -> np.ndarray:
    """The chance figure written plainly: each vehicle's distribution of the score over every
    subset of crimes it could cover (2^n terms), on the same grid and cut as the DP."""
    from itertools import product

    from peel.leads.score import GRID

    top = max(scores)
    delta = top / GRID
    jumps = np.minimum(np.rint(gain / delta), GRID)
    cut = np.clip(np.ceil(np.array(scores) / delta - 0.5 * gain.shape[1] - 1e-9), 0, GRID)
    out = np.zeros(len(scores))
    for v in range(len(gain)):
        for covered in product((0, 1), repeat=gain.shape[1]):
            c = np.array(covered, bool)
            chance_of = float(np.prod(np.where(c, prob[v], 1 - prob[v])))
            total = min(float(jumps[v][c].sum()), GRID)
            out += chance_of * (total >= cut)
    return out


def test_expected_at_least_equals_the_sum_over_every_subset() -> None:
    rng = np.random.default_rng(5)
    prob = np.clip(rng.beta(0.4, 6, size=(40, 6)), 1e-4, 0.99)
    gain = gains(prob, np.array([1.0, 0.8, 0.5, 0.9, 0.3, 1.0]), Params())
    scores = [1.0, 4.0, 7.5, float(gain.sum(axis=1).max())]
    assert np.allclose(expected_at_least(gain, prob, scores), _plain_expected(gain, prob, scores))


def test_tails_reused_for_new_scores_give_the_figures_of_a_fresh_computation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The second figure of a search (after far-away reads lower some scores) reuses the
    # first one's tails: on the same grid, adding only the rows a lower cut lets in. Any
    # reuse must equal computing from scratch, and a changed top must not reuse at all.
    from peel.leads import score
    from peel.leads.score import expected_with_tails

    calls: list[tuple[int, int | None, int]] = []  # (lowest, below, rows given)
    real = score.tail_sums

    def spy(
        g: np.ndarray, pr: np.ndarray, m: np.ndarray, top: float, lowest: int, **kw: Any
    ) -> score.Tails:
        calls.append((lowest, kw.get("below"), len(g)))
        return real(g, pr, m, top, lowest, **kw)

    monkeypatch.setattr(score, "tail_sums", spy)
    rng = np.random.default_rng(11)
    prob = np.clip(rng.beta(0.3, 8, size=(3000, 8)), 1e-6, 0.99)
    gain = gains(prob, np.linspace(0.3, 1.0, 8), Params())
    mult = rng.integers(1, 4, size=3000).astype(float)
    top = float(gain.sum(axis=1).max())
    first = [top, 12.0, 9.0]
    e1, tails = expected_with_tails(gain, prob, first, mult=mult)
    assert tails is not None
    # The same scores again: read from the tails, nothing computed.
    again, same = expected_with_tails(gain, prob, first, mult=mult, reuse=tails)
    assert same is tails and np.array_equal(again, e1) and len(calls) == 1
    # A lower lowest score, same top: some rows are added to the cached tails.
    lower = [top, 9.0, 2.0, 0.5]
    e2, tails2 = expected_with_tails(gain, prob, lower, mult=mult, reuse=tails)
    assert tails2 is not None and tails2.lowest < tails.lowest
    # ... computing only the rows the old cut left out, not all of them again.
    assert calls[-1][:2] == (tails2.lowest, tails.lowest) and len(calls) == 2
    assert np.allclose(e2, expected_at_least(gain, prob, lower, mult=mult), rtol=1e-12)
    assert np.allclose(e2[:2], e1[[0, 2]], rtol=1e-12)
    # A lower top: a new grid, computed again (the cached one would read other cuts).
    moved = [top * 0.8, 3.0]
    e3, tails3 = expected_with_tails(gain, prob, moved, mult=mult, reuse=tails2)
    assert tails3 is not None and tails3.top == pytest.approx(top * 0.8)
    assert calls[-1][1] is None and len(calls) == 4  # a whole new grid (call 3: the check above)
    assert np.allclose(e3, expected_at_least(gain, prob, moved, mult=mult), rtol=1e-12)
    # The figure falls with the score, as a tail must.
    assert np.all(np.diff(e2) >= 0)


def _plain_rates(
    crimes: list[Crime],
    hits: list[dict[str, Any]],
    bg: Background,
    cams: dict[str, tuple[float, float]],
    p: Params,
) -> np.ndarray:
    """Every plate's background rate for every crime, written plainly from the module
    docstring: its counts at the crime's cameras, weighted by the window's hours in each hour
    of the week, plus its total spread like all traffic, this query's hits left out once
    each, over the weeks; at least the floor."""
    from peel.leads.background import HOURS_PER_WEEK
    from peel.leads.score import LAM_FLOOR, epoch_s, hour_overlap

    share = bg.cell_share()
    lam = np.zeros((len(bg.plates), len(crimes)))
    for i, c in enumerate(crimes):
        lo = epoch_s(c.committed_from) - p.margin_min * 60
        hi = epoch_s(c.committed_to) + p.margin_min * 60
        ov = hour_overlap(lo, hi)
        near = {k for k, (x, y) in cams.items() if (x - c.x) ** 2 + (y - c.y) ** 2 <= p.radius_m**2}
        codes = [j for j, cam in enumerate(bg.cameras) if cam in near]
        for r in range(len(bg.n)):
            if bg.cameras[bg.camera[r]] in near:
                lam[bg.plate[r], i] += bg.n[r] * ov[bg.how[r]]
        prior = p.prior_reads * float(sum((share[j] * ov).sum() for j in codes))
        lam[:, i] += bg.plate_total * prior
        seen = set()
        for h in hits:
            if h["read_id"] in seen or h["plate"] not in bg.index() or h["camera_id"] not in near:
                continue
            seen.add(h["read_id"])
            how = int((np.floor(epoch_s(h["read_at"]) / 3600) + 72) % HOURS_PER_WEEK)
            lam[bg.index()[h["plate"]], i] -= ov[how]
    return np.maximum(np.clip(lam, 0.0, None) / bg.weeks, LAM_FLOOR)


def test_rates_equal_the_plain_sum_over_the_background() -> None:
    # The compiled pass over the scenes' cameras (peel.leads.kernels) gives each plate the
    # rate the plain definition does: cameras shared by crimes, cameras near no crime, plates
    # at several cameras and hours, windows across hours, and hits left out.
    rng = np.random.default_rng(11)
    cam_names = [f"K{i}" for i in range(8)]
    cams = {k: (float(300 * i), float(150 * (i % 3))) for i, k in enumerate(cam_names)}
    rows = []
    for v in range(40):
        for _ in range(int(rng.integers(1, 6))):
            cam = cam_names[int(rng.integers(len(cam_names)))]
            rows.append((f"P{v:02d}", cam, int(rng.integers(168)), float(rng.integers(1, 30))))
    bg = _bg(rows, weeks=13.0)
    crimes = [
        crime("C1", 1.5, x=0.0),
        crime("C2", 30.0, x=450.0, day=2),
        crime("C3", 0.2, x=1500.0, day=5),
        crime("C4", 7.0, x=9e4, day=6),  # no camera near it
    ]
    hits = [
        {"ci": 0, "plate": "P03", "camera_id": "K0", "read_at": T0, "read_id": "h1"},
        {
            "ci": 1,
            "plate": "P07",
            "camera_id": "K1",
            "read_at": T0 + timedelta(days=2, hours=3),
            "read_id": "h2",
        },
        {
            "ci": 1,
            "plate": "P07",
            "camera_id": "K1",
            "read_at": T0 + timedelta(days=2, hours=3),
            "read_id": "h2",
        },  # the same read twice: left out once
        {
            "ci": 2,
            "plate": "NEWPLATE",
            "camera_id": "K5",
            "read_at": T0 + timedelta(days=5),
            "read_id": "h3",
        },  # a plate the background does not know
    ]
    p = Params()
    q = prepare(crimes, hits, bg, cams, p)
    want = _plain_rates(crimes, hits, bg, cams, p)
    assert np.allclose(q.lam, want, rtol=1e-12, atol=0.0)
    # Touched: exactly the plates with a row at a camera near some crime, or a hit.
    near_any = {
        k
        for c in crimes
        for k, (x, y) in cams.items()
        if (x - c.x) ** 2 + (y - c.y) ** 2 <= p.radius_m**2
    }
    want_touched = sorted(
        {bg.index()[r[0]] for r in rows if r[1] in near_any}
        | {bg.index()["P03"], bg.index()["P07"]}
    )
    assert q.touched.tolist() == want_touched


def test_candidates_from_the_hit_columns_keep_every_read_and_score_their_covered_crimes() -> None:
    # The search keeps its hits as columns and builds a plate's per-crime reads only when
    # asked: every read must be there, under its crime, in the window query's order, and a
    # candidate's score is the sum of the gains of the crimes it covers.
    from peel.leads.search import _score_set

    bg = _bg([("AA1", "A", 12, 2.0), ("BB2", "B", 40, 9.0), ("CC3", "A", 99, 1.0)])
    cams = {"A": (0.0, 0.0), "B": (400.0, 0.0)}
    crimes = [crime("C1", 1.0), crime("C2", 2.0, x=400.0, day=1), crime("C3", 1.0, day=2)]
    rows = [
        ("AA1", "A", 0, 5, "r1"),
        ("AA1", "A", 0, 9, "r2"),
        ("BB2", "B", 1, 3, "r3"),
        ("AA1", "B", 1, 4, "r4"),
        ("ZZ9", "A", 2, 1, "r5"),  # unknown to the background
        ("AA1", "A", 2, 7, "r6"),
    ]
    hits = [
        {
            "ci": ci,
            "plate": pl,
            "camera_id": cam,
            "read_at": T0 + timedelta(days=ci, minutes=m),
            "read_id": rid,
        }
        for pl, cam, ci, m, rid in rows
    ]
    res = _score_set(crimes, hits, bg, cams, Params())
    by = {c.plate: c for c in res.candidates}
    assert set(by) == {"AA1", "BB2", "ZZ9"}
    t = {rid: (T0 + timedelta(days=ci, minutes=m)).timestamp() for _, _, ci, m, rid in rows}
    assert dict(by["AA1"].hits) == {
        0: [("A", "r1", t["r1"]), ("A", "r2", t["r2"])],
        1: [("B", "r4", t["r4"])],
        2: [("A", "r6", t["r6"])],
    }
    assert dict(by["ZZ9"].hits) == {2: [("A", "r5", t["r5"])]}
    assert by["AA1"].covered == [0, 1, 2] and by["BB2"].covered == [1]
    for c in res.candidates:
        assert c.score == sum(float(c.gain[i]) for i in c.covered)
        assert len(c.prob) == 3


def test_the_dp_split_over_two_threads_gives_the_single_thread_figure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from peel.leads import score

    rng = np.random.default_rng(8)
    prob = np.clip(rng.beta(0.3, 5, size=(score._SPLIT_ROWS + 1001, 6)), 1e-6, 0.99)
    gain = gains(prob, np.array([1.0, 0.7, 0.5, 0.9, 0.3, 1.0]), Params())
    mult = rng.integers(1, 4, len(gain)).astype(float)
    split = score.tail_sums(gain, prob, mult, float(gain.sum(axis=1).max()), 0)
    monkeypatch.setattr(score, "_SPLIT_ROWS", 10**9)
    whole = score.tail_sums(gain, prob, mult, float(gain.sum(axis=1).max()), 0)
    assert np.allclose(split.acc, whole.acc, rtol=1e-12, atol=0.0)
    assert split.acc[0] == pytest.approx(mult.sum())


def test_the_dp_split_works_in_a_forked_child() -> None:
    # The DP's worker thread does not survive a fork: a child must start its own rather than
    # wait forever for the parent's.
    import os
    import signal

    from peel.leads import score

    rng = np.random.default_rng(9)
    prob = np.clip(rng.beta(0.3, 5, size=(score._SPLIT_ROWS + 10, 4)), 1e-6, 0.99)
    gain = gains(prob, np.array([1.0, 0.7, 0.5, 0.9]), Params())
    mult = np.ones(len(gain))
    top = float(gain.sum(axis=1).max())
    want = score.tail_sums(gain, prob, mult, top, 0).acc  # the parent's pool now exists
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        signal.alarm(60)
        got = score.tail_sums(gain, prob, mult, top, 0).acc
        os.write(write, b"ok" if np.allclose(got, want, rtol=1e-12, atol=0.0) else b"no")
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.read(read, 2) == b"ok" and os.waitstatus_to_exitcode(status) == 0
