"""`peel evidence ingest|simulate|schedule`: case material in, a review replayed with known
labels, and the disclosure schedules of a reviewed case (issue 7)."""

from __future__ import annotations

from pathlib import Path

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
from peel.errors import InputRefused

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


@app.command("ingest")
def ingest_cmd(
    paths: list[Path] = typer.Argument(..., help="Files of case material (one batch)."),
    case: str = typer.Option(..., "--case", help="The case reference the material belongs to."),
    as_: str = AsOption(""),
    purpose: str = PurposeOption("disclosure"),
    as_json: bool = JsonOption,
    quiet: bool = QuietOption,
) -> None:
    """Store case material: WhatsApp exports (.txt), SMS and call logs (.csv), the phone's
    contacts (.csv), e-mail (.mbox, .eml), JSON Lines. Each file and item is hashed
    (SHA-256) and the batch's manifest hash goes into the audit chain; exact duplicates and
    e-mail threads are grouped; the case's search index is updated. Runs as a member of the
    case (--as) with the disclosure purpose. Every bad line is reported (file and line,
    never its text); every good item is kept."""
    from peel.evidence.ingest import ingest
    from peel.settings import get_settings

    setup_logging(quiet or as_json)
    with handled():
        if not as_:
            raise InputRefused("give --as NAME: a member of the case with evidence.review")
        with acting(as_, purpose, case_reference=case) as a:
            out = ingest(
                a.store,
                a.policy,
                a.caller,
                data_dir=get_settings().data_dir,
                reference=case,
                paths=list(paths),
            )
    if as_json:
        emit_json(out)
        return
    if quiet:
        return
    for f in out["files"]:
        extra = f" ({f['message']})" if f["message"] else ""
        err.print(
            f"{f['name']}: {f['status']}, {f['format'] or '-'}; {f['items']:,} items, "
            f"{f['duplicates']:,} duplicates, {f['contacts']:,} contacts, "
            f"{f['problems']:,} problems{extra}",
            highlight=False,
        )
    for p in out["problems"][:20]:
        err.print(f"[yellow]{p['file']}:{p['line']}[/yellow] {p['reason']}", highlight=False)
    if out["problems_total"] > 20:
        err.print(f"... and {out['problems_total'] - 20:,} more problems")
    err.print(
        f"case {case}: {out['items_stored']:,} items stored in batch {out['batch']}"
        + (f", manifest {out['manifest_sha256'][:16]}" if out["manifest_sha256"] else "")
    )


@app.command("schedule")
def schedule_cmd(
    case: str = typer.Option(..., "--case", help="The case reference."),
    out: Path = typer.Option(..., "--out", help="Folder for the CSV, PDF and JSON files."),
    unredacted: bool = typer.Option(
        False, "--unredacted", help="Leave personal data in the descriptions (audited)."
    ),
    as_: str = AsOption(""),
    purpose: str = PurposeOption("disclosure"),
    as_json: bool = JsonOption,
    quiet: bool = QuietOption,
) -> None:
    """The disclosure schedules of the case (MG6C non-sensitive and MG6D sensitive unused
    material, MG6E the disclosure officer's report) as CSV and PDF, with similar items
    block-listed, and the review record (searches, items reviewed, share seen, recall
    estimate and interval, second-review overturn rate, attachments not text-reviewed).
    Descriptions are redacted unless --unredacted. Audited as a disclosure."""
    from peel.evidence.schedule import build, write
    from peel.settings import get_settings

    setup_logging(quiet or as_json)
    with handled():
        if not as_:
            raise InputRefused("give --as NAME: a member of the case with evidence.review")
        with acting(as_, purpose, case_reference=case) as a:
            doc = build(
                a.store,
                a.policy,
                a.caller,
                data_dir=get_settings().data_dir,
                reference=case,
                redacted=not unredacted,
            )
        files = write(doc, out)
    summary = {
        "case": case,
        "files": [str(f) for f in files],
        "mg6c": len(doc["mg6c"]),
        "mg6d": len(doc["mg6d"]),
        "mg6e": len(doc["mg6e"]),
        "record": doc["record"],
    }
    if as_json:
        emit_json(summary)
        return
    if quiet:
        return
    rec = doc["record"]
    err.print(
        f"case {case}: MG6C {len(doc['mg6c'])} lines, MG6D {len(doc['mg6d'])}, "
        f"MG6E {len(doc['mg6e'])}; {rec['reviewed']:,} of {rec['items']:,} items reviewed, "
        f"{rec['share_seen']:.1%} seen; files in {out}"
    )


@app.command("evaluate")
def evaluate_cmd(
    truth: Path | None = typer.Option(
        None, "--truth", help="A city's truth/ folder (default: the city recorded in the lake)."
    ),
    target_recall: float = typer.Option(0.8, "--target-recall", help="Recall to reach (0-1)."),
    seed: int = typer.Option(1, "--seed", help="Seed of the replayed review."),
    as_json: bool = JsonOption,
) -> None:
    """Score the disclosure review on a synthetic city's phone case: redaction recall per
    kind (phone, e-mail, postcode, contact names) on the planted personal data, and the
    review replayed with the known relevant set (effort to the target, where the stopping
    rule stopped, the true recall there, whether its interval covers it; BMI's effort to
    95% recall)."""
    from peel.cli.resolve import default_truth
    from peel.evidence.evaluate import evaluate

    setup_logging(as_json)
    with handled():
        out = evaluate(truth or default_truth(), seed=seed, target=target_recall)
    if as_json:
        emit_json(out)
        return
    for c in out["cases"]:
        typer.echo(f"case {c['case']}: {c['messages']:,} messages, {c['relevant']} relevant")
        for kind, r in c["redaction"].items():
            rec = "-" if r["recall"] is None else f"{r['recall']:.1%}"
            typer.echo(
                f"  redaction {kind:9s} {r['found']:>5}/{r['planted']:<5} {rec:>7}  "
                f"(spans covering nothing planted: {r['unplanted_spans']})"
            )
        v = c["review"]
        eff = "-" if v["effort_to_target"] is None else f"{v['effort_to_target']:.1%}"
        typer.echo(
            f"  review: effort to {v['target_recall']:.0%} recall {eff}; stopped at "
            f"{v['stopped_at_effort']:.1%} with recall {v['recall_at_stop']:.1%}, interval "
            f"{v['interval']}, covers: {v['interval_covers']}; BMI to 95%: "
            f"{v['bmi_effort_to_95']}"
        )
