"""`peel quarantine list|show|retry`: rows the lake refused, and re-ingesting them."""

from __future__ import annotations

import typer
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
from peel.governance.access import operation
from peel.governance.collection import collection_hook
from peel.ingest import quarantine as q
from peel.ingest.pipeline import summarise
from peel.lake import Lake

app = typer.Typer(help="Quarantined rows: list, show, retry.", no_args_is_help=True)


@app.command("list")
def list_(
    all_: bool = typer.Option(False, "--all", help="Include rows already resolved by a retry."),
    as_json: bool = JsonOption,
) -> None:
    """Counts of quarantined rows by batch, file, field and reason (no values)."""
    with handled():
        rows = q.summary(Lake(), include_resolved=all_)
    if as_json:
        emit_json({"groups": rows, "rows": sum(r["rows"] for r in rows)})
        return
    t = Table(title="quarantine")
    for col in ("batch", "source", "file", "field", "reason", "rows", "open"):
        t.add_column(col)
    for r in rows:
        t.add_row(
            r["batch"],
            r["source"],
            r["file"],
            r["field"] or "(record)",
            r["reason"],
            f"{r['rows']:,}",
            "yes" if r["open"] else "no",
        )
    err.print(t)


@app.command("show")
def show(
    batch: str = typer.Argument(..., help="Batch id (from `peel quarantine list`)."),
    raw: bool = typer.Option(
        False, "--raw", help="Also print the rejected values (personal data: use with a purpose)."
    ),
    limit: int = typer.Option(50, help="At most this many rows."),
    as_user: str = AsOption("peel-ingest"),
    purpose: str = PurposeOption("collection"),
    as_json: bool = JsonOption,
) -> None:
    """The quarantined rows of one batch: file, line, field, reason. With --raw, the rejected
    values too: that is a consultation of personal data, audited as --as with --purpose."""
    keep = ["batch", "file", "line", "field", "reason", "open", "quarantine_id"]
    if raw:
        keep.append("raw")
    with handled():
        lake = Lake()
        if raw:
            with (
                acting(as_user, purpose) as who,
                operation(
                    who.store,
                    who.policy,
                    who.caller,
                    permission="ingest.run",
                    operation="consultation",
                    object_type="quarantine",
                    query={"batch": batch, "limit": limit},
                ) as op,
            ):
                rows = q.entries(lake, batch=batch, only_open=False)
                op.returned(r["quarantine_id"] for r in rows[:limit])
        else:
            rows = q.entries(lake, batch=batch, only_open=False)
    out = [{k: r[k] for k in keep} for r in rows[:limit]]
    if as_json:
        emit_json({"batch": batch, "rows": out, "total": len(rows)})
        return
    if not rows:
        err.print(f"no quarantined rows for batch {batch}")
        raise typer.Exit(0)
    t = Table(title=f"quarantine of batch {batch} ({len(rows):,} rows)")
    for col in keep[1:-1] if not raw else [*keep[1:6], "raw"]:
        t.add_column(col)
    for r in out:
        cells = [str(r[c]) for c in (keep[1:-1] if not raw else [*keep[1:6], "raw"])]
        t.add_row(*cells)
    err.print(t)


@app.command("retry")
def retry(
    batch: str | None = typer.Option(None, help="Only this batch's rows."),
    source: str | None = typer.Option(None, help="Only this source's rows."),
    as_user: str = AsOption("peel-ingest"),
    purpose: str = PurposeOption("collection"),
    as_json: bool = JsonOption,
    quiet: bool = QuietOption,
) -> None:
    """Re-ingest open quarantined rows through the current mapping (after fixing it).

    Each original file's rows become one new batch; their lines keep the original numbers, and
    rows that fail again are quarantined again."""
    setup_logging(quiet or as_json)
    with handled(), acting(as_user, purpose) as who:
        hook = collection_hook(who.store, who.policy, who.caller)
        result = summarise(q.retry(Lake(), batch=batch, source=source, before_commit=hook))
    if as_json:
        emit_json(result)
        return
    err.print(
        f"retried {result['rows_read']:,} rows: {result['rows_stored']:,} stored, "
        f"{result['rows_quarantined']:,} quarantined again, {result['rows_duplicate']:,} duplicate"
    )


__all__ = ["app"]
