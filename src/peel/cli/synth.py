"""`peel synth`: generate a synthetic city with its truth."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from peel.cli.common import JsonOption, emit_json, err, handled
from peel.settings import get_settings


def synth(
    scale: str = typer.Option("tiny", "--scale", help="tiny, small, demo or large."),
    profile: str = typer.Option("standard", "--profile", help="standard or hard."),
    params: Path | None = typer.Option(None, "--params", help="YAML file overriding settings."),
    seed: int = typer.Option(..., "--seed", help="Random seed: same seed, same bytes."),
    out: Path | None = typer.Option(
        None, "--out", help="Output folder (default: PEEL_DATA_DIR/synth/<scale>-<seed>)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Write a synthetic city: source exports, truth/ (Parquet) and manifest.json."""
    from peel.synth import build_params, generate

    with handled():
        p = build_params(scale, profile, params)
        target = out or get_settings().data_dir / "synth" / f"{scale}-{seed}"
        t0 = time.perf_counter()
        done = generate(p, seed, target, log=lambda s: None if as_json else err.print(f"  {s}"))
        seconds = time.perf_counter() - t0
    m = done["manifest"]
    doc = {
        "out": str(target),
        "scale": scale,
        "profile": profile,
        "seed": seed,
        "params_sha256": m["params_sha256"],
        "rows": m["rows"],
        "bad_rows": m["bad_rows"],
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(done["peak_rss_bytes"] / 2**20, 1),
        "peak_rss_worker_mb": round(done["peak_rss_worker_bytes"] / 2**20, 1),
        "disk_mb": round(done["disk_bytes"] / 2**20, 1),
    }
    if as_json:
        emit_json(doc)
        return
    total = sum(m["rows"].values())
    err.print(
        f"city {scale}-{seed} ({profile}) in {target}: {total:,} rows in {len(m['rows'])} exports, "
        f"{m['bad_rows']} planted bad rows; {seconds:.1f} s, peak memory "
        f"{doc['peak_rss_mb']:,.0f} MB (ANPR workers {doc['peak_rss_worker_mb']:,.0f} MB each at "
        f"most), disk {doc['disk_mb']:,.1f} MB"
    )
