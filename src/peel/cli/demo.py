"""`peel demo`: everything Peel can do so far, on embedded example data, step by step.

Until the synthetic city (issue 3) lands, the demo writes the example file of every source
layout, plus one deliberately damaged file to show quarantine, ingests them as the synthetic
dataset `demo`, and prints what is in the lake. The app shell does not exist yet, so the demo
always behaves as `--no-serve`.
"""

from __future__ import annotations

import csv
import shutil
import time
from pathlib import Path

import typer
from rich.table import Table

from peel.cli.common import err, handled, setup_logging
from peel.ingest.pipeline import ingest_files
from peel.lake import Lake
from peel.lake.info import lake_info
from peel.sources import Mapping, all_mappings, example_path

DATASET = "demo"


def _damaged_copy(example: Path, target: Path, mapping: Mapping) -> None:
    """The example with three broken rows appended: a ragged row, a value outside its code
    list and an impossible time, to show quarantine naming line, field and rule."""
    with example.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    header, good = rows[0], rows[1]
    code_col = next(r.column for r in mapping.rules if r.type == "code" and r.column)
    time_col = next(r.column for r in mapping.rules if r.type == "datetime" and r.column)
    unknown_code = list(good)
    unknown_code[header.index(code_col)] = "Not a category"
    bad_time = list(good)
    bad_time[header.index(time_col)] = "31/02/2024 25:61"
    with target.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerows(rows)
        w.writerow(good[:-2])
        w.writerow(unknown_code)
        w.writerow(bad_time)


def demo(
    no_serve: bool = typer.Option(
        False, "--no-serve", help="Do all the work and exit (the app shell does not exist yet)."
    ),
) -> None:
    """Write example exports of every source layout, ingest them, and show the lake."""
    setup_logging(quiet=True)
    started = time.perf_counter()
    with handled():
        lake = Lake()
        exports = lake.settings.data_dir / "demo-exports"
        exports.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        plan: list[tuple[str, Path]] = []
        for source, mapping in sorted(all_mappings().items()):
            ex = example_path(mapping)
            if ex is None or not ex.exists():
                continue
            target = exports / ex.name
            shutil.copyfile(ex, target)
            plan.append((source, target))
            if source == "cris":
                damaged = exports / f"damaged-{ex.name}"
                _damaged_copy(ex, damaged, mapping)
                plan.append((source, damaged))
        err.print(
            f"1. wrote {len(plan)} example exports to {exports} ({time.perf_counter() - t0:.1f}s)"
        )
        t0 = time.perf_counter()
        t = Table(title="2. ingest (dataset 'demo', marked SYNTHETIC)")
        for col in ("source", "file", "read", "stored", "quarantined", "duplicate"):
            t.add_column(col)
        for source, path in plan:
            result = ingest_files(
                lake, [path], all_mappings()[source], dataset=DATASET, synthetic=True
            )
            b = result["batches"][0]
            t.add_row(
                source,
                path.name,
                str(b["rows_read"]),
                str(b["rows_stored"]),
                str(b["rows_quarantined"]),
                str(b["rows_duplicate"]) if not b["refused"] else "refused",
            )
        err.print(t)
        err.print(f"   ingest took {time.perf_counter() - t0:.1f}s")
        info = lake_info(lake)
        t = Table(title="3. what is in the lake")
        for col in ("table", "rows", "files", "key conflicts"):
            t.add_column(col)
        for name, s in info["tables"].items():
            t.add_row(name, f"{s['rows']:,}", str(s["files"]), str(s["key_conflicts"]))
        err.print(t)
        err.print(
            f"   quarantine: {info['quarantine']['open']} open rows "
            "(see `peel quarantine list`, `peel quarantine show BATCH`)"
        )
    err.print(
        f"demo done in {time.perf_counter() - started:.1f}s. Data in {lake.settings.data_dir}."
    )
    err.print("Try: peel lake info; peel quarantine list; peel ingest --help.")
    if not no_serve:
        err.print("The web app arrives with issue 4; nothing to serve yet.")


__all__ = ["demo"]
