"""`peel lake info`: what is in the lake."""

from __future__ import annotations

import typer
from rich.table import Table

from peel.cli.common import JsonOption, emit_json, err, handled
from peel.lake import Lake
from peel.lake.info import lake_info

app = typer.Typer(help="Inspect the lake.", no_args_is_help=True)


@app.command("info")
def info(as_json: bool = JsonOption) -> None:
    """Tables, row counts, batches, key conflicts and quarantine."""
    with handled():
        doc = lake_info(Lake())
    if as_json:
        emit_json(doc)
        return
    t = Table(title=f"lake at {doc['data_dir']}")
    for col in ("table", "rows", "files", "batches", "keyed records", "key conflicts", "MB"):
        t.add_column(col, justify="left" if col == "table" else "right")
    for name, s in doc["tables"].items():
        t.add_row(
            name,
            f"{s['rows']:,}",
            str(s["files"]),
            str(s["batches"]),
            f"{s['records_with_key']:,}",
            f"{s['key_conflicts']:,}",
            f"{s['bytes'] / 1e6:.1f}",
        )
    err.print(t)
    q = doc["quarantine"]
    err.print(f"quarantine: {q['open']:,} open, {q['resolved']:,} resolved by retry")
    for name, d in doc["datasets"].items():
        kind = "SYNTHETIC" if d["synthetic"] else "real"
        err.print(
            f"dataset {name}: {kind}, {d['batches']} batches, sources {', '.join(d['sources'])}"
        )


__all__ = ["app"]
