"""`peel demo`: everything Peel can do so far, on the synthetic demo city, step by step.

The demo builds the synthetic city (issue 3) at the `demo` scale with seed 2024, or reuses
it when one with the same generator version and parameters exists; ingests it as the
synthetic dataset `demo` (skipped on a rerun when the lake already holds that city); and
prints what is in the lake. The app shell does not exist yet, so the demo always behaves as
`--no-serve`.
"""

from __future__ import annotations

import json
import time

import typer
from rich.table import Table

from peel.cli.common import err, handled, setup_logging
from peel.lake import Lake
from peel.lake.info import lake_info

DATASET = "demo"
SEED = 2024


def demo(
    no_serve: bool = typer.Option(
        False, "--no-serve", help="Do all the work and exit (the app shell does not exist yet)."
    ),
    scale: str = typer.Option("demo", "--scale", help="City scale (tiny for a quick look)."),
) -> None:
    """Build (or reuse) the synthetic demo city, ingest it, and show the lake."""
    from peel.ingest.city import ingest_city
    from peel.synth import GENERATOR_VERSION, build_params, generate

    setup_logging(quiet=True)
    started = time.perf_counter()
    with handled():
        lake = Lake()
        params = build_params(scale)
        city = lake.settings.data_dir / "synth" / f"{scale}-{SEED}"
        t0 = time.perf_counter()
        manifest_path = city / "manifest.json"
        current = None
        if manifest_path.exists():
            current = json.loads(manifest_path.read_text(encoding="utf-8"))
        if (
            current
            and current.get("generator_version") == GENERATOR_VERSION
            and current.get("params_sha256") == params.digest()
        ):
            err.print(f"1. reusing the {scale} city in {city}")
        else:
            done = generate(params, SEED, city, log=lambda step: err.print(f"   {step}"))
            current = done["manifest"]
            err.print(
                f"1. built the {scale} city in {city}: {sum(current['rows'].values()):,} rows, "
                f"{current['bad_rows']} planted bad rows ({time.perf_counter() - t0:.1f}s)"
            )
        t0 = time.perf_counter()
        recorded = lake.lake_dir / "_cities" / f"{DATASET}.json"
        if (
            recorded.exists()
            and json.loads(recorded.read_text(encoding="utf-8"))["manifest"].get("params_sha256")
            == current["params_sha256"]
        ):
            err.print("2. the lake already holds this city (dataset 'demo'); not ingested again")
        else:
            result = ingest_city(lake, city, DATASET)
            t = Table(title="2. ingest (dataset 'demo', marked SYNTHETIC)")
            for col in ("file", "source", "read", "stored", "quarantined", "duplicate"):
                t.add_column(col)
            for b in result["batches"]:
                t.add_row(
                    b["file"],
                    b["source"],
                    f"{b['rows_read']:,}",
                    f"{b['rows_stored']:,}",
                    f"{b['rows_quarantined']:,}",
                    f"{b['rows_duplicate']:,}" if not b["refused"] else "refused",
                )
            err.print(t)
            err.print(f"   ingest took {time.perf_counter() - t0:.1f}s")
        info = lake_info(lake)
        t = Table(title="3. what is in the lake")
        for col in ("table", "rows", "files", "key conflicts"):
            t.add_column(col)
        for name, st in info["tables"].items():
            t.add_row(name, f"{st['rows']:,}", str(st["files"]), str(st["key_conflicts"]))
        err.print(t)
        err.print(
            f"   quarantine: {info['quarantine']['open']} open rows (the planted bad rows; "
            "see `peel quarantine list`, `peel quarantine show BATCH`)"
        )
    err.print(
        f"demo done in {time.perf_counter() - started:.1f}s. Data in {lake.settings.data_dir}."
    )
    err.print("Try: peel lake info; peel quarantine list; peel synth --help.")
    if not no_serve:
        err.print("The web app arrives with issue 4; nothing to serve yet.")


__all__ = ["demo"]
