"""`peel resolve run|evaluate`: person resolution (Splink) and its score against truth."""

from __future__ import annotations

import json
from pathlib import Path

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
from peel.errors import PeelError
from peel.lake import Lake
from peel.settings import get_settings

app = typer.Typer(
    help="Person resolution: records from every source joined into profiles.", no_args_is_help=True
)


@app.command("run")
def run_cmd(
    dataset: list[str] = typer.Option(
        [], "--dataset", help="Dataset(s) to resolve (default: all; never synthetic and real)."
    ),
    config: Path | None = typer.Option(
        None, "--config", help="YAML overriding resolution settings (default PEEL_RESOLVE_CONFIG)."
    ),
    as_: str = AsOption("peel-resolve"),
    purpose: str = PurposeOption("combination"),
    as_json: bool = JsonOption,
    quiet: bool = QuietOption,
) -> None:
    """Link person records across all sources with Splink (trained without labels), cluster
    them into profiles with stable ids, and make the run current."""
    from peel.resolve.config import load_config
    from peel.resolve.run import resolve_people

    setup_logging(quiet or as_json)
    with handled():
        cfg = load_config(config)
        with acting(as_, purpose) as who:
            out = resolve_people(
                Lake(),
                who.store,
                who.policy,
                who.caller,
                datasets=dataset or None,
                config=cfg,
                log_step=(lambda s: None) if quiet or as_json else err.print,
            )
    if as_json:
        emit_json(out)
        return
    err.print(
        f"run {out['run_id']}: {out['records']:,} records -> {out['profiles']:,} profiles "
        f"({out['profiles_with_several_records']:,} with several records); "
        f"{out.get('links_refused', 0):,} links refused by "
        f"identifier or split constraints; ids kept {out['profile_ids_kept']:,}, "
        f"new {out['profile_ids_new']:,}; {out['seconds']['total']:.1f}s"
    )


def default_truth() -> Path:
    """The truth folder of the one synthetic city recorded in the lake."""
    cities = sorted((get_settings().lake_dir / "_cities").glob("*.json"))
    if not cities:
        raise PeelError("no --truth given and the lake records no synthetic city")
    if len(cities) > 1:
        names = ", ".join(c.stem for c in cities)
        raise PeelError(f"no --truth given and the lake records several cities ({names})")
    data = json.loads(cities[0].read_text(encoding="utf-8"))
    return Path(data["city"]) / "truth"


@app.command("evaluate")
def evaluate_cmd(
    truth: Path | None = typer.Option(
        None,
        "--truth",
        help="A city's truth/ folder, or a CSV of record_id,entity_id (default: the city "
        "recorded in the lake).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Score the current profiles: pairwise precision, recall, F1, B-cubed, false-merge share
    and misattributed warnings."""
    from peel.resolve.evaluate import evaluate
    from peel.resolve.output import require_run

    with handled():
        run = require_run(get_settings())
        figures = evaluate(run, truth or default_truth())
    if as_json:
        emit_json(figures)
        return
    t = Table(title=f"resolution run {figures['run_id']} against {figures['truth']}")
    t.add_column("figure")
    t.add_column("value", justify="right")
    for key in (
        "records_scored",
        "entities",
        "profiles",
        "precision",
        "recall",
        "f1",
        "bcubed_precision",
        "bcubed_recall",
        "false_merge_share",
        "misattributed_warnings",
        "overrides",
    ):
        v = figures[key]
        t.add_row(key, f"{v:,}" if isinstance(v, int) else f"{v:.4f}")
    err.print(t)


__all__ = ["app"]
