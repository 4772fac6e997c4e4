"""`peel ingest SOURCE PATH... [--dataset NAME] [--json]`."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from peel.cli.common import (
    AsOption,
    JsonOption,
    PurposeOption,
    QuietOption,
    acting,
    emit_json,
    err,
    handled,
    setup_logging,
)
from peel.governance.collection import collection_hook
from peel.ingest.pipeline import ingest_files
from peel.lake import Lake
from peel.sources import get_mapping


def ingest(
    source: str = typer.Argument(..., help="Source mapping name, e.g. police-uk, anpr-read."),
    paths: list[Path] = typer.Argument(..., help="Files to ingest; each file is one batch."),
    dataset: str | None = typer.Option(None, help="Dataset name (default: the source name)."),
    synthetic: bool = typer.Option(False, help="Mark the batches as synthetic data."),
    as_user: str = AsOption("peel-ingest"),
    purpose: str = PurposeOption("collection"),
    as_json: bool = JsonOption,
    quiet: bool = QuietOption,
) -> None:
    """Validate files of SOURCE's layout and store their rows in the lake.

    Bad rows go to quarantine with file, line, field and reason; rows already stored are
    counted as duplicates and not stored again. Exit 2 if a file is refused outright.
    Each batch writes one audit entry (collection) as the --as identity before it commits."""
    setup_logging(quiet or as_json)
    with handled(), ExitStack() as stack:
        mapping = get_mapping(source)
        lake = Lake()
        who = stack.enter_context(acting(as_user, purpose))
        hook = collection_hook(who.store, who.policy, who.caller)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} files"),
            TimeElapsedColumn(),
            console=err,
            disable=quiet or as_json,
        ) as progress:
            task = progress.add_task(f"ingest {source}", total=len(paths))
            result = ingest_files(
                lake,
                paths,
                mapping,
                dataset=dataset,
                synthetic=synthetic,
                on_file=lambda _r: progress.advance(task),
                before_commit=hook,
            )
    if as_json:
        emit_json(result)
    elif not quiet:
        _print(result)
    if result["files_refused"]:
        for b in result["batches"]:
            if b["refused"]:
                err.print(f"[red]refused:[/red] {b['refused']}", highlight=False)
        raise typer.Exit(2)


def _print(result: dict[str, Any]) -> None:
    t = Table(title="ingest")
    for col in ("file", "read", "stored", "quarantined", "duplicate", "seconds"):
        t.add_column(col, justify="right" if col != "file" else "left")
    for b in result["batches"]:
        t.add_row(
            b["file"],
            f"{b['rows_read']:,}",
            f"{b['rows_stored']:,}",
            f"{b['rows_quarantined']:,}",
            f"{b['rows_duplicate']:,}",
            "refused" if b["refused"] else f"{b['seconds']:.2f}",
        )
    t.add_row(
        "total",
        f"{result['rows_read']:,}",
        f"{result['rows_stored']:,}",
        f"{result['rows_quarantined']:,}",
        f"{result['rows_duplicate']:,}",
        "",
    )
    err.print(t)
    for b in result["batches"]:
        for reason, n in list(b["quarantine_reasons"].items())[:10]:
            err.print(f"  {b['file']}: {n:,} quarantined: {reason}", highlight=False)


__all__ = ["ingest"]
