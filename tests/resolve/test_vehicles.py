"""Plates: possible clones and likely misreads are flagged, never merged."""

from __future__ import annotations

from helpers.resolved import ResolvedWorld
from peel.lake import Lake
from peel.resolve.output import require_run
from peel.resolve.vehicles import clone_flags, misread_flags, one_swap_variants


def test_one_swap_variants() -> None:
    assert one_swap_variants("AB12CDE") == ["A812CDE", "ABI2CDE", "AB1ZCDE"]
    assert one_swap_variants("XYZ") == ["XY2"]
    assert one_swap_variants("") == []


def test_misread_flags_point_at_registered_plates(resolved_world: ResolvedWorld) -> None:
    engine = Lake(resolved_world.settings).engine()
    try:
        flags = misread_flags(engine).to_pylist()
        registered = {
            r["p"]
            for r in engine.query(
                "SELECT DISTINCT upper(replace(vrm, ' ', '')) AS p FROM vehicle_current"
            ).to_pylist()
        }
    finally:
        engine.close()
    assert flags, "the tiny city plants misreads"
    for f in flags:
        assert f["plate"] not in registered
        assert f["reads"] <= 2
        assert f["misread_of"] and set(f["misread_of"]) <= registered
        assert all(p in one_swap_variants(f["plate"]) for p in f["misread_of"])


def test_clone_flags_name_two_reads_too_far_apart(resolved_world: ResolvedWorld) -> None:
    engine = Lake(resolved_world.settings).engine()
    try:
        # With a low speed limit every plate driven between cameras is "too fast": the
        # arithmetic, not the city, is under test here.
        flags = clone_flags(engine, max_kmh=1.0, min_km=0.5).to_pylist()
    finally:
        engine.close()
    assert flags
    for f in flags:
        assert f["impossible_pairs"] >= 1 and f["fastest_kmh"] > 1.0
        assert len(f["example_reads"]) == 2
    # The run records its flags for publishing.
    run = require_run(resolved_world.settings)
    assert run.card()["counts"]["plates_likely_misread"] >= 1
    assert (run.path / "plate_clones.parquet").exists()
