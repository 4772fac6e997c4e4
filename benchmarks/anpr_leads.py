"""Benchmark: ANPR lead search at a force's volume of reads (issue 6 item 8).

    .venv/bin/python benchmarks/anpr_leads.py [--reads 100000000] [--queries 50] [--rebuild]

1. **Data.** The `large` synthetic city (`peel synth --scale large --seed 7`, 100,000,000
   ANPR reads a year by default; `--reads` changes only the reads) ingested with
   `peel.ingest.city.ingest_city`, as its own process, timed from outside (wall clock, CPU and
   peak resident memory of that process, from `os.wait4`). Reused by later runs unless
   `--rebuild`. Person resolution is not run (`--resolve` runs it): without it a lead's keeper
   is found but not linked to a profile, so the history step has nothing to read and is not
   timed.
2. **Per-plate background summary.** Built from scratch (`background.load(rebuild=True)`) in
   its own process: build time, peak memory, rows.
3. **Calibration** of the chance figure for the crime type queried (150 null sets, cached in the
   data folder as `peel leads find` does), in its own process, timed; the queries then use the
   cache as every later search does.
4. **Queries, from a fresh process.** `--queries` (50) sets of 10 crimes of one type
   (`--crime-type`, default burglary), drawn at random with a fixed seed from the crimes with a
   window of at most 14 days. Each query opens the lake (a new engine), runs the whole search
   (`find_leads`: background load, calibration cache, window query, scoring of every candidate
   vehicle against its background, far-away reads, keepers, clone check) and is timed; the
   core window query (`window_hits`) is timed alone on the same crimes. p50, p95 and max are
   printed; the first query (cold: the background read from disk) is shown on its own.
5. **Baselines, in the same run.** (a) A naive DuckDB join: the reads copied into a DuckDB
   table in random order (no time layout for zone maps to use) and the same window SQL run
   against it for the same 50 crime sets; (b) the scan limit: DuckDB summing one column
   (`epoch(read_at)`) of every read in the lake's Parquet files.

Every step runs with `PEEL_DUCKDB_THREADS=2` and the default memory limit. Output goes to
`--out` (default `benchmarks/out/anpr-leads`, git-ignored): `results.json` and each step's
logs. Plates are never printed or written: output is counts and timings.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import patrol_check as pc  # the measured-child-process helpers (same folder)
from _common import machine, say

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def _pcts(xs: list[float]) -> dict[str, float]:
    a = np.array(xs)
    return {
        "n": len(xs),
        "p50_ms": round(float(np.percentile(a, 50)) * 1000, 1),
        "p95_ms": round(float(np.percentile(a, 95)) * 1000, 1),
        "max_ms": round(float(a.max()) * 1000, 1),
    }


# --- work done inside child processes (`--child NAME`) ------------------------------------------


def _query_sets(n: int, size: int, crime_type: str, seed: int) -> list[list[Any]]:
    from peel.lake import Lake
    from peel.leads.find import pool_of

    engine = Lake().engine()
    try:
        pool = pool_of(engine, {crime_type})
    finally:
        engine.close()
    if len(pool) < size:
        raise SystemExit(f"only {len(pool)} {crime_type} crimes with a position and window")
    rng = np.random.default_rng(seed)
    return [[pool[i] for i in rng.choice(len(pool), size, replace=False)] for _ in range(n)]


def child_background() -> dict[str, Any]:
    from peel.lake import Lake
    from peel.leads import background

    lake = Lake()
    engine = lake.engine()
    try:
        t0 = time.perf_counter()
        bg = background.load(lake, engine, rebuild=True)
        return {
            "rows": len(bg.n),
            "weeks": round(bg.weeks, 1),
            "build_seconds": round(bg.build_seconds, 2),
            "seconds": round(time.perf_counter() - t0, 2),
        }
    finally:
        engine.close()


def child_calibrate(args: argparse.Namespace) -> dict[str, Any]:
    from peel.lake import Lake
    from peel.leads import background
    from peel.leads.find import calibration
    from peel.leads.score import Params
    from peel.leads.window import cameras

    lake = Lake()
    engine = lake.engine()
    try:
        bg = background.load(lake, engine)
        cams = {r["camera_id"]: (r["x"], r["y"]) for r in cameras(engine).to_pylist()}
        return calibration(lake, engine, bg, cams, args.crime_type, Params())
    finally:
        engine.close()


def child_queries(args: argparse.Namespace) -> dict[str, Any]:
    from peel.lake import Lake
    from peel.leads.find import find_leads
    from peel.leads.score import Params
    from peel.leads.window import window_hits, windows_table

    sets = _query_sets(args.queries, args.size, args.crime_type, args.seed)
    lake = Lake()
    p = Params()
    total, window, hits, leads = [], [], [], []
    for crimes in sets:
        t0 = time.perf_counter()
        out = find_leads(lake, crimes, params=p)
        total.append(time.perf_counter() - t0)
        leads.append(out["reported"])
        engine = lake.engine()
        try:
            w = windows_table(crimes, margin_min=p.margin_min)
            t0 = time.perf_counter()
            got = window_hits(engine, w, radius_m=p.radius_m)
            window.append(time.perf_counter() - t0)
            hits.append(got.num_rows)
        finally:
            engine.close()
    return {
        "first_query_s": round(total[0], 3),
        "total": _pcts(total),
        "total_after_first": _pcts(total[1:]) if len(total) > 1 else None,
        "window": _pcts(window),
        "window_hits_median": int(np.median(hits)),
        "reported_leads": int(sum(leads)),
        "crime_sets": [[c.crime_ref for c in s] for s in sets],
    }


def child_baselines(args: argparse.Namespace) -> dict[str, Any]:
    import duckdb

    from peel.lake import Lake
    from peel.leads.score import Params
    from peel.leads.window import windows_table

    lake = Lake()
    files = [str(f) for f in lake.catalog.table_files("anpr_read")]
    cam_files = [str(f) for f in lake.catalog.table_files("anpr_camera")]
    sets = _query_sets(args.queries, args.size, args.crime_type, args.seed)
    db = Path(args.out) / "naive.duckdb"
    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    con.execute("SET threads = 2")
    con.execute(f"SET temp_directory = '{Path(args.out) / 'duckdb-tmp'}'")
    t0 = time.perf_counter()
    scan = con.execute("SELECT sum(epoch(read_at)) FROM read_parquet($f)", {"f": files}).fetchone()
    scan_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    # Random order: a table without a time layout, so nothing narrows the scan.
    con.execute(
        "CREATE TABLE reads AS SELECT camera_id, vrm, read_at, row_id FROM read_parquet($f) "
        "ORDER BY hash(row_id)",
        {"f": files},
    )
    con.execute(
        "CREATE TABLE cams AS SELECT camera_id, location_x AS cx, location_y AS cy "
        "FROM read_parquet($f) WHERE location_x IS NOT NULL",
        {"f": cam_files},
    )
    load_s = time.perf_counter() - t0
    p = Params()
    times, rows = [], []
    for crimes in sets:
        con.register("w", windows_table(crimes, margin_min=p.margin_min))
        t0 = time.perf_counter()
        got = con.execute(
            """
            WITH near AS (
              SELECT w.qid, w.ci, c.camera_id, w.lo, w.hi FROM w JOIN cams c
                ON (c.cx - w.x) * (c.cx - w.x) + (c.cy - w.y) * (c.cy - w.y) <= $r2
            )
            SELECT n.qid, n.ci, upper(replace(r.vrm, ' ', '')) AS plate, r.camera_id,
                   r.read_at, CAST(r.row_id AS VARCHAR) AS read_id
            FROM reads r JOIN near n
              ON r.camera_id = n.camera_id AND r.read_at >= n.lo AND r.read_at <= n.hi
            WHERE r.vrm IS NOT NULL ORDER BY n.qid, n.ci, r.read_at, read_id
            """,
            {"r2": p.radius_m**2},
        ).to_arrow_table()
        times.append(time.perf_counter() - t0)
        rows.append(got.num_rows)
        con.unregister("w")
    con.close()
    db.unlink(missing_ok=True)
    return {
        "reads": int(con_count(files)),
        "files": len(files),
        "scan_limit_s": round(scan_s, 3),
        "scan_checksum_nonnull": scan is not None and scan[0] is not None,
        "naive_load_s": round(load_s, 1),
        "naive_window": _pcts(times),
        "naive_hits_median": int(np.median(rows)),
    }


def con_count(files: list[str]) -> int:
    import duckdb

    row = duckdb.execute("SELECT count(*) FROM read_parquet($f)", {"f": files}).fetchone()
    return int(row[0]) if row else 0


# --- the driver ---------------------------------------------------------------------------------


def build(args: argparse.Namespace, log: list[str]) -> dict[str, Any]:
    out = args.out
    city = out / f"city-{args.scale}-{args.seed_city}"
    data = out / "data"
    marker = out / "build.json"
    want = {
        "scale": args.scale,
        "reads": args.reads,
        "seed": args.seed_city,
        "resolve": args.resolve,
    }
    if marker.exists() and not args.rebuild:
        info = json.loads(marker.read_text())
        if info["plan"] == want:
            say(log, f"build reused ({marker})")
            for s in info["steps"]:
                say(log, f"  {s['name']}: {s['wall_s']:,.1f} s wall, peak {s['peak_rss_mb']:,} MB")
            return dict(info)
    shutil.rmtree(data, ignore_errors=True)
    steps = []
    params = out / "params.yaml"
    params.write_text(f"reads: {args.reads}\n")
    shutil.rmtree(city, ignore_errors=True)
    cmd = [str(BIN / "peel"), "synth", "--scale", args.scale, "--seed", str(args.seed_city)]
    cmd += ["--params", str(params), "--out", str(city), "--json"]
    steps.append(pc.run_step("synth", cmd, pc.peel_env(data, ""), log))
    env = pc.peel_env(data, pc.reference_time(city))
    code = (
        "import sys; from pathlib import Path; from peel.lake import Lake; "
        "from peel.ingest.city import ingest_city; "
        "ingest_city(Lake(), Path(sys.argv[1]), 'city')"
    )
    steps.append(pc.run_step("ingest", [sys.executable, "-c", code, str(city)], env, log))
    if args.resolve:
        steps.append(
            pc.run_step("resolve", [str(BIN / "peel"), "resolve", "run", "--json"], env, log)
        )
    info = {
        "plan": want,
        "reference_time": pc.reference_time(city),
        "steps": [s.__dict__ for s in steps],
    }
    marker.write_text(json.dumps(info, indent=1, default=str))
    return info


def child_step(name: str, args: argparse.Namespace, env: dict[str, str], log: list[str]) -> Any:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name]
    cmd += ["--out", str(args.out), "--queries", str(args.queries), "--size", str(args.size)]
    cmd += ["--crime-type", args.crime_type, "--seed", str(args.seed)]
    return pc.run_step(name, cmd, env, log)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=HERE / "out" / "anpr-leads")
    ap.add_argument("--reads", type=int, default=100_000_000, help="ANPR reads in the city")
    ap.add_argument("--scale", default="large", help="synthetic city scale (large for figures)")
    ap.add_argument("--seed-city", type=int, default=7)
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--size", type=int, default=10, help="crimes per query")
    ap.add_argument("--crime-type", default="burglary")
    ap.add_argument("--seed", type=int, default=20261205, help="seed for the crime sets")
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--resolve", action="store_true", help="also resolve people (slow)")
    ap.add_argument("--build-only", action="store_true", help="build city and lake, then stop")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.out = args.out.resolve()
    if args.child:
        fn = {
            "background": lambda: child_background(),
            "calibrate": lambda: child_calibrate(args),
            "queries": lambda: child_queries(args),
            "baselines": lambda: child_baselines(args),
        }[args.child]
        print(json.dumps(fn(), default=str))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    pc.LOGS[0] = args.out
    log: list[str] = []
    say(log, f"ANPR lead search benchmark, {args.reads:,} reads; load {os.getloadavg()[0]:.2f}")
    info = build(args, log)
    if args.build_only:
        return
    env = pc.peel_env(args.out / "data", info["reference_time"])
    results: dict[str, Any] = {
        "machine": machine(),
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    results["build"] = info
    for name in ("background", "calibrate", "queries", "baselines"):
        step = child_step(name, args, env, log)
        results[name] = {**step.__dict__}
    bg = results["background"]["out"]
    q = results["queries"]["out"]
    b = results["baselines"]["out"]

    def row(name: str, d: dict[str, float], note: str) -> str:
        return (
            f"  {name:<14} p50 {d['p50_ms']:>8,.1f} ms  p95 {d['p95_ms']:>8,.1f} ms  "
            f"max {d['max_ms']:,.1f} ms  ({note})"
        )

    say(log, "")
    say(log, f"reads in the lake: {b['reads']:,} in {b['files']:,} files")
    peak = results["background"]["peak_rss_mb"]
    say(
        log,
        f"per-plate background: {bg['rows']:,} rows over {bg['weeks']} weeks, built in "
        f"{bg['build_seconds']:.1f} s (process peak {peak:,.0f} MB)",
    )
    say(
        log, f"calibration (150 null sets, once per crime type): {results['calibrate']['wall_s']} s"
    )
    say(
        log,
        f"{q['total']['n']} queries of {args.size} {args.crime_type} crimes, one fresh process:",
    )
    say(log, row("whole search", q["total"], f"first {q['first_query_s'] * 1000:,.0f} ms"))
    say(log, row("window query", q["window"], f"{q['window_hits_median']:,} hits median"))
    say(
        log,
        row(
            "naive join",
            b["naive_window"],
            f"unsorted DuckDB table, loaded in {b['naive_load_s']} s",
        ),
    )
    say(
        log,
        f"  scan limit     {b['scan_limit_s'] * 1000:,.0f} ms (DuckDB sums a column of all reads)",
    )
    say(log, f"  process peak RSS: queries {results['queries']['peak_rss_mb']:,.0f} MB")
    results["log"] = log
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    say(log, f"results: {args.out / 'results.json'}")


if __name__ == "__main__":
    main()
