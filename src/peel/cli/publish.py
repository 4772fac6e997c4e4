"""`peel publish`: the current resolution run's profiles into the serving store."""

from __future__ import annotations

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


def publish(
    as_: str = AsOption("peel-resolve"),
    purpose: str = PurposeOption("combination"),
    as_json: bool = JsonOption,
    quiet: bool = QuietOption,
) -> None:
    """Write the person and vehicle profiles of the current resolution run to the serving
    store: only new and changed profiles are written, vanished ones deleted (audited)."""
    from peel.resolve.publish import publish_profiles

    setup_logging(quiet or as_json)
    with handled(), acting(as_, purpose) as who:
        out = publish_profiles(Lake(), who.store, who.policy, who.caller)
    if as_json:
        emit_json(out)
        return
    if not quiet:
        err.print(
            f"published run {out['run_id']}: {out['written']:,} profiles written, "
            f"{out['unchanged']:,} unchanged, {out['deleted']:,} deleted "
            f"({out['profiles_written']:,} people, {out['vehicles_written']:,} vehicles "
            f"written); {out['seconds']['total']:.1f}s"
        )
