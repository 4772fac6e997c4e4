"""A plate's reads found by its raw spellings (kept with the background) are exactly the reads
found by normalising every read: for the clone check, the far-away reads and plate_reads."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from leads.memlake import T0, MemoryEngine
from peel.leads.background import Background, _spellings
from peel.leads.chain import clone_flags
from peel.leads.search import Result, _far_reads
from peel.leads.window import plate_reads


def _lake(mem: MemoryEngine) -> None:
    mem.cameras([("A", 0.0, 0.0), ("B", 3000.0, 0.0), ("C", 9000.0, 0.0)])
    mem.reads(
        [
            ("r1", "AB12 CDE", "A", T0),
            ("r2", "ab12cde", "B", T0 + timedelta(seconds=20)),  # 3 km in 20 s: a clone
            ("r3", "AB12CDE", "C", T0 + timedelta(hours=2)),
            ("r4", " AB 12 CDE ", "C", T0 + timedelta(hours=3)),
            ("r5", "XY99 ZZZ", "A", T0),
            ("r6", "XY99ZZZ", "C", T0 + timedelta(minutes=1)),  # 9 km in a minute
            ("r7", "OTHER 1", "B", T0 + timedelta(minutes=5)),
            ("r8", "AB12CDF", "C", T0 + timedelta(hours=1)),  # one letter off: not the plate
        ]
    )


def _bg(spellings: pa.Table | None) -> Background:
    return Background(
        plates=np.array([], dtype=object),
        cameras=np.array([], dtype=object),
        plate=np.zeros(0, np.int32),
        camera=np.zeros(0, np.int32),
        how=np.zeros(0, np.int16),
        n=np.zeros(0),
        weeks=1.0,
        fingerprint="t",
        build_seconds=0.0,
        cached=False,
        spellings=spellings,
    )


def test_the_spellings_of_a_plate_are_every_raw_form_in_the_reads(mem: MemoryEngine) -> None:
    _lake(mem)
    bg = _bg(_spellings(mem))
    got = bg.spellings_of(["AB12CDE"])
    assert got is not None
    assert sorted(got["vrm"].to_pylist()) == sorted(
        ["AB12 CDE", "ab12cde", "AB12CDE", " AB 12 CDE "]
    )
    assert set(got["plate"].to_pylist()) == {"AB12CDE"}
    empty = bg.spellings_of(["NOSUCH"])
    assert empty is not None and empty.num_rows == 0
    assert _bg(None).spellings_of(["AB12CDE"]) is None


def test_reads_found_by_spellings_equal_reads_found_by_normalising(mem: MemoryEngine) -> None:
    _lake(mem)
    bg = _bg(_spellings(mem))
    plates = ["AB12CDE", "XY99ZZZ", "NOSUCH"]
    a, b = T0 - timedelta(days=1), T0 + timedelta(days=1)
    plain = plate_reads(mem, plates, a, b)
    fast = plate_reads(mem, plates, a, b, spellings=bg.spellings_of(plates))
    assert plain.num_rows == 6
    assert fast.to_pylist() == plain.to_pylist()
    flags = clone_flags(mem, plates)
    assert set(flags) == {"AB12CDE", "XY99ZZZ"}
    assert clone_flags(mem, plates, spellings=bg.spellings_of(plates)) == flags
    spans = [
        (0, "AB12CDE", T0 - timedelta(hours=1), T0 + timedelta(hours=2, minutes=30)),
        (1, "AB12CDE", T0 + timedelta(hours=2, minutes=30), T0 + timedelta(hours=4)),
        (1, "XY99ZZZ", T0, T0 + timedelta(minutes=2)),
        (2, "NOSUCH", T0, T0 + timedelta(hours=9)),
    ]
    far_plain = _far_reads(mem, spans, _bg(None))
    far_fast = _far_reads(mem, spans, bg)
    assert far_fast == far_plain
    assert [r[3] for r in far_plain[(0, "AB12CDE")]] == ["r1", "r2", "r3"]
    assert [r[3] for r in far_plain[(1, "AB12CDE")]] == ["r4"]
    assert [r[3] for r in far_plain[(1, "XY99ZZZ")]] == ["r5", "r6"]


def test_a_single_search_keeps_its_reads_and_finds_the_same_far_reads_and_clones(
    mem: MemoryEngine,
) -> None:
    # find_leads fetches the leading plates' reads once (far-away reads and clone check from
    # the same query); the result must be what the separate queries give.
    from peel.leads.background import _arrays, _build
    from peel.leads.crimes import Crime
    from peel.leads.score import Params
    from peel.leads.search import search_many
    from peel.leads.window import read_days

    mem.cameras([("A", 0.0, 0.0), ("B", 3000.0, 0.0), ("C", 20000.0, 0.0)])
    reads = []
    for d in range(3):
        at = T0 + timedelta(days=7 * d)
        reads += [
            (f"s{d}", "AB12 CDE", "A", at + timedelta(minutes=10)),
            (f"t{d}", "zz99zzz", "A", at + timedelta(minutes=20)),
        ]
    reads += [
        ("far", "AB12CDE", "C", T0 + timedelta(minutes=40)),  # 20 km off during crime 0
        ("c1", "ZZ99 ZZZ", "A", T0 + timedelta(days=7, hours=5)),
        ("c2", "ZZ99ZZZ", "B", T0 + timedelta(days=7, hours=5, seconds=20)),  # a clone
    ]
    reads += [
        (f"bg{i}", f"BG{i % 7}", "B", T0 + timedelta(days=i % 30, hours=i % 24)) for i in range(90)
    ]
    mem.reads(reads)
    table, weeks = _build(mem)
    bg = _arrays(table, weeks, "t", 0.0, False)
    bg.spellings = _spellings(mem)
    cams = {"A": (0.0, 0.0), "B": (3000.0, 0.0), "C": (20000.0, 0.0)}
    crimes = [
        Crime(
            f"C{d}",
            "burglary",
            0.0,
            0.0,
            T0 + timedelta(days=7 * d),
            T0 + timedelta(days=7 * d, hours=1),
            f"row-C{d}",
            "test",
        )
        for d in range(3)
    ]
    p = Params()
    plain = search_many(mem, bg, cams, [crimes], p)[0]
    kept = search_many(mem, bg, cams, [crimes], p, keep_reads=10)[0]
    assert plain.reads is None and kept.reads is not None

    def shown(res: Result) -> list[tuple[str, float, float, dict[int, Any]]]:
        return [(c.plate, c.score, c.expected, c.far) for c in res.candidates]

    assert shown(kept) == shown(plain)
    assert any(c.far for c in plain.candidates), "the far read must count against AB12CDE"
    plates = [c.plate for c in kept.candidates if c.score > 0][:10]
    assert set(plates) <= set(kept.reads)
    day = timedelta(days=1)
    days = read_days((c.committed_from - day, c.committed_to + day) for c in crimes)
    assert kept.read_days == days
    from_query = clone_flags(mem, plates, days=days)
    assert "ZZ99ZZZ" in from_query
    from_kept = clone_flags(
        mem, plates, days=days, reads=[r for pl in plates for r in kept.reads[pl]]
    )
    assert from_kept == from_query
