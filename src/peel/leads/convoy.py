"""Convoy analysis: vehicles repeatedly read at the same cameras within N seconds of a target.

**The join.** Each target read at camera c and time t joins every other read at c in
[t - N, t + N]: a true interval join. It is run as an equi-join on (camera, time bucket) with
the bucket width N and each target read looking in its own bucket and both neighbours, then the
exact test |dt| <= N. The buckets only index the join; a pair that straddles a bucket edge is
still found (fixed buckets alone, `floor(t / N)` equal on both sides, miss it).

**Counting.** A *pass* is one target read. A companion is scored by the distinct passes it was
alongside, and the distinct cameras and days of those passes.

**Against its own background.** A car that passes a camera every day at eight is alongside a
target who also passes at eight, and is no convoy partner. So every target day is shifted onto
every other day of the range (same cameras, same times of day, +-N seconds) and we count the day
pairs on which the companion was there anyway, using only its reads that were not alongside the
target. `p = (hits + 0.5) / (pairs + 1)` is its chance of being alongside on a day, and
`lambda = target days x p` the days alongside to expect by chance. Days, not passes, are the
unit: one shared trip passes several cameras within minutes, which is one coincidence.

**Multiplicity.** Among all vehicles read at the target's cameras, some will be alongside on
several days by chance. The figure reported is the expected number of vehicles, among all of
them, with at least this many days alongside: `sum over vehicles v of P(Poisson(lambda_v) >= k)`.
A companion is *reported* when that figure is at most `max_expected` (default 0.05).

Time of day is taken in UTC: across a clock change a habit shifts by an hour, which makes a
habitual companion look slightly less habitual for the days on the other side (see docs).
"""

from __future__ import annotations

import logging
import math
import random
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from peel import clock as data_clock
from peel.errors import PeelError
from peel.governance.access import Caller, operation
from peel.governance.anpr import require_access
from peel.governance.policy import Policy
from peel.lake import Lake
from peel.lake.engine import Engine
from peel.serving import Store

logger = logging.getLogger(__name__)

CODE_VERSION = "convoy-1"
DAY = 86_400
MAX_SECONDS = 3_600
MAX_RANGE_DAYS = 400
# Target reads further apart than this start a new trip: the unit of coincidence.
TRIP_GAP = 1_800
_PLATE = re.compile(r"^[A-Z0-9]{2,8}$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Jeffreys-style smoothing of the background chance per day: a vehicle never seen alongside
# on any shifted day still gets a small chance, not zero.
PRIOR_HITS = 0.5
PRIOR_PAIRS = 1.0


class ConvoyError(PeelError):
    """A convoy search was asked for with a malformed plate, date or setting."""


def normalise_plate(text: str) -> str:
    """The plate as the lake compares it: upper case, no spaces. The error never repeats it."""
    plate = re.sub(r"\s", "", text or "").upper()
    if not _PLATE.match(plate):
        raise ConvoyError("--vrm is not a number plate (2 to 8 letters and digits, spaces allowed)")
    return plate


def parse_day(text: str, *, option: str) -> date:
    if not _DAY.match(text.strip()):
        raise ConvoyError(f"{option} must be a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(text.strip())
    except ValueError as e:
        raise ConvoyError(f"{option} is not a calendar date") from e


@dataclass(frozen=True)
class ConvoyQuery:
    """One convoy search: reads of `plate` with start <= read_at < end."""

    plate: str
    start: datetime
    end: datetime
    seconds: int = 60
    min_passes: int = 3
    max_expected: float = 0.05

    def __post_init__(self) -> None:
        if not 1 <= self.seconds <= MAX_SECONDS:
            raise ConvoyError(f"--seconds must be 1 to {MAX_SECONDS}")
        if self.min_passes < 1:
            raise ConvoyError("--min-passes must be at least 1")
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ConvoyError("the range must be aware datetimes (UTC)")
        if self.end <= self.start:
            raise ConvoyError("the date range is empty (--from after --to, or in the future)")
        if self.end - self.start > timedelta(days=MAX_RANGE_DAYS):
            raise ConvoyError(f"the date range is longer than {MAX_RANGE_DAYS} days")

    def partitions(self) -> set[str]:
        """The day partitions of anpr_read the range touches (reads are partitioned by UTC
        day), so only those files are opened."""
        first = self.start.astimezone(UTC).date()
        last = (self.end - timedelta(microseconds=1)).astimezone(UTC).date()
        return {str(first + timedelta(days=i)) for i in range((last - first).days + 1)}


def resolve_range(
    *,
    date_from: date | None,
    date_to: date | None,
    now: datetime,
    recent_days: int,
) -> tuple[datetime, datetime]:
    """[start, end) for --from/--to: whole UTC days, never past the data clock. Without
    --from the range starts where the recent access tier starts (no authorisation needed)."""
    end = now if date_to is None else min(now, _midnight(date_to) + timedelta(days=1))
    start = now - timedelta(days=recent_days) if date_from is None else _midnight(date_from)
    if date_from is not None and date_to is not None and date_from > date_to:
        raise ConvoyError("--from is after --to")
    if start >= end:
        raise ConvoyError("the date range is empty (it starts after --to or the data clock)")
    return start, end


def _midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


# -- the queries -----------------------------------------------------------------------------
# Portable SQL (DuckDB, PostgreSQL, Spark SQL spell all of it the same) apart from the FROM
# expression, which the engine seam supplies. Times are whole epoch seconds so the arithmetic
# is plain integers; `floor(x / 86400.0)` is the UTC day on every engine (DuckDB's `/` on
# integers gives a double, PostgreSQL's truncates: the `.0` makes both divide alike).
def _reads_cte(reads: str) -> str:
    # `AS MATERIALIZED` (DuckDB and PostgreSQL; Spark ignores nothing here but has no such
    # hint, and a Spark dialect would cache instead): the target's reads and the reads at its
    # cameras are used several times, and each would otherwise rescan the day files.
    return f"""
    t0 AS MATERIALIZED (
      SELECT CAST(row_id AS VARCHAR) AS rid, read_id, camera_id,
             CAST(floor(EXTRACT(EPOCH FROM read_at)) AS BIGINT) AS ts
      FROM {reads}
      WHERE read_at >= $start AND read_at < $end AND upper(replace(vrm, ' ', '')) = $plate
    ),
    t AS MATERIALIZED (
      SELECT rid, read_id, camera_id, ts, CAST(floor(ts / 86400.0) AS BIGINT) AS day,
             sum(brk) OVER (ORDER BY ts, rid ROWS UNBOUNDED PRECEDING) AS trip
      FROM (SELECT t0.*, CASE WHEN ts - lag(ts) OVER (ORDER BY ts, rid) > $gap
                              THEN 1 ELSE 0 END AS brk FROM t0) x
    ),
    o AS MATERIALIZED (
      SELECT CAST(row_id AS VARCHAR) AS rid, read_id, camera_id,
             upper(replace(vrm, ' ', '')) AS plate,
             CAST(floor(EXTRACT(EPOCH FROM read_at)) AS BIGINT) AS ts
      FROM {reads}
      WHERE read_at >= $start AND read_at < $end AND vrm IS NOT NULL
        AND camera_id IN (SELECT camera_id FROM t0)
        AND upper(replace(vrm, ' ', '')) <> $plate
    ),
    tb AS (
      SELECT t.*, CAST(floor(t.ts / CAST($n AS DOUBLE)) AS BIGINT) + k.step AS bkt
      FROM t CROSS JOIN (VALUES (-1), (0), (1)) AS k(step)
    ),
    pairs AS (
      SELECT tb.rid AS t_rid, tb.read_id AS t_read_id, tb.camera_id, tb.ts AS t_ts,
             tb.day AS t_day, tb.trip AS t_trip, o.rid AS o_rid, o.read_id AS o_read_id,
             o.plate, o.ts AS o_ts
      FROM tb JOIN o ON o.camera_id = tb.camera_id
        AND CAST(floor(o.ts / CAST($n AS DOUBLE)) AS BIGINT) = tb.bkt
      WHERE abs(o.ts - tb.ts) <= $n
    )"""


def _main_sql(reads: str) -> str:
    """The target's figures (one row, kind 'T') and every pair alongside it (kind 'P')."""
    return (
        "WITH "
        + _reads_cte(reads)
        + """
    SELECT 'T' AS kind, CAST(NULL AS VARCHAR) AS plate,
           (SELECT count(*) FROM t) AS passes, (SELECT count(DISTINCT trip) FROM t) AS trips,
           (SELECT count(DISTINCT day) FROM t) AS days,
           (SELECT count(DISTINCT camera_id) FROM t) AS cameras,
           (SELECT count(DISTINCT plate) FROM o) AS candidates,
           (SELECT count(DISTINCT CAST(floor(ts / 86400.0) AS BIGINT)) FROM o) AS data_days,
           CAST(NULL AS VARCHAR) AS t_rid, CAST(NULL AS VARCHAR) AS t_read_id,
           CAST(NULL AS VARCHAR) AS camera_id, CAST(NULL AS BIGINT) AS t_ts,
           CAST(NULL AS BIGINT) AS t_day, CAST(NULL AS BIGINT) AS t_trip,
           CAST(NULL AS VARCHAR) AS o_rid, CAST(NULL AS VARCHAR) AS o_read_id,
           CAST(NULL AS BIGINT) AS o_ts
    UNION ALL
    SELECT 'P', plate, NULL, NULL, NULL, NULL, NULL, NULL, t_rid, t_read_id, camera_id, t_ts, t_day,
           t_trip, o_rid, o_read_id, o_ts
    FROM pairs"""
    )


def _background_sql(reads: str) -> str:
    """Per vehicle at the target's cameras: the (target trip, other day) pairs on which it was
    there anyway, at the trip's cameras and times of day, in reads not alongside the target.

    The time-of-day join is the same bucketed interval join on a circle: `nb` buckets of
    86400 / nb >= N seconds each, neighbours taken modulo nb, then the exact circular test."""
    return (
        "WITH "
        + _reads_cte(reads)
        + """,
    bg AS (
      SELECT plate, camera_id, CAST(floor(ts / 86400.0) AS BIGINT) AS day,
             MOD(ts, 86400) AS tod, CAST(floor(MOD(ts, 86400) * $nb / 86400.0) AS BIGINT) AS tbkt
      FROM o WHERE rid NOT IN (SELECT o_rid FROM pairs)
    ),
    tt AS (
      SELECT t.camera_id, t.day, t.trip, MOD(t.ts, 86400) AS tod,
             MOD(CAST(floor(MOD(t.ts, 86400) * $nb / 86400.0) AS BIGINT) + k.step + $nb, $nb)
               AS tbkt
      FROM t CROSS JOIN (VALUES (-1), (0), (1)) AS k(step)
    ),
    hits AS (
      SELECT DISTINCT bg.plate, tt.trip, bg.day
      FROM tt JOIN bg ON bg.camera_id = tt.camera_id AND bg.tbkt = tt.tbkt
      WHERE bg.day <> tt.day
        AND least(abs(bg.tod - tt.tod), 86400 - abs(bg.tod - tt.tod)) <= $n
    )
    SELECT c.plate, coalesce(h.hits, 0) AS hits
    FROM (SELECT DISTINCT plate FROM o) c
    LEFT JOIN (SELECT plate, count(*) AS hits FROM hits GROUP BY plate) h ON h.plate = c.plate"""
    )


def _params(q: ConvoyQuery, *, circle: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "plate": q.plate,
        "start": q.start,
        "end": q.end,
        "n": q.seconds,
        "gap": TRIP_GAP,
    }
    if circle:
        out["nb"] = max(1, DAY // q.seconds)
    return out


# -- the arithmetic --------------------------------------------------------------------------
def poisson_tail(lam: float, kmax: int) -> np.ndarray:
    """`sf[k] = P(X >= k)` for k = 0..kmax and X ~ Poisson(lam) (lam > 0), summed from the far
    tail upwards so that tiny tails keep their precision."""
    top = int(max(kmax, lam + 12 * math.sqrt(lam) + 40)) + 1
    j = np.arange(top + 1, dtype=np.float64)
    log_fact = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, top + 1, dtype=np.float64)))])
    pmf = np.exp(-lam + j * math.log(lam) - log_fact)
    sf = np.cumsum(pmf[::-1])[::-1]
    return np.minimum(sf[: kmax + 1], 1.0)


def expected_as_unlikely(p_value: float, lams: np.ndarray, counts: np.ndarray) -> float:
    """Expected number of vehicles, with background rates `lams` (each held by `counts`
    vehicles), whose count alongside would be at least as unlikely as `p_value`:
    sum over vehicles of P(P(X >= X_v) <= p_value), X_v ~ Poisson(lam_v)."""
    total = 0.0
    for lam, n in zip(lams.tolist(), counts.tolist(), strict=True):
        sf = poisson_tail(lam, int(lam + 12 * math.sqrt(lam) + 40))
        at = np.flatnonzero(sf <= p_value)
        if len(at):
            total += n * float(sf[at[0]])
    return total


def _fmt(x: float) -> str:
    if x == 0:
        return "0"
    if abs(x) >= 0.01:
        return f"{x:,.3f}".rstrip("0").rstrip(".")
    return f"{x:.2e}"


def _utc(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class _Background:
    trips: int
    range_days: int
    day_pairs: int
    vehicles: int


# -- the search ------------------------------------------------------------------------------
def search(engine: Engine, q: ConvoyQuery) -> dict[str, Any]:
    """Companions of `q.plate` over the range: every vehicle alongside at least
    `q.min_passes` passes, ranked (reported first, then by passes), each explained."""
    started = time.perf_counter()
    reads = engine.table_sql("anpr_read", q.partitions())
    rows = engine.query(_main_sql(reads), _params(q)).to_pylist()
    head = next(r for r in rows if r["kind"] == "T")
    passes, trips = int(head["passes"] or 0), int(head["trips"] or 0)
    # D: the days of the range on which the target's cameras read anything (a day with no
    # reads, before the data starts or while cameras were down, is no chance to be there).
    range_days = max(int(head["data_days"] or 0), int(head["days"] or 0))
    out: dict[str, Any] = {
        "query": {
            "from": q.start.isoformat(),
            "to": q.end.isoformat(),
            "seconds": q.seconds,
            "min_passes": q.min_passes,
            "max_expected": q.max_expected,
        },
        "target": {
            "passes": passes,
            "trips": trips,
            "days": int(head["days"] or 0),
            "cameras": int(head["cameras"] or 0),
            "range_days": range_days,
        },
        "vehicles_at_cameras": int(head["candidates"] or 0),
        "companions": [],
        "code_version": CODE_VERSION,
    }
    by_plate: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r["kind"] == "P":
            by_plate.setdefault(r["plate"], []).append(r)
    shortlisted = {
        plate: rs for plate, rs in by_plate.items() if len({r["t_rid"] for r in rs}) >= q.min_passes
    }
    if shortlisted:
        bg = engine.query(_background_sql(reads), _params(q, circle=True))
        hits_of = dict(
            zip(bg.column("plate").to_pylist(), bg.column("hits").to_pylist(), strict=True)
        )
        b = _Background(
            trips=trips,
            range_days=range_days,
            day_pairs=trips * max(range_days - 1, 0),
            vehicles=len(hits_of),
        )
        levels, counts = np.unique(
            np.asarray(list(hits_of.values()), dtype=np.int64), return_counts=True
        )
        lams = b.trips * (levels + PRIOR_HITS) / (b.day_pairs + PRIOR_PAIRS)
        companions = [
            _companion(
                plate,
                rs,
                q=q,
                passes=passes,
                b=b,
                hits=int(hits_of[plate]),
                lams=lams,
                counts=counts,
            )
            for plate, rs in shortlisted.items()
        ]
        companions.sort(key=lambda c: (not c["reported"], -c["passes"], c["expected_by_chance"]))
        for rank, c in enumerate(companions, 1):
            c["rank"] = rank
        out["companions"] = companions
    out["seconds"] = round(time.perf_counter() - started, 4)
    return out


def _companion(
    plate: str,
    rows: list[dict[str, Any]],
    *,
    q: ConvoyQuery,
    passes: int,
    b: _Background,
    hits: int,
    lams: np.ndarray,
    counts: np.ndarray,
) -> dict[str, Any]:
    n_pass = len({r["t_rid"] for r in rows})
    cams = sorted({r["camera_id"] for r in rows})
    n_days = len({r["t_day"] for r in rows})
    k = len({r["t_trip"] for r in rows})
    p_trip = (hits + PRIOR_HITS) / (b.day_pairs + PRIOR_PAIRS)
    lam = b.trips * p_trip
    p_value = float(poisson_tail(lam, k)[k])
    expected = expected_as_unlikely(p_value, lams, counts)
    reported = expected <= q.max_expected
    gaps = [r["o_ts"] - r["t_ts"] for r in rows]
    med = float(np.median(gaps))
    order = "behind" if med > 0 else "ahead of" if med < 0 else "level with"
    rows = sorted(rows, key=lambda r: (r["t_ts"], r["o_ts"]))
    evidence = [
        {
            "camera_id": r["camera_id"],
            "target_read_id": r["t_read_id"],
            "target_row_id": r["t_rid"],
            "target_at": _utc(r["t_ts"]),
            "companion_read_id": r["o_read_id"],
            "companion_row_id": r["o_rid"],
            "companion_at": _utc(r["o_ts"]),
            "gap_seconds": r["o_ts"] - r["t_ts"],
        }
        for r in rows
    ]
    claim = (
        f"Read within {q.seconds} s of the target at the same camera on {n_pass} of its "
        f"{passes} passes: {k} of its {b.trips} trips, on {n_days} day(s), at {len(cams)} "
        f"camera(s), typically {abs(med):.0f} s {order} it. Shifting each of the target's trips "
        f"onto the other days of the range, it was at those cameras at those times of day anyway "
        f"on {hits:,} of {b.day_pairs:,} trip-days, so about {_fmt(lam)} trips alongside would "
        f"be expected by chance, and {k} or more has probability {_fmt(p_value)}. Among the "
        f"{b.vehicles:,} vehicles read at these cameras, about {_fmt(expected)} would be this "
        "unlikely by chance. "
        + (
            "So this is unlikely to be coincidence: a possible convoy partner."
            if reported
            else "So this could be coincidence: not reported as a convoy partner."
        )
    )
    arithmetic = [
        f"target: {passes} passes (reads) in {b.trips} trips (reads more than "
        f"{TRIP_GAP // 60} min apart start a new trip); D = {b.range_days} days of the range "
        "with reads at these cameras",
        f"alongside (same camera, |dt| <= {q.seconds} s): {n_pass} passes, {len(cams)} cameras, "
        f"{n_days} days, k = {k} trips",
        f"trip-days to compare = trips x (D - 1) = {b.trips} x {max(b.range_days - 1, 0)} = "
        f"{b.day_pairs:,}; there anyway (not alongside the target) on {hits:,}",
        f"chance per trip p = ({hits} + {PRIOR_HITS}) / ({b.day_pairs:,} + {PRIOR_PAIRS:g}) = "
        f"{_fmt(p_trip)}",
        f"expected trips alongside by chance lambda = {b.trips} x {_fmt(p_trip)} = {_fmt(lam)}",
        f"P(at least {k} trips | Poisson(lambda)) = {_fmt(p_value)}",
        f"vehicles read at these cameras: {b.vehicles:,}; expected number as unlikely by chance "
        f"= sum over them of P(their p-value <= {_fmt(p_value)}) = {_fmt(expected)}",
        f"reported when that expectation <= {q.max_expected:g}: {'yes' if reported else 'no'}",
    ]
    return {
        "vrm": plate,
        "passes": n_pass,
        "trips": k,
        "days": n_days,
        "cameras": cams,
        "median_gap_seconds": med,
        "background_hits": hits,
        "trip_days": b.day_pairs,
        "p_trip": p_trip,
        "expected_trips": lam,
        "p_value": p_value,
        "expected_by_chance": expected,
        "reported": reported,
        "evidence": evidence,
        "explanation": {
            "claim": claim,
            "evidence": [e["target_row_id"] for e in evidence]
            + [e["companion_row_id"] for e in evidence],
            "arithmetic": arithmetic,
            "confidence": max(0.0, 1.0 - min(1.0, expected)),
            "confidence_text": (
                f"about {_fmt(expected)} of the vehicles at these cameras would be this unlikely "
                "by chance"
            ),
            "code_version": CODE_VERSION,
        },
    }


# -- the governed search ---------------------------------------------------------------------
def find_convoys(
    lake: Lake,
    store: Store,
    policy: Policy,
    caller: Caller,
    *,
    vrm: str,
    date_from: str | None = None,
    date_to: str | None = None,
    seconds: int = 60,
    min_passes: int = 3,
    max_expected: float = 0.05,
    authorisation_id: int | None = None,
    now: Callable[[], datetime] = data_clock.now,
) -> dict[str, Any]:
    """The convoy search for a caller: plate and dates checked, the ANPR access tier decided
    for the oldest read the range can hold (by the data clock), then the search run and
    audited as a consultation of anpr_read naming the target plate and every companion."""
    plate = normalise_plate(vrm)
    d_from = parse_day(date_from, option="--from") if date_from else None
    d_to = parse_day(date_to, option="--to") if date_to else None
    clock_now = now()
    start, end = resolve_range(
        date_from=d_from, date_to=d_to, now=clock_now, recent_days=policy.anpr.recent_days
    )
    q = ConvoyQuery(
        plate=plate,
        start=start,
        end=end,
        seconds=seconds,
        min_passes=min_passes,
        max_expected=max_expected,
    )
    query = {
        "search": "convoy",
        "vrm": plate,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "seconds": seconds,
        "min_passes": min_passes,
        "authorisation": authorisation_id,
    }
    decision = require_access(
        store,
        policy,
        caller,
        read_time=start,
        authorisation_id=authorisation_id,
        object_type="anpr_read",
        query=query,
    )
    with operation(
        store,
        policy,
        caller,
        permission=policy.anpr.permission,
        operation="consultation",
        object_type="anpr_read",
        query={**query, "tier": decision.tier},
    ) as op:
        engine = lake.engine()
        try:
            result = search(engine, q)
        finally:
            engine.close()
        op.returned(c["vrm"] for c in result["companions"])
    result["access"] = {"tier": decision.tier, "reason": decision.reason}
    logger.info(
        "convoy search: %d passes, %d companions, %.3fs",
        result["target"]["passes"],
        len(result["companions"]),
        result["seconds"],
    )
    return result


# -- evaluation against a synthetic city's truth ---------------------------------------------
def _lake_days(engine: Engine) -> tuple[date, date] | None:
    row = engine.query(
        f"SELECT min(read_at) AS lo, max(read_at) AS hi FROM {engine.table_sql('anpr_read')}"
    ).to_pylist()[0]
    if row["lo"] is None:
        return None
    return row["lo"].astimezone(UTC).date(), row["hi"].astimezone(UTC).date()


def evaluate_convoys(
    lake: Lake,
    truth_dir: Path,
    *,
    seconds: int = 60,
    min_passes: int = 3,
    max_expected: float = 0.05,
    null_targets: int = 200,
    min_target_reads: int = 20,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Score convoy search on a synthetic city: for every planted pair (truth/convoys.parquet)
    search for vrm_a over the whole span of reads, and count vrm_b reported at rank 1 and in
    the top 5; for random plates in no planted convoy (read at least `min_target_reads`
    times), the share with any companion reported (the false convoy rate)."""
    path = Path(truth_dir) / "convoys.parquet"
    if not path.is_file():
        raise PeelError(f"{truth_dir}: no convoys.parquet in this truth folder")
    truth = pq.read_table(path)
    pairs: dict[tuple[str, str], list[int]] = {}
    if truth.num_rows and "vrm_a" in truth.column_names:
        for row in truth.select(["vrm_a", "vrm_b", "passes"]).to_pylist():
            key = (normalise_plate(row["vrm_a"]), normalise_plate(row["vrm_b"]))
            days_passes = pairs.setdefault(key, [0, 0])
            days_passes[0] += 1
            days_passes[1] += int(row["passes"])
    in_convoy = {p for pair in pairs for p in pair}
    engine = lake.engine()
    try:
        span = _lake_days(engine)
        if span is None:
            raise PeelError("the lake holds no ANPR reads to evaluate convoys on")
        start, end = _midnight(span[0]), _midnight(span[1]) + timedelta(days=1)
        end = min(end, start + timedelta(days=MAX_RANGE_DAYS))

        def run(plate: str) -> dict[str, Any]:
            return search(
                engine,
                ConvoyQuery(
                    plate=plate,
                    start=start,
                    end=end,
                    seconds=seconds,
                    min_passes=min_passes,
                    max_expected=max_expected,
                ),
            )

        found: list[dict[str, Any]] = []
        timings: list[float] = []
        for (a, b), (convoy_days, planted) in sorted(pairs.items()):
            res = run(a)
            timings.append(res["seconds"])
            rank = next((c["rank"] for c in res["companions"] if c["vrm"] == b), None)
            reported = any(c["vrm"] == b and c["reported"] for c in res["companions"])
            found.append(
                {
                    "convoy_days": convoy_days,
                    "planted_passes": planted,
                    "rank": rank,
                    "reported": reported,
                    "target_passes": res["target"]["passes"],
                }
            )
            if progress:
                progress(f"convoy {len(found)}/{len(pairs)}: rank {rank}")
        plates = engine.query(
            f"""SELECT upper(replace(vrm, ' ', '')) AS plate, count(*) AS n
            FROM {engine.table_sql("anpr_read")} WHERE vrm IS NOT NULL
            GROUP BY upper(replace(vrm, ' ', '')) HAVING count(*) >= $m ORDER BY plate""",
            {"m": min_target_reads},
        ).column("plate")
        eligible = [p for p in plates.to_pylist() if p not in in_convoy and _PLATE.match(p)]
        rng = random.Random(seed)  # noqa: S311 - a reproducible sample, not a secret
        nulls = rng.sample(eligible, min(null_targets, len(eligible)))
        false_hits = 0
        for i, plate in enumerate(nulls, 1):
            res = run(plate)
            timings.append(res["seconds"])
            false_hits += any(c["reported"] for c in res["companions"])
            if progress and i % 25 == 0:
                progress(f"null target {i}/{len(nulls)}: {false_hits} with a reported companion")
    finally:
        engine.close()
    n = len(found)
    # Detectable: at least min_passes planted passes (before camera misses); a pair planted
    # on a day its leader made one short trip cannot reach the listing threshold.
    det = [f for f in found if f["planted_passes"] >= min_passes]
    n_null = len(nulls)
    rate = false_hits / n_null if n_null else 0.0
    return {
        "truth": str(truth_dir),
        "range": {"from": start.isoformat(), "to": end.isoformat()},
        "settings": {
            "seconds": seconds,
            "min_passes": min_passes,
            "max_expected": max_expected,
        },
        "convoys": n,
        "recall_at_1": _share(f["rank"] == 1 and f["reported"] for f in found),
        "recall_at_5": _share(
            f["rank"] is not None and f["rank"] <= 5 and f["reported"] for f in found
        ),
        "found_any_rank": _share(f["rank"] is not None for f in found),
        "detectable_convoys": len(det),
        "recall_at_1_detectable": _share(f["rank"] == 1 and f["reported"] for f in det),
        "recall_at_5_detectable": _share(
            f["rank"] is not None and f["rank"] <= 5 and f["reported"] for f in det
        ),
        "null_targets": n_null,
        "false_convoy_rate": rate,
        "false_convoy_rate_ci95": _wilson(false_hits, n_null),
        "query_seconds_p50": float(np.median(timings)) if timings else 0.0,
        "query_seconds_p95": float(np.percentile(timings, 95)) if timings else 0.0,
        "per_convoy": found,
    }


def _share(flags: Iterable[bool]) -> float:
    xs = list(flags)
    return sum(xs) / len(xs) if xs else 0.0


def _wilson(k: int, n: int, z: float = 1.96) -> list[float]:
    if n == 0:
        return [0.0, 1.0]
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return [max(0.0, c - h), min(1.0, c + h)]


__all__ = [
    "CODE_VERSION",
    "ConvoyError",
    "ConvoyQuery",
    "evaluate_convoys",
    "expected_as_unlikely",
    "find_convoys",
    "normalise_plate",
    "parse_day",
    "poisson_tail",
    "resolve_range",
    "search",
]
