"""Benchmark: what a `Store.read()` costs on PostgreSQL, as it is now (each statement on its
own, autocommit) against the same read inside a transaction (BEGIN ... COMMIT), which is what
it was before.

    .venv/bin/python benchmarks/store_reads.py [--reads 2000] [--rounds 3]

A throwaway PostgreSQL cluster is started as `benchmarks/patrol_check.py` starts one (fsync
on, both cores; `--pg-dir`, default a fresh temporary folder, removed after), migrated by
Peel. Each round times `--reads` reads of one statement (`SELECT 1`) through Peel's own
`Store.read()`, then the same number through a connection of the same pool in a transaction
(the baseline), alternating, and prints microseconds per read for both. One statement per
read isolates the round trips a transaction adds: a roadside check makes two such reads (the
session lookup, then the check's own), each one statement or two.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from patrol_check import Postgres  # noqa: E402  (the same throwaway cluster)
from peel.serving import Store  # noqa: E402
from peel.settings import Settings  # noqa: E402


def per_read_us(store: Store, n: int, *, baseline: bool) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        if baseline:
            with store.engine.connect() as conn, conn.begin():
                conn.execute(text("SELECT 1")).scalar()
        else:
            with store.read() as conn:
                conn.execute(text("SELECT 1")).scalar()
    return (time.perf_counter() - t0) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reads", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pg-dir", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="peel-store-reads-") as tmp:
        Path(tmp).chmod(0o755)  # the cluster runs as the postgres user, which must enter it
        pg = Postgres(args.pg_dir or Path(tmp) / "pg", "0,1")
        pg.start()
        try:
            settings = Settings(
                data_dir=Path(tmp) / "data", env="development", database_url=pg.owner_url
            )
            store = Store(settings)
            store.migrate()
            per_read_us(store, 200, baseline=False)  # connect and warm the pool
            now, before = [], []
            for r in range(args.rounds):
                now.append(per_read_us(store, args.reads, baseline=False))
                before.append(per_read_us(store, args.reads, baseline=True))
                print(
                    f"round {r + 1}: Store.read() {now[-1]:.0f} us per read; "
                    f"in a transaction (baseline) {before[-1]:.0f} us"
                )
            print(
                f"median of {args.rounds} rounds of {args.reads:,} reads: Store.read() "
                f"{statistics.median(now):.0f} us, baseline {statistics.median(before):.0f} us "
                f"per read ({statistics.median(before) - statistics.median(now):.0f} us saved)"
            )
            store.dispose()
        finally:
            pg.stop()


if __name__ == "__main__":
    main()
