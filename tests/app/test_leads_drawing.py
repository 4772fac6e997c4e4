"""The workbench's drawings: maps are north up on one scale, a timeline row puts a read inside
its crime's window where it happened, and far-away reads are drawn apart from near ones."""

from __future__ import annotations

from typing import Any

from peel.app import leads_drawing as draw
from peel.app.pages import templates

CRIMES = [
    {
        "crime_ref": "C/1",
        "easting": 530000.0,
        "northing": 175000.0,
        "committed_from": "2024-05-01T10:00:00+00:00",
        "committed_to": "2024-05-01T12:00:00+00:00",
    },
    {
        "crime_ref": "C/2",
        "easting": 531000.0,
        "northing": 176000.0,
        "committed_from": "2024-05-08T20:00:00+00:00",
        "committed_to": "2024-05-09T08:00:00+00:00",
    },
]


def _read(ref: str, at: str, e: float, n: float, kind: str, d: int) -> dict[str, Any]:
    return {
        "crime_ref": ref,
        "read": "anpr_read:x",
        "read_at": at,
        "camera_id": f"CAM-{kind}",
        "easting": e,
        "northing": n,
        "distance_m": d,
        "kind": kind,
        "in_committed_window": True,
    }


READS = [
    _read("C/1", "2024-05-01T11:00:00+00:00", 530100.0, 175100.0, "near", 141),
    _read("C/2", "2024-05-09T02:00:00+00:00", 536000.0, 176000.0, "far", 5000),
]


def test_maps_are_north_up_on_one_scale() -> None:
    m = draw.lead_map(CRIMES, READS, [], 500.0)
    a, b = m["scenes"]
    assert b["x"] > a["x"] and b["y"] < a["y"]  # east is right, north is up
    assert abs((b["x"] - a["x"]) - (a["y"] - b["y"])) < 0.5  # 1 km east = 1 km north
    assert {r["kind"] for r in m["reads"]} == {"near", "far"}
    assert all(0 <= r["x"] <= m["width"] and 0 <= r["y"] <= m["height"] for r in m["reads"])
    bar = m["scale_bar"]
    assert bar["label"].endswith(("m", "km")) and 0 < bar["length"] < m["width"]


def test_a_timeline_row_puts_each_read_where_it_happened_in_its_window() -> None:
    t = draw.timeline(CRIMES, READS, 30)
    first, second = t["rows"]
    assert [tk["kind"] for tk in first["ticks"]] == ["near"]
    assert [tk["kind"] for tk in second["ticks"]] == ["far"]
    # 11:00 is the middle of 10:00-12:00.
    mid = first["bar_x"] + first["bar_w"] / 2
    assert abs(first["ticks"][0]["x"] - mid) < 1
    assert first["span"] == "2.0 h" and second["span"] == "12 h"


def test_the_drawings_render_with_text_alternatives_and_far_reads_apart() -> None:
    macros: Any = templates.env.get_template("_leads_svg.html").module  # Jinja macros
    svg = str(macros.timeline(draw.timeline(CRIMES, READS, 30), "t", "AB12CDE", 30))
    assert 'role="img"' in svg and '<title id="t-t">Timeline of AB12CDE' in svg
    assert 'class="tick near"' in svg and 'class="tick far"' in svg
    svg = str(macros.lead_map(draw.lead_map(CRIMES, READS, [], 500.0), "m", "AB12CDE"))
    assert "<desc" in svg and 'class="read far"' in svg and 'class="read near"' in svg
    assert "1 camera(s) that read it far away" in svg
