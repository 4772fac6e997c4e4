"""`peel leads convoy`: vehicles repeatedly read at the same cameras within N seconds of a
target vehicle (registered into the `leads` group at merge)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from peel.cli.common import (
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


def convoy(
    vrm: str = typer.Option(..., "--vrm", help="The target vehicle's plate (spaces allowed)."),
    seconds: int = typer.Option(
        60, "--seconds", min=1, max=3600, help="Alongside means read at one camera within N s."
    ),
    min_passes: int = typer.Option(
        3, "--min-passes", min=1, help="Show companions alongside at least K target reads."
    ),
    date_from: str | None = typer.Option(
        None,
        "--from",
        help="First day (YYYY-MM-DD, UTC). Default: the start of the recent access tier.",
    ),
    date_to: str | None = typer.Option(
        None, "--to", help="Last day (YYYY-MM-DD, UTC). Default: the data clock's now."
    ),
    authorisation: int | None = typer.Option(
        None,
        "--authorisation",
        help="Authorisation id for reads older than the recent tier (policy anpr.recent_days).",
    ),
    max_expected: float = typer.Option(
        0.05,
        "--max-expected",
        min=0.0,
        help="Report a companion when at most this many vehicles would be as unlikely by chance.",
    ),
    as_: str = typer.Option(
        ...,
        "--as",
        envvar="PEEL_AS",
        help="The named user this search runs as (audited; needs the ANPR permission).",
    ),
    purpose: str = PurposeOption("investigation"),
    case: str | None = typer.Option(
        None,
        "--case",
        envvar="PEEL_CASE",
        help="Case reference (the investigation purpose needs one).",
    ),
    justification: str | None = typer.Option(
        None, "--justification", help="Why this search is necessary (audited)."
    ),
    as_json: bool = JsonOption,
    quiet: bool = QuietOption,
) -> None:
    """Vehicles repeatedly read at the target's cameras within N seconds of it (a true
    interval join), ranked by passes, each with how surprising it is against its own
    background and among all vehicles at those cameras. Audited as a consultation."""
    from peel.leads.convoy import find_convoys

    setup_logging(quiet or as_json)
    with (
        handled(),
        acting(as_, purpose, case_reference=case, justification=justification) as who,
    ):
        out = find_convoys(
            Lake(),
            who.store,
            who.policy,
            who.caller,
            vrm=vrm,
            date_from=date_from,
            date_to=date_to,
            seconds=seconds,
            min_passes=min_passes,
            max_expected=max_expected,
            authorisation_id=authorisation,
        )
    if as_json:
        emit_json(out)
        return
    target = out["target"]
    console = Console()
    console.print(
        f"{target['passes']:,} target reads in {target['trips']:,} trips on {target['days']:,} "
        f"days at {target['cameras']} cameras, {out['query']['from'][:10]} to "
        f"{out['query']['to'][:10]}; {out['vehicles_at_cameras']:,} vehicles read at those "
        f"cameras; {len(out['companions'])} companion(s) alongside at least "
        f"{out['query']['min_passes']} passes ({out['seconds']:.2f} s).",
        highlight=False,
    )
    if not out["companions"]:
        return
    t = Table()
    for col in (
        "rank",
        "vrm",
        "passes",
        "trips",
        "days",
        "cameras",
        "expected by chance",
        "reported",
    ):
        t.add_column(col)
    for c in out["companions"]:
        t.add_row(
            str(c["rank"]),
            c["vrm"],
            str(c["passes"]),
            str(c["trips"]),
            str(c["days"]),
            str(len(c["cameras"])),
            f"{c['expected_by_chance']:.2g}",
            "yes" if c["reported"] else "no",
        )
    console.print(t)
    for c in out["companions"]:
        if c["reported"]:
            console.print(
                f"\n[bold]{c['rank']}.[/bold] {c['explanation']['claim']}", highlight=False
            )
            for line in c["explanation"]["arithmetic"]:
                console.print(f"   {line}", highlight=False)
    err.print("evidence read ids: use --json")


__all__ = ["convoy"]
