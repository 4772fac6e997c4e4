"""`peel evidence simulate`: replay a review with known labels (issue 7). The case material
commands (`ingest`, `schedule`) come with the review itself."""

from __future__ import annotations

from pathlib import Path

import typer

from peel.cli.common import JsonOption, QuietOption, emit_json, err, handled, setup_logging

app = typer.Typer(help="Digital evidence review for disclosure.", no_args_is_help=True)


@app.command("simulate")
def simulate(
    input_: Path = typer.Option(
        ..., "--input", help="Items: CSV or JSON Lines with `id` and `text`."
    ),
    labels: Path = typer.Option(
        ..., "--labels", help="Labels: CSV or JSON Lines with `id` and `label` (0 or 1)."
    ),
    target_recall: float = typer.Option(0.8, "--target-recall", help="Recall to reach (0-1)."),
    seed: int = typer.Option(1, "--seed", help="Seed of the seed items and the samples."),
    as_json: bool = JsonOption,
    quiet: bool = QuietOption,
) -> None:
    """Replay a review over labelled items: continuous active learning, the knee method and
    a random elusion sample for the recall estimate. Prints the recall-effort curve, the
    effort to the target, where the rule stopped, the true recall there and the estimate's
    interval, and what a random review would need. No item text is printed."""
    from peel.evidence.simulate import load_input
    from peel.evidence.simulate import simulate as run

    setup_logging(quiet or as_json)
    with handled():
        texts, marks, problems = load_input(input_, labels)
        for p in problems[:20]:
            err.print(f"[yellow]skipped[/yellow] {p}", highlight=False)
        if len(problems) > 20:
            err.print(f"... and {len(problems) - 20} more rows skipped")
        out = run(texts, marks, target=target_recall, seed=seed)
    out["rows_skipped"] = len(problems)
    if as_json:
        emit_json(out)
        return
    if quiet:
        return
    err.print(
        f"{out['items']:,} items, {out['relevant']:,} relevant; target recall {target_recall:g}"
    )
    if out["effort_to_target"] is not None:
        err.print(
            f"effort to target: {out['effort_to_target']:.1%} (random review: {target_recall:.0%})"
        )
    if out["stopped"]:
        lo, hi = out["interval"]
        err.print(
            f"stopped at {out['stopped_at_effort']:.1%} reviewed: estimated recall "
            f"{out['estimate']:.1%} ({lo:.1%}-{hi:.1%}); true recall {out['recall_at_stop']:.1%}"
        )
    else:
        err.print(
            f"the rule did not stop: everything reviewed ({out['stopped_at_effort']:.0%}), "
            f"recall {out['recall_at_stop']:.1%}"
        )
