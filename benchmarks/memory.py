"""Peak memory of ingesting a very large CSV (issue 2: a 10 GB CSV within 2 GB resident).

    python benchmarks/memory.py [--gb 10] [--out DIR] [--keep]

Writes an ANPR-read CSV of the given size in the `anpr-read` layout (vectorised, in chunks, so
the generator itself stays small), then runs `peel ingest anpr-read FILE --json` as a child
process and reports its peak resident memory (getrusage of the child: the maximum over its
whole life, DuckDB's threads and spill included), its rate, and the same file loaded by DuckDB
(`CREATE TABLE AS SELECT * FROM read_csv`, 2 threads, file-backed) as a baseline measured in
the same run. Generated data is deleted unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def write_reads(path: Path, target_bytes: int, seed: int = 7) -> int:
    """ANPR reads over 30 days, time-ordered, about 80 bytes a row. Returns rows written."""
    rng = np.random.default_rng(seed)
    header = "Read ID,VRM,Camera ID,Read Time (UTC),Confidence,Image Ref,Lane\n"
    rows = 0
    start = np.datetime64("2024-03-01T00:00:00", "s")
    span = 30 * 86400
    chunk = 1_000_000
    est_rows = max(target_bytes // 80, 1)
    with path.open("w", encoding="utf-8") as fh:
        fh.write(header)
        while fh.tell() < target_bytes:
            ids = np.arange(rows, rows + chunk)
            secs = (ids * span // est_rows).astype("timedelta64[s]")
            ts = np.datetime_as_string(start + secs, unit="s")
            letters = np.array(list("ABCDEFGHJKLMNOPRSTUVWXYZ"))
            plate_no = rng.integers(0, 50_000, chunk)
            vrm = (
                letters[plate_no % 24].astype(object)
                + letters[(plate_no // 24) % 24].astype(object)
                + (plate_no % 90 + 10).astype(str).astype(object)
                + " "
                + letters[(plate_no // 7) % 24].astype(object)
                + letters[(plate_no // 11) % 24].astype(object)
                + letters[(plate_no // 13) % 24].astype(object)
            )
            cam = rng.integers(1, 81, chunk)
            conf = rng.integers(50, 100, chunk)
            lane = rng.integers(1, 4, chunk)
            lines = [
                f"RD-{i:012d},{v},CAM-{c:03d},{t}Z,0.{k:02d},anpr-img/{t[:10]}/RD-{i:012d}.jpg,{ln}\n"
                for i, v, c, t, k, ln in zip(
                    ids.tolist(),
                    vrm.tolist(),
                    cam.tolist(),
                    ts.tolist(),
                    conf.tolist(),
                    lane.tolist(),
                    strict=True,
                )
            ]
            fh.write("".join(lines))
            rows += chunk
    return rows


def run_peel(csv: Path, data_dir: Path) -> tuple[float, int, dict[str, int]]:
    """(seconds, peak resident KB of the child, the ingest's JSON totals)."""
    env = dict(os.environ, PEEL_DATA_DIR=str(data_dir))
    t0 = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "peel"), "ingest", "anpr-read", str(csv), "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    doc = json.loads(out.stdout)
    return seconds, max(peak_kb, before), doc


def run_duckdb(csv: Path, work: Path) -> float:
    code = (
        "import duckdb, sys, time\n"
        "c = duckdb.connect(sys.argv[2]); c.execute('SET threads = 2')\n"
        "c.execute('SET enable_progress_bar = false')\n"
        "t = time.perf_counter()\n"
        'c.execute("CREATE TABLE t AS SELECT * FROM read_csv(\'" + sys.argv[1] + "\')")\n'
        "c.execute('CHECKPOINT')\n"
        "print(time.perf_counter() - t)\n"
    )
    db = work / "baseline.duckdb"
    db.unlink(missing_ok=True)
    out = subprocess.run(
        [sys.executable, "-c", code, str(csv), str(db)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--gb", type=float, default=10.0, help="size of the CSV in GB (10^9 bytes)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "memory")
    ap.add_argument("--keep", action="store_true", help="keep the generated data")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(args.out).free
    need = int(args.gb * 1e9 * 3)
    if free < need:
        print(
            f"refusing: {free / 1e9:.0f} GB free, about {need / 1e9:.0f} GB needed", file=sys.stderr
        )
        return 2
    csv = args.out / "reads.csv"
    t0 = time.perf_counter()
    rows = write_reads(csv, int(args.gb * 1e9))
    size = csv.stat().st_size
    print(f"generated {rows:,} reads, {size / 1e9:.2f} GB in {time.perf_counter() - t0:.0f} s")
    data_dir = args.out / "peel-data"
    shutil.rmtree(data_dir, ignore_errors=True)
    secs, peak_kb, result = run_peel(csv, data_dir)
    baseline = run_duckdb(csv, args.out)
    peak_gb = peak_kb * 1024 / 1e9
    print(f"{'':28}{'seconds':>10}{'rows/s':>14}")
    print(f"{'peel ingest (CSV, fsync on)':28}{secs:10.0f}{rows / secs:14,.0f}")
    print(f"{'duckdb CTAS + CHECKPOINT':28}{baseline:10.0f}{rows / baseline:14,.0f}")
    print(f"rate ratio peel/duckdb: {baseline / secs:.2f}")
    print(f"peel peak resident memory: {peak_gb:.2f} GB (limit in the issue: 2 GB)")
    print(f"stored {result['rows_stored']:,}, quarantined {result['rows_quarantined']:,}")
    if not args.keep:
        shutil.rmtree(args.out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
