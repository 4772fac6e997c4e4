"""Person resolution scored on synthetic cities of several seeds (`make eval` runs it).

For each seed: build the city (or reuse it), ingest it into a fresh lake, run `peel resolve
run` with the default settings, score the run with `peel resolve evaluate`, and print one row
per seed plus the mean and the worst. The defaults were tuned on seeds 1-3; the figures to
quote are those of seeds 101-105, which tuning never saw.

    .venv/bin/python benchmarks/resolve_seeds.py --scale demo --seeds 101-105
    .venv/bin/python benchmarks/resolve_seeds.py --scale demo --profile hard --seeds 101-105
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

ROOT = Path(__file__).resolve().parent.parent
PEEL = [str(Path(sys.executable).parent / "peel")]
KEYS = (
    "records_scored",
    "profiles",
    "precision",
    "recall",
    "f1",
    "bcubed_precision",
    "bcubed_recall",
    "false_merge_share",
    "misattributed_warnings",
)


def seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out.extend(range(int(a), int(b or a) + 1))
    return out


def run(cmd: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return done.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", default="demo")
    ap.add_argument("--profile", default="standard")
    ap.add_argument("--seeds", type=seeds, default=seeds("101-105"))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "resolve")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = ap.parse_args()
    rows = []
    for seed in args.seeds:
        city = args.out / f"city-{args.scale}-{args.profile}-{seed}"
        data = args.out / f"data-{args.scale}-{args.profile}-{seed}"
        shutil.rmtree(data, ignore_errors=True)
        env = {
            **os.environ,
            "PEEL_DATA_DIR": str(data),
            "PEEL_ENV": "development",
            "PEEL_FSYNC": "false",
        }
        if not (city / "manifest.json").exists():
            run(
                [
                    *PEEL,
                    "synth",
                    "--scale",
                    args.scale,
                    "--profile",
                    args.profile,
                    "--seed",
                    str(seed),
                    "--out",
                    str(city),
                ],
                env,
            )
        code = (
            "import sys; from pathlib import Path; from peel.lake import Lake; "
            "from peel.ingest.city import ingest_city; "
            "ingest_city(Lake(), Path(sys.argv[1]), 'city')"
        )
        run([sys.executable, "-c", code, str(city)], env)
        t0 = time.perf_counter()
        summary = json.loads(run([*PEEL, "resolve", "run", "--json"], env))
        seconds = time.perf_counter() - t0
        figures = json.loads(
            run([*PEEL, "resolve", "evaluate", "--json", "--truth", str(city / "truth")], env)
        )
        row = {
            "seed": seed,
            "seconds": round(seconds, 1),
            "peak_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
            **{k: figures[k] for k in KEYS},
            "candidate_pairs": summary["candidate_pairs"],
        }
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    head = ["seed", "seconds", *KEYS]
    print(f"scale {args.scale}, profile {args.profile}")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print(
            "| "
            + " | ".join(
                f"{r[k]:,}"
                if isinstance(r[k], int)
                else f"{r[k]:.4f}"
                if isinstance(r[k], float) and k != "seconds"
                else str(r[k])
                for k in head
            )
            + " |"
        )
    for label, pick in (("mean", lambda v: sum(v) / len(v)), ("worst", None)):
        cells = [label, ""]
        for k in KEYS:
            vals = [r[k] for r in rows]
            if pick is not None:
                v = pick(vals)
            elif k in ("false_merge_share", "misattributed_warnings"):
                v = max(vals)
            else:
                v = min(vals)
            cells.append(f"{v:.4f}" if isinstance(v, float) else f"{v:,}")
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
