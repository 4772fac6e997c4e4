"""`peel anpr retention`: ANPR reads past the policy's retention period leave the lake and
everything derived from them; reads held by accepted or actioned leads stay."""

from __future__ import annotations

import typer

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
from peel.lake import Lake

app = typer.Typer(help="ANPR data management: retention.", no_args_is_help=True)


@app.command("retention")
def retention(
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Count what would be deleted and held; change nothing."
    ),
    as_: str = AsOption("peel-retention"),
    purpose: str = PurposeOption("retention"),
    as_json: bool = JsonOption,
    quiet: bool = QuietOption,
) -> None:
    """Delete ANPR reads older than the policy's retention period (data clock minus
    retention.anpr_reads_days) from the lake, the quarantine, the lead products that are not
    accepted or actioned, the published vehicle profiles and the caches. Reads cited by an
    accepted or actioned lead are held under the case's retention. Audited as an erasure
    (counts, cutoff, held products; no plates or read ids)."""
    from peel.leads.retention import run_retention

    setup_logging(quiet or as_json)
    with handled(), acting(as_, purpose) as who:
        out = run_retention(Lake(), who.store, who.policy, who.caller, dry_run=dry_run)
    if as_json:
        emit_json(out)
        return
    if quiet:
        return
    verb = "would delete" if dry_run else "deleted"
    err.print(
        f"cutoff {out['cutoff']} ({out['policy_days']} days): {out['reads_examined']:,} reads "
        f"examined, {verb} {out['reads_deleted']:,}, held {out['reads_held']:,}; "
        f"quarantined rows {verb} {out['quarantine_rows_deleted']:,}"
    )
    for h in out["held_by_product"]:
        err.print(
            f"  held: {h['reads_held']:,} read(s) by product {h['product_id']} "
            f"({h['status']}, case {h['case_reference'] or '-'})"
        )
    if not dry_run:
        err.print(f"files rewritten {out['files_rewritten']:,}, deleted {out['files_deleted']:,}")
    for k, v in out["derived"].items():
        err.print(f"  {k.replace('_', ' ')}: {v:,}")
    err.print(f"{out['seconds']:.1f}s")
