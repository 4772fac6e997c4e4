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


def test_read_days_cover_every_utc_day_a_span_touches() -> None:
    from datetime import UTC, datetime, timezone

    from peel.leads.window import read_days

    a = datetime(2024, 3, 30, 23, 50, tzinfo=UTC)
    assert read_days([(a, a + timedelta(minutes=20))]) == {"2024-03-30", "2024-03-31"}
    # A local time east of UTC still names the UTC day the lake files it under.
    plus2 = timezone(timedelta(hours=2))
    b = datetime(2024, 4, 2, 1, 0, tzinfo=plus2)  # 2024-04-01 23:00 UTC
    assert read_days([(b, b)]) == {"2024-04-01"}
    assert read_days([]) == set()


def test_a_window_across_midnight_opens_both_days(mem: MemoryEngine) -> None:
    # The window query opens only the day partitions its windows touch: a read just after
    # midnight in a window that starts before it must still be found (the memory engine
    # filters by day exactly as the lake's files are split).
    from datetime import UTC, datetime

    night = datetime(2024, 5, 10, 23, 40, tzinfo=UTC)
    mem.cameras([("CAM", 0.0, 0.0)])
    mem.crimes([("N1", "burglary", 0.0, 0.0, night, night + timedelta(minutes=30))])
    mem.reads(
        [
            ("before", "AB12 CDE", "CAM", night - timedelta(minutes=20)),
            ("after", "AB12 CDE", "CAM", night + timedelta(minutes=45)),  # 00:25 next day
            ("later", "AB12 CDE", "CAM", night + timedelta(days=1)),
        ]
    )
    crimes, _ = by_refs(mem, ["N1"])
    hits = window_hits(mem, windows_table(crimes, margin_min=30), radius_m=10).to_pylist()
    assert sorted(h["read_id"] for h in hits) == ["after", "before"]
