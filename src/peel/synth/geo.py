"""The borough: a street grid in British National Grid around a real centre, zones, addresses,
ANPR camera sites on the main roads and named neighbourhood polygons."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from pyproj import Transformer

from peel.synth.params import Params

STREET_M = 100  # minor streets every 100 m
ARTERIAL_M = 1000  # main roads every 1 km
CELL_M = 250

_WORDS = [
    "Marrow",
    "Quayle",
    "Lapwing",
    "Penny",
    "Sparrow",
    "Tallow",
    "Gosling",
    "Wren",
    "Bramble",
    "Fern",
    "Hazel",
    "Rowan",
    "Alder",
    "Linden",
    "Thorn",
    "Heron",
    "Kestrel",
    "Plover",
    "Swallow",
    "Martin",
    "Juniper",
    "Cedar",
    "Willow",
    "Ash",
    "Oak",
    "Elder",
    "Holly",
    "Laurel",
    "Myrtle",
    "Sorrel",
    "Clover",
    "Barley",
    "Mill",
    "Ferry",
    "Wharf",
    "Chapel",
    "Market",
    "Tanner",
    "Cooper",
    "Weaver",
    "Potter",
    "Mason",
    "Carter",
    "Fletcher",
    "Glover",
    "Hatter",
    "Salter",
    "Draper",
    "Dyer",
    "Brewer",
    "Baker",
    "Cress",
    "Pelham",
    "Ashby",
    "Beaumont",
    "Carlyle",
    "Denholm",
    "Ellery",
    "Farrant",
    "Garland",
    "Harwood",
    "Ingram",
    "Jessop",
    "Kimber",
    "Lomax",
    "Merrick",
    "Norland",
    "Orwell",
    "Pryor",
    "Radley",
    "Selwood",
    "Thursby",
    "Upton",
    "Verney",
    "Winslow",
]
_SUFFIX = [
    "Road",
    "Street",
    "Grove",
    "Lane",
    "Terrace",
    "Walk",
    "Gardens",
    "Place",
    "Row",
    "Crescent",
    "Avenue",
    "Close",
    "Way",
    "Mews",
    "Yard",
]
_HOOD = [
    "Marrowbone",
    "Quayle Green",
    "Lapwing Park",
    "Pennyfeather",
    "Sparrowgate",
    "Tallowmere",
    "Gosling Fields",
    "Wrenwick",
    "Bramblecote",
    "Fernhill",
    "Hazelbank",
    "Rowan Vale",
    "Alderbrook",
    "Lindenholt",
    "Thornbury Rise",
    "Heronsgate",
    "Kestrel Heath",
    "Ploverton",
    "Swallowfield",
    "Juniper Cross",
    "Cedarmoor",
    "Willowmead",
    "Ashcombe",
    "Oakhurst",
    "Elderwick",
    "Hollybrook",
    "Laurel End",
    "Myrtle Hill",
    "Sorrel Side",
    "Clovermead",
    "Barleycroft",
    "Millbank Green",
]
BOROUGH = "South Meridian"
FORCE = "Metropolitan Police Service"

_TO_WGS84 = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)


def to_wgs84(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = _TO_WGS84.transform(np.asarray(x, float), np.asarray(y, float))
    return np.asarray(lon), np.asarray(lat)


@dataclass
class Borough:
    x0: float
    y0: float
    width: float
    height: float
    zone: np.ndarray  # per 250 m cell: 0 residential, 1 commercial, 2 night-time, 3 park
    hood_vertices: np.ndarray  # (ny+1, nx+1, 2) jittered lattice
    hood_names: list[str]
    street_h: list[str]  # names of horizontal streets (by index of y line)
    street_v: list[str]
    cam_x: np.ndarray
    cam_y: np.ndarray
    cam_axis: np.ndarray  # 0: on a north-south road (x fixed), 1: east-west (y fixed)
    cam_dir: np.ndarray
    cam_name: np.ndarray

    @cached_property
    def arterial_x(self) -> np.ndarray:
        return self.x0 + np.arange(ARTERIAL_M // 2, self.width, ARTERIAL_M)

    @cached_property
    def arterial_y(self) -> np.ndarray:
        return self.y0 + np.arange(ARTERIAL_M // 2, self.height, ARTERIAL_M)

    def zone_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        i = np.clip(((y - self.y0) // CELL_M).astype(int), 0, self.zone.shape[0] - 1)
        j = np.clip(((x - self.x0) // CELL_M).astype(int), 0, self.zone.shape[1] - 1)
        return self.zone[i, j]

    def hood_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Neighbourhood index of each point (-1 outside the borough): point in quadrilateral."""
        v = self.hood_vertices
        ny, nx = v.shape[0] - 1, v.shape[1] - 1
        out = np.full(len(x), -1, dtype=np.int32)
        for i in range(ny):
            for j in range(nx):
                quad = [v[i, j], v[i, j + 1], v[i + 1, j + 1], v[i + 1, j]]
                inside = _in_polygon(x, y, quad)
                out[inside & (out < 0)] = i * nx + j
        return out

    def hood_polygons_wgs84(self) -> list[list[tuple[float, float]]]:
        v = self.hood_vertices
        polys = []
        for i in range(v.shape[0] - 1):
            for j in range(v.shape[1] - 1):
                ring = np.array([v[i, j], v[i, j + 1], v[i + 1, j + 1], v[i + 1, j], v[i, j]])
                lon, lat = to_wgs84(ring[:, 0], ring[:, 1])
                polys.append(
                    [
                        (round(float(a), 6), round(float(b), 6))
                        for a, b in zip(lon, lat, strict=False)
                    ]
                )
        return polys


def _in_polygon(x: np.ndarray, y: np.ndarray, poly: list[np.ndarray]) -> np.ndarray:
    inside = np.zeros(len(x), dtype=bool)
    n = len(poly)
    for k in range(n):
        (xa, ya), (xb, yb) = poly[k], poly[(k + 1) % n]
        cond = (ya > y) != (yb > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            xi = (xb - xa) * (y - ya) / (yb - ya) + xa
        inside ^= cond & (x < xi)
    return inside


def _street_names(rng: np.random.Generator, n: int) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < n:
        w = _WORDS[int(rng.integers(0, len(_WORDS)))]
        s = _SUFFIX[int(rng.integers(0, len(_SUFFIX)))]
        name = f"{w} {s}"
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def build_borough(p: Params, rng: np.random.Generator) -> Borough:
    w, h = float(p.width_m), float(p.height_m)
    x0, y0 = p.centre_e - w / 2, p.centre_n - h / 2
    ny, nx = int(h // CELL_M), int(w // CELL_M)
    cy, cx = (np.arange(ny) + 0.5) * CELL_M, (np.arange(nx) + 0.5) * CELL_M
    gx, gy = np.meshgrid(cx, cy)
    zone = np.zeros((ny, nx), dtype=np.int8)
    # High streets: cells on two main roads near the centre, plus the town centre.
    art_x = np.arange(ARTERIAL_M // 2, w, ARTERIAL_M)
    art_y = np.arange(ARTERIAL_M // 2, h, ARTERIAL_M)
    hs_x = art_x[len(art_x) // 2]
    hs_y = art_y[len(art_y) // 2]
    commercial = ((np.abs(gx - hs_x) < 150) & (np.abs(gy - h / 2) < h * 0.35)) | (
        (np.abs(gy - hs_y) < 150) & (np.abs(gx - w / 2) < w * 0.3)
    )
    centres = [(hs_x, hs_y)] + [
        (float(rng.uniform(0.15, 0.85) * w), float(rng.uniform(0.15, 0.85) * h)) for _ in range(2)
    ]
    for cxx, cyy in centres:
        commercial |= (gx - cxx) ** 2 + (gy - cyy) ** 2 < 350**2
    zone[commercial] = 1
    for cxx, cyy in [
        *centres[:2],
        (float(rng.uniform(0.2, 0.8) * w), float(rng.uniform(0.2, 0.8) * h)),
    ]:
        zone[(gx - cxx) ** 2 + (gy - cyy) ** 2 < 250**2] = 2
    n_parks = max(1, nx * ny // 60)
    for _ in range(n_parks):
        i, j = int(rng.integers(0, ny)), int(rng.integers(0, nx))
        zone[i : i + 2, j : j + 2] = np.where(
            zone[i : i + 2, j : j + 2] == 0, 3, zone[i : i + 2, j : j + 2]
        )

    # Neighbourhoods: a lattice of about 1.2 km cells with jittered inner vertices.
    hx = max(2, round(w / 1200))
    hy = max(2, round(h / 1200))
    vx = np.linspace(x0, x0 + w, hx + 1)
    vy = np.linspace(y0, y0 + h, hy + 1)
    verts = np.stack(np.meshgrid(vx, vy), axis=-1).astype(float)
    jit = rng.uniform(-0.18, 0.18, size=verts.shape) * np.array([w / hx, h / hy])
    jit[0, :, 1] = jit[-1, :, 1] = 0
    jit[:, 0, 0] = jit[:, -1, 0] = 0
    jit[0, :, 0] = jit[-1, :, 0] = 0
    jit[:, 0, 1] = jit[:, -1, 1] = 0
    verts += jit
    n_h = hx * hy
    names = [
        _HOOD[k % len(_HOOD)] + ("" if k < len(_HOOD) else f" {k // len(_HOOD) + 1}")
        for k in rng.permutation(max(n_h, len(_HOOD)))[:n_h]
    ]

    streets = _street_names(rng, int(h // STREET_M) + int(w // STREET_M) + 2)
    street_h = streets[: int(h // STREET_M) + 1]
    street_v = streets[int(h // STREET_M) + 1 :]
    for k, a in enumerate(art_y):
        street_h[int(a // STREET_M)] = (
            "High Street" if a == hs_y else f"{_WORDS[(k * 7) % len(_WORDS)]} Road"
        )
    for k, a in enumerate(art_x):
        street_v[int(a // STREET_M)] = f"{_WORDS[(k * 11 + 3) % len(_WORDS)]} Hill"

    # Cameras on main roads: spread along them, more near junctions and the centre.
    n = p.cameras
    axis = rng.integers(0, 2, n)
    line_x = rng.choice(art_x, n)
    line_y = rng.choice(art_y, n)
    along_x = rng.uniform(0.05, 0.95, n) * w
    along_y = rng.uniform(0.05, 0.95, n) * h
    near_junction = rng.random(n) < 0.4
    along_x = np.where(near_junction, rng.choice(art_x, n) + rng.normal(0, 40, n), along_x)
    along_y = np.where(near_junction, rng.choice(art_y, n) + rng.normal(0, 40, n), along_y)
    cam_x = x0 + np.where(axis == 0, line_x, np.clip(along_x, 10, w - 10))
    cam_y = y0 + np.where(axis == 0, np.clip(along_y, 10, h - 10), line_y)
    cam_dir = np.where(
        axis == 0, rng.choice(np.array(["N", "S"]), n), rng.choice(np.array(["E", "W"]), n)
    )
    road = [
        street_v[int((cx_ - x0) // STREET_M)] if a == 0 else street_h[int((cy_ - y0) // STREET_M)]
        for cx_, cy_, a in zip(cam_x, cam_y, axis, strict=False)
    ]
    word = {"N": "northbound", "S": "southbound", "E": "eastbound", "W": "westbound"}
    cam_name = np.array(
        [f"{r} {word[d]}" for r, d in zip(road, cam_dir, strict=False)], dtype=object
    )
    return Borough(
        x0,
        y0,
        w,
        h,
        zone,
        verts,
        names,
        street_h,
        street_v,
        np.round(cam_x),
        np.round(cam_y),
        axis,
        cam_dir,
        cam_name,
    )


__all__ = [
    "ARTERIAL_M",
    "BOROUGH",
    "CELL_M",
    "FORCE",
    "STREET_M",
    "Borough",
    "build_borough",
    "to_wgs84",
]
