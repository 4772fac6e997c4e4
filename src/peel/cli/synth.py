"""`peel synth`: generate a synthetic city with its truth."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

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
    check: bool = typer.Option(
        False, "--check", help="Also measure the difficulty figures from the written files."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Write a synthetic city: source exports, truth/ (Parquet) and manifest.json.

    With --check, the difficulty figures are measured from the written files and printed:
    identity noise, look-alikes, series reads and decoys, dispersion, flare-ups, misreads."""
    from peel.synth import build_params, generate
    from peel.synth.check import check as measure

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
    if check:
        with handled():
            doc["figures"] = measure(target)
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
    if check:
        _print_figures(doc["figures"])


def _print_figures(f: dict[str, Any]) -> None:
    noise = f["identity_noise"]
    err.print(f"identity noise over {noise['records']:,} person-bearing records:")
    for kind, share in noise["shares"].items():
        err.print(f"  {kind:<22} {share:7.2%}")
    h = f["hard_negatives"]
    err.print(
        f"people sharing forename, surname and birth year: "
        f"{h['share_name_and_birth_year_shared']:.2%}; father-son {h['father_son_people']}, "
        f"twins {h['twin_people']}"
    )
    s = f["series"]
    err.print(
        f"series crimes without a read of the series vehicle: "
        f"{s['share_without_read_min']:.0%} to {s['share_without_read_max']:.0%} per series; "
        f"decoys per series: min {s['decoys_min']}, median {s['decoys_median']:.0f}; "
        f"offender within 1 km of a scene: {s['share_offenders_within_1km']:.0%} of series"
    )
    c = f["crime"]
    for ct, d in c["weekly_dispersion"].items():
        err.print(f"  weekly {ct:<30} mean {d['mean']:6.2f}  variance/mean {d['variance_to_mean']}")
    for fl in c["flares"]:
        err.print(
            f"  flare-up {fl['crime_type']} x{fl['multiplier']}: measured x{fl['measured_ratio']}"
        )
    err.print(f"misreads: {f['anpr']['misread_share']:.2%} of {f['anpr']['reads']:,} reads")
