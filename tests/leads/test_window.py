from __future__ import annotations

from datetime import timedelta

import pytest

from leads.memlake import T0, MemoryEngine
from peel.errors import InputRefused
from peel.leads.crimes import by_refs, parse_day
from peel.leads.window import window_hits, windows_table


def _setup(mem: MemoryEngine) -> None:
    mem.cameras([("EDGE", 500.0, 0.0), ("OUT", 500.01, 0.0)])
    mem.crimes([("C1", "burglary", 0.0, 0.0, T0, T0 + timedelta(hours=1))])
    lo, hi = T0 - timedelta(minutes=30), T0 + timedelta(hours=1, minutes=30)
    mem.reads(
        [
            ("r1", "AB12 CDE", "EDGE", lo),  # exactly at the radius and the widened start
            ("r2", "AB12 CDE", "EDGE", hi),  # exactly at the widened end
            ("r3", "AB12 CDE", "EDGE", lo - timedelta(seconds=1)),
            ("r4", "AB12 CDE", "EDGE", hi + timedelta(seconds=1)),
            ("r5", "XY34 ZZZ", "OUT", T0),  # a centimetre beyond the radius
        ]
    )


def test_window_edges_are_inclusive(mem: MemoryEngine) -> None:
    _setup(mem)
    crimes, skipped = by_refs(mem, ["C1"])
    assert skipped == []
    hits = window_hits(mem, windows_table(crimes, margin_min=30), radius_m=500).to_pylist()
    assert sorted(h["read_id"] for h in hits) == ["r1", "r2"]
    assert {h["plate"] for h in hits} == {"AB12CDE"}


def test_margin_widens_the_window(mem: MemoryEngine) -> None:
    _setup(mem)
    crimes, _ = by_refs(mem, ["C1"])
    hits = window_hits(mem, windows_table(crimes, margin_min=0), radius_m=500).to_pylist()
    assert hits == []


def test_unknown_crime_reference_is_refused(mem: MemoryEngine) -> None:
    _setup(mem)
    with pytest.raises(InputRefused, match="unknown crime reference: NOPE"):
        by_refs(mem, ["C1", "NOPE"])


def test_bad_date_is_refused() -> None:
    with pytest.raises(InputRefused, match="--from: '2026-13-01' is not a date"):
        parse_day("2026-13-01", flag="--from")
