"""`peel leads find|convoy|evaluate`: vehicles read near a set of crimes, the person behind
each, explained; vehicles travelling with a target; and the search scored against a synthetic
city's truth."""

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
from peel.cli.leads_convoy import convoy
from peel.errors import InputRefused
from peel.lake import Lake

app = typer.Typer(
    help="ANPR leads: vehicles near a series of crimes, the keeper behind each, explained.",
    no_args_is_help=True,
)
app.command("convoy")(convoy)


def _near(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError as e:
        raise InputRefused(f"--near: {text!r} is not EASTING,NORTHING (metres)") from e
    return x, y


@app.command("find")
def find_cmd(
    crimes: str | None = typer.Option(
        None, "--crimes", help="Crime references, comma-separated (REF,REF,...)."
    ),
    crime_type: str | None = typer.Option(None, "--crime-type", help="Filter: crime type."),
    from_: str | None = typer.Option(None, "--from", help="Filter: committed from (YYYY-MM-DD)."),
    to: str | None = typer.Option(None, "--to", help="Filter: committed before (YYYY-MM-DD)."),
    near: str | None = typer.Option(
        None, "--near", help="Filter: a projected point EASTING,NORTHING (metres, the lake's grid)."
    ),
    km: float | None = typer.Option(None, "--km", help="Filter: distance from --near, km."),
    radius_m: float = typer.Option(500.0, "--radius-m", help="Camera radius around each crime."),
    margin_min: float = typer.Option(30.0, "--margin-min", help="Minutes added to each window."),
    case_reference: str | None = typer.Option(
        None, "--case-reference", help="The investigation this search is for (audited)."
    ),
    authorisation: int | None = typer.Option(
        None, "--authorisation", help="ANPR authorisation id, for reads past the recent tier."
    ),
    as_: str = AsOption(""),
    purpose: str = PurposeOption("investigation"),
    as_json: bool = JsonOption,
    quiet: bool = QuietOption,
) -> None:
    """Vehicles read by cameras within the radius of each crime inside its committed window
    (widened by the margin), scored against each vehicle's own background, with the chance
    figure (expected number of vehicles doing as well by chance, calibrated on null sets),
    the keeper at the time and the keeper's relevant history. Runs as a named account with
    the ANPR permission (--as), under the ANPR access rules, audited."""
    from peel.leads.crimes import by_filter, by_refs, parse_day
    from peel.leads.find import authorised_find
    from peel.leads.score import Params

    setup_logging(quiet or as_json)
    with handled():
        if not as_:
            raise InputRefused("give --as NAME: an account whose role has anpr.read (audited)")
        if bool(crimes) == bool(crime_type):
            raise InputRefused("give either --crimes or --crime-type with --from and --to")
        if radius_m <= 0 or margin_min < 0:
            raise InputRefused("--radius-m must be above 0 and --margin-min at least 0")
        lake = Lake()
        engine = lake.engine()
        try:
            if crimes:
                picked, skipped = by_refs(engine, crimes.split(","))
            else:
                if not from_ or not to:
                    raise InputRefused("--crime-type needs --from and --to")
                picked, skipped = by_filter(
                    engine,
                    crime_type=crime_type or "",
                    start=parse_day(from_, flag="--from"),
                    end=parse_day(to, flag="--to"),
                    near=_near(near),
                    km=km,
                )
        finally:
            engine.close()
        with acting(as_, purpose, case_reference=case_reference) as who:
            out = authorised_find(
                lake,
                who.store,
                who.policy,
                who.caller,
                picked,
                authorisation_id=authorisation,
                params=Params(radius_m=radius_m, margin_min=margin_min),
                log_step=(lambda s: None) if quiet or as_json else err.print,
            )
        out["crimes_skipped"] = skipped
    if as_json:
        emit_json(out)
        return
    err.print(
        f"{len(out['crimes'])} crimes, {out['vehicles_near']:,} vehicles near them, "
        f"{out['vehicles_considered']:,} considered; {out['reported']} lead(s) past the "
        f"threshold {out['threshold']:g}; background build time "
        f"{out['background']['build_seconds']:.2f} s; search {out['seconds']['search']:.2f} s"
    )
    for lead in out["leads"]:
        mark = f"LEAD {lead['product_id']}" if lead["reported"] else "below threshold"
        typer.echo(f"{lead['rank']:>2}. {lead['vrm']} [{mark}] {lead['explanation']['claim']}")
        for line in lead["explanation"]["arithmetic"]:
            typer.echo(f"      {line}")


@app.command("evaluate")
def evaluate_cmd(
    truth: Path | None = typer.Option(
        None, "--truth", help="A city's truth/ folder (default: the city recorded in the lake)."
    ),
    null_sets: int = typer.Option(500, "--null-sets", help="Null query sets (at least 500)."),
    seed: int = typer.Option(7, "--seed", help="Seed for dropped crimes and null sets."),
    history_odds: float | None = typer.Option(
        None,
        "--history-odds",
        help="Odds ratio for a keeper's history of the crime type in the ranking (default: the "
        "default policy's leads.history_odds_ratio; 1: the ANPR evidence alone).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Score lead search on a synthetic city: top1_rate (true vehicle first and past the
    threshold, series with 3+ camera-covered crimes) and false_lead_rate on null sets, with
    its binomial 95% interval against the stated chance figure."""
    from pydantic import ValidationError

    from peel.cli.resolve import default_truth
    from peel.governance.policy import LeadRules, default_policy_text, load_policy
    from peel.leads.evaluate import evaluate

    with handled():
        if null_sets < 1:
            raise InputRefused("--null-sets must be at least 1")
        if history_odds is None:
            history_odds = load_policy(default_policy_text()).policy.leads.history_odds_ratio
        try:  # the policy's own bounds, so the flag cannot allow what the policy refuses
            LeadRules(history_odds_ratio=history_odds)
        except ValidationError as e:
            raise InputRefused(f"--history-odds: {e.errors()[0]['msg']}") from e
        figures = evaluate(
            Lake(),
            truth or default_truth(),
            null_count=null_sets,
            seed=seed,
            history_odds=history_odds,
        )
    if as_json:
        emit_json(figures)
        return
    lo, hi = figures["false_lead_rate_ci95"]
    err.print(f"ran as {figures['ran_as']}")
    err.print(f"ranking: {figures['ranking']}")
    err.print(
        f"top1_rate {figures['top1_rate']} (ANPR evidence alone "
        f"{figures['top1_rate_anpr_only']}) over {figures['series_counted']} query sets "
        f"({figures['series']} series, {figures['draws']} draw(s) each); "
        f"false_lead_rate {figures['false_lead_rate']:.3f} (95% {lo:.3f}-{hi:.3f}) on "
        f"{figures['null_sets']} null sets against the stated {figures['stated_chance']:g}"
    )


__all__ = ["app"]
