"""Geometry for the workbench's drawings, computed on the server and drawn by the templates
as inline SVG (no tiles, no script): maps from projected positions (easting and northing,
metres; north up) and a timeline of a vehicle's reads against each crime's window."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

WIDTH = 640
PAD = 24
TIMELINE_LABEL = 150
TIMELINE_ROW = 30
ORDER = ("between", "near", "far")  # drawn in this order: far reads on top


@dataclass(frozen=True)
class Frame:
    """Projected metres -> SVG units for a box, north up, one scale on both axes."""

    x0: float
    y1: float
    scale: float
    width: float
    height: float

    @classmethod
    def around(cls, points: Iterable[tuple[float, float]], *, margin_m: float) -> Frame:
        pts = list(points)
        xs = [p[0] for p in pts]
        ys = [p[1] for p in pts]
        x0, x1 = min(xs) - margin_m, max(xs) + margin_m
        y0, y1 = min(ys) - margin_m, max(ys) + margin_m
        dx, dy = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
        height = min(max(WIDTH * dy / dx, 220.0), 560.0)
        scale = min((WIDTH - 2 * PAD) / dx, (height - 2 * PAD) / dy)
        # Centre the box in the drawing.
        x0 -= ((WIDTH - 2 * PAD) / scale - dx) / 2
        y1 += ((height - 2 * PAD) / scale - dy) / 2
        return cls(x0=x0, y1=y1, scale=scale, width=WIDTH, height=round(height))

    def xy(self, e: float, n: float) -> tuple[float, float]:
        return (
            round(PAD + (e - self.x0) * self.scale, 1),
            round(PAD + (self.y1 - n) * self.scale, 1),
        )

    def inside(self, e: float, n: float) -> bool:
        x, y = self.xy(e, n)
        return 0 <= x <= self.width and 0 <= y <= self.height

    def scale_bar(self) -> dict[str, Any]:
        """A round length about a fifth of the width, for the corner of the map."""
        target = (self.width / 5) / self.scale
        nice = next(
            (m for m in (50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 20000) if m >= target),
            50000,
        )
        label = f"{nice // 1000:g} km" if nice >= 1000 else f"{nice} m"
        return {
            "x": PAD,
            "y": self.height - 10,
            "length": round(nice * self.scale, 1),
            "label": label,
        }


def crimes_map(
    crimes: Sequence[dict[str, Any]], cameras: Sequence[dict[str, Any]], chosen: set[str]
) -> dict[str, Any] | None:
    """The chooser's map: crimes (chosen ones marked) and the cameras among them."""
    placed = [c for c in crimes if c.get("easting") is not None and c.get("northing") is not None]
    if not placed:
        return None
    f = Frame.around(((c["easting"], c["northing"]) for c in placed), margin_m=400.0)
    return {
        "width": f.width,
        "height": f.height,
        "scale_bar": f.scale_bar(),
        "cameras": [
            dict(zip(("x", "y"), f.xy(c["easting"], c["northing"]), strict=True), id=c["camera_id"])
            for c in cameras
            if f.inside(c["easting"], c["northing"])
        ],
        "crimes": [
            dict(
                zip(("x", "y"), f.xy(c["easting"], c["northing"]), strict=True),
                ref=c["crime_ref"],
                chosen=c["crime_ref"] in chosen,
                when=(c.get("committed_from") or "")[:16].replace("T", " "),
            )
            for c in placed
        ],
    }


def lead_map(
    crimes: Sequence[dict[str, Any]],
    sightings: Sequence[dict[str, Any]],
    cameras: Sequence[dict[str, Any]],
    radius_m: float,
) -> dict[str, Any]:
    """One lead's map: the scenes with the search radius, the cameras that read the vehicle
    near a scene, and where it was read far away (or in between)."""
    points = [(c["easting"], c["northing"]) for c in crimes]
    points += [(s["easting"], s["northing"]) for s in sightings]
    f = Frame.around(points, margin_m=radius_m + 150.0)
    by_camera: dict[tuple[str, str], dict[str, Any]] = {}
    for s in sightings:
        key = (s["camera_id"], s["kind"])
        if key not in by_camera:
            x, y = f.xy(s["easting"], s["northing"])
            by_camera[key] = {"id": s["camera_id"], "kind": s["kind"], "x": x, "y": y, "reads": 0}
        by_camera[key]["reads"] += 1
    used = {cid for cid, _ in by_camera}
    return {
        "width": f.width,
        "height": f.height,
        "scale_bar": f.scale_bar(),
        "scenes": [
            dict(
                zip(("x", "y"), f.xy(c["easting"], c["northing"]), strict=True),
                ref=c["crime_ref"],
                label=_short(c["crime_ref"]),
                r=round(radius_m * f.scale, 1),
            )
            for c in crimes
        ],
        "cameras": [
            dict(zip(("x", "y"), f.xy(c["easting"], c["northing"]), strict=True), id=c["camera_id"])
            for c in cameras
            if c["camera_id"] not in used and f.inside(c["easting"], c["northing"])
        ],
        "reads": sorted(
            by_camera.values(), key=lambda r: ("near", "between", "far").index(r["kind"])
        ),
    }


def _t(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _span(hours: float) -> str:
    if hours < 48:
        return f"{hours:.1f} h" if hours < 10 else f"{hours:.0f} h"
    return f"{hours / 24:.1f} days"


def timeline(
    crimes: Sequence[dict[str, Any]], sightings: Sequence[dict[str, Any]], margin_min: float
) -> dict[str, Any]:
    """One row per crime, each scaled to its own window widened by the margin: the committed
    window as a bar, the vehicle's reads as ticks (near, between, far)."""
    plot = WIDTH - TIMELINE_LABEL - 70
    rows = []
    for i, c in enumerate(crimes):
        a, b = _t(c["committed_from"]), _t(c["committed_to"])
        lo, hi = a - margin_min * 60, b + margin_min * 60
        span = max(hi - lo, 60.0)

        def x(t: float, lo: float = lo, span: float = span) -> float:
            return round(TIMELINE_LABEL + (t - lo) / span * plot, 1)

        y = PAD + i * TIMELINE_ROW
        ticks = [
            {"x": x(_t(s["read_at"])), "kind": s["kind"], "title": _tick_title(s)}
            for s in sightings
            if s["crime_ref"] == c["crime_ref"]
        ]
        rows.append(
            {
                "ref": c["crime_ref"],
                "label": _short(c["crime_ref"]),
                "y": y,
                "bar_x": x(a),
                "bar_w": max(round(x(b) - x(a), 1), 2.0),
                "ticks": ticks,
                "span": _span((b - a) / 3600),
                "start": c["committed_from"][:16].replace("T", " "),
            }
        )
    return {
        "width": WIDTH,
        "height": PAD + len(crimes) * TIMELINE_ROW + 8,
        "label_width": TIMELINE_LABEL,
        "plot_end": TIMELINE_LABEL + plot,
        "note_x": TIMELINE_LABEL + plot + 8,
        "rows": rows,
    }


def _short(ref: str) -> str:
    return ref if len(ref) <= 16 else ref[:7] + "…" + ref[-6:]


def _tick_title(s: dict[str, Any]) -> str:
    where = {"near": "near the scene", "far": "far away", "between": "in between"}[s["kind"]]
    return (
        f"{s['read_at'][:19].replace('T', ' ')} at {s['camera_id']}, "
        f"{s['distance_m']:,} m from the scene ({where})"
    )


def distance_text(metres: float) -> str:
    return f"{metres / 1000:.1f} km" if metres >= 1000 else f"{math.floor(metres)} m"


__all__ = ["Frame", "crimes_map", "distance_text", "lead_map", "timeline"]
