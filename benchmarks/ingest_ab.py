"""Paired comparison of Peel versions on the ingest benchmark's `overlap` batch (issue 2).

Runs after `benchmarks/ingest.py` has built its lake and batch files (same `--out`). Each
round runs DuckDB's CTAS baseline, then each version once, on the same lake (reset between
runs), so versions meet the same machine state. A version is `cur` (this checkout) or a
folder holding another checkout's `src` (for example made with
`git archive COMMIT src | tar -x -C FOLDER`), run with PYTHONPATH pointing at it.

    python benchmarks/ingest_ab.py --format parquet --versions cur,/tmp/old --rounds 2
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import ingest as bench

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=HERE / "out", help="ingest.py's --out")
    ap.add_argument("--tag", default="10000000-90000000", help="ROWS-EXISTING of the lake")
    ap.add_argument("--format", choices=("csv", "parquet"), default="parquet")
    ap.add_argument("--versions", default="cur", help="comma separated: cur or src folders")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    out: Path = args.out.resolve()
    data_dir = out / f"lake-{args.tag}"
    existing = json.loads((data_dir / "existing.json").read_text(encoding="utf-8"))
    src = out / f"batch-{args.tag}-overlap.{args.format}"
    versions = args.versions.split(",")
    runs: dict[str, list[tuple[float, float]]] = {v: [] for v in [*versions, "ctas"]}
    for _ in range(args.rounds):
        db = out / "ab-baseline.duckdb"
        db.unlink(missing_ok=True)
        m = bench.run_worker(["ctas", str(src), str(db)])
        db.unlink()
        runs["ctas"].append((m.wall, m.cpu))
        print(f"ctas: {m.wall:.2f} s, {m.cpu:.1f} CPU s", flush=True)
        for v in versions:
            env = bench.peel_env(data_dir)
            if v != "cur":
                env["PYTHONPATH"] = str(Path(v).resolve() / "src")
            m = bench.run_worker(["peel", str(src)], env)
            bench.reset_lake(data_dir, existing["manifests"])
            report = m.out["report"]
            runs[v].append((m.wall, m.cpu))
            print(
                f"{v}: {m.wall:.2f} s, {m.cpu:.1f} CPU s, stored {report['rows_stored']:,}, "
                f"peel {m.out['peel']['sha256']}",
                flush=True,
            )
    ctas = statistics.median(w for w, _ in runs["ctas"])
    print(f"ctas median {ctas:.2f} s")
    for v in versions:
        wall = statistics.median(w for w, _ in runs[v])
        cpu = statistics.median(c for _, c in runs[v])
        print(f"{v}: median {wall:.2f} s, {cpu:.1f} CPU s, ratio to CTAS {ctas / wall:.3f}")


if __name__ == "__main__":
    main()
