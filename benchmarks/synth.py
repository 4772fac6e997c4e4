"""Rate, memory and disk of `peel synth` (issue 3: `large` at 1 million rows a second or
better, peak memory at most 4 GB at any scale).

    python benchmarks/synth.py [--scale large] [--seed 3] [--out DIR] [--keep]

Runs `peel synth --scale S --seed N --out DIR --json` as a child process and reports:

- wall-clock seconds from outside, rows written (every export, from the manifest), rows/s;
- peak memory of the whole process tree, as the largest sum of proportional set sizes (PSS,
  from /proc/<pid>/smaps_rollup, sampled every 0.2 s) over the generator and its ANPR worker
  processes: forked workers share the parent's pages, so adding their resident sizes would
  count those pages two or three times; PSS splits each shared page between its users;
- the peak resident size of the main process (getrusage) and the largest of the workers';
- disk used by the city.

Baseline in the same run: DuckDB (2 threads) writing the same number of rows of the same
shape (seven text columns like an ANPR read) to zstd Parquet with `COPY (SELECT ... FROM
range(N)) TO ...`: what an engine does on this machine when it only has to produce and write
rows, with no people, routes, crimes or truth to work out.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out.append(int(d.name))
    return out


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo += _children(p)
    return pids


def run_peel(scale: str, seed: int, out: Path) -> dict[str, float]:
    cmd = [
        str(ROOT / ".venv/bin/peel"),
        "synth",
        "--scale",
        scale,
        "--seed",
        str(seed),
        "--out",
        str(out),
        "--json",
    ]
    env = dict(os.environ)
    peak_pss = [0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak_pss[0] = max(peak_pss[0], sum(_pss_kb(p) for p in _tree(proc.pid)))
            stop.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - t0
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        sys.exit(f"peel synth failed ({proc.returncode}): {stderr.decode()[-2000:]}")
    doc = json.loads(stdout)
    rows = sum(doc["rows"].values())
    return {
        "seconds": seconds,
        "rows": rows,
        "rows_per_s": rows / seconds,
        "peak_pss_tree_mb": peak_pss[0] / 1024,
        "peak_rss_main_mb": doc["peak_rss_mb"],
        "peak_rss_worker_mb": doc["peak_rss_worker_mb"],
        "disk_mb": doc["disk_mb"],
        "reads": doc["rows"].get("anpr-read", 0),
    }


def run_baseline(rows: int, out: Path) -> dict[str, float]:
    target = out / "baseline.parquet"
    con = duckdb.connect(str(out / "baseline.duckdb"))
    con.execute("SET threads = 2")
    t0 = time.perf_counter()
    con.execute(
        f"""COPY (
            SELECT 'RD-' || lpad(CAST(i AS VARCHAR), 10, '0') AS "Read ID",
                   chr(65 + CAST(i % 23 AS INTEGER)) || 'Q' || lpad(CAST(i % 97 AS VARCHAR), 2, '0')
                       || ' ' || chr(65 + CAST(i % 19 AS INTEGER)) || 'XY' AS "VRM",
                   'CAM-SM-' || lpad(CAST(i % 420 AS VARCHAR), 3, '0') AS "Camera ID",
                   strftime(TIMESTAMP '2024-01-01' + to_seconds(i % 31536000),
                            '%Y-%m-%dT%H:%M:%SZ') AS "Read Time (UTC)",
                   CAST(round(0.5 + (i % 500) / 1000.0, 3) AS VARCHAR) AS "Confidence",
                   'anpr-img/' || CAST(i AS VARCHAR) || '.jpg' AS "Image Ref",
                   CAST(1 + i % 2 AS VARCHAR) AS "Lane"
            FROM range({rows}) t(i)
        ) TO '{target}' (FORMAT parquet, COMPRESSION zstd)"""
    )
    seconds = time.perf_counter() - t0
    con.close()
    size = target.stat().st_size / 2**20
    return {"seconds": seconds, "rows": rows, "rows_per_s": rows / seconds, "disk_mb": size}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scale", default="large")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "synth")
    ap.add_argument("--keep", action="store_true", help="keep the generated city")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    city = args.out / f"{args.scale}-{args.seed}"
    peel = run_peel(args.scale, args.seed, city)
    base = run_baseline(int(peel["rows"]), args.out)
    print(f"peel synth --scale {args.scale} --seed {args.seed} on {os.cpu_count()} cores")
    print(f"{'measurement':<44} {'seconds':>8} {'rows':>12} {'rows/s':>11} {'vs base':>8}")
    print(
        f"{'peel synth (every export and truth)':<44} {peel['seconds']:8.1f} "
        f"{peel['rows']:12,.0f} {peel['rows_per_s']:11,.0f} "
        f"{peel['rows_per_s'] / base['rows_per_s']:8.2f}"
    )
    print(
        f"{'DuckDB COPY of rows shaped like reads':<44} {base['seconds']:8.1f} "
        f"{base['rows']:12,.0f} {base['rows_per_s']:11,.0f} {1.0:8.2f}"
    )
    print(
        f"peak memory, whole process tree (PSS): {peel['peak_pss_tree_mb']:,.0f} MB; "
        f"main process RSS {peel['peak_rss_main_mb']:,.0f} MB, largest worker RSS "
        f"{peel['peak_rss_worker_mb']:,.0f} MB (shared pages counted in each)"
    )
    print(f"disk: city {peel['disk_mb']:,.0f} MB; baseline file {base['disk_mb']:,.0f} MB")
    (args.out / f"results-{args.scale}.json").write_text(
        json.dumps({"peel": peel, "baseline": base}, indent=1) + "\n"
    )
    if not args.keep:
        shutil.rmtree(city, ignore_errors=True)
    for f in ("baseline.parquet", "baseline.duckdb"):
        (args.out / f).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
