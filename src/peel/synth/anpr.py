"""ANPR: camera sites, the trips vehicles make and the reads cameras take of them.

Every vehicle has a few fixed routes (home to work, home to errand places and back, or across
the borough for through traffic). A route follows the main roads: along the north-south road
nearest the start, then the east-west road nearest the destination, and it passes the cameras
on those stretches that face its direction of travel. Routes are computed once; each day draws
trips per vehicle (commutes on weekdays, errands, taxi and van rounds, buses, visits by through
traffic) and expands them into reads, vectorised, one day at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from peel.synth.geo import Borough
from peel.synth.params import Params
from peel.synth.population import Addresses, People
from peel.synth.vehicles import KIND, Vehicles

LONDON = ZoneInfo("Europe/London")

# Trip start hour profiles (local time), 24 weights each.
_H_COMMUTE_OUT = np.array(
    [0, 0, 0, 0, 0, 1, 3, 10, 14, 6, 2, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0], float
)
_H_COMMUTE_BACK = np.array(
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 4, 8, 12, 10, 5, 2, 1, 1, 0], float
)
_H_ERRAND = np.array(
    [1, 0.5, 0.3, 0.2, 0.2, 0.5, 1, 2, 3, 4, 5, 6, 6, 6, 6, 6, 6, 6, 5, 4, 3, 2, 2, 1.5], float
)
_H_ALL = np.array([3, 2, 1.5, 1, 1, 2, 4, 6, 7, 6, 6, 6, 6, 6, 6, 6, 7, 7, 6, 6, 5, 5, 4, 4], float)
_DOW = np.array([1.0, 1.0, 1.02, 1.05, 1.15, 1.1, 0.8])  # Monday..Sunday errand factor

# Characters OCR confuses (both ways).
_CONFUSE = {
    "0": "O",
    "O": "0",
    "1": "I",
    "I": "1",
    "5": "S",
    "S": "5",
    "8": "B",
    "B": "8",
    "2": "Z",
    "Z": "2",
    "6": "G",
    "G": "6",
    "D": "0",
    "Q": "O",
    "M": "N",
    "N": "M",
    "U": "V",
    "V": "U",
    "H": "N",
    "E": "F",
    "F": "E",
    "C": "G",
    "K": "X",
    "X": "K",
}


@dataclass
class Routes:
    ptr: np.ndarray  # route r covers cams[ptr[r]:ptr[r+1]]
    cams: np.ndarray
    dist: np.ndarray  # metres from the start of the route to each camera
    vehicle_first: np.ndarray  # first route index of each vehicle
    vehicle_count: np.ndarray


def utc_offset_seconds(day: np.datetime64) -> int:
    d = datetime.fromisoformat(str(day)) + timedelta(hours=12)
    off = d.replace(tzinfo=LONDON).utcoffset()
    return int(off.total_seconds()) if off else 0


def _line_index(lines: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Index of the nearest of the evenly spaced main-road lines to each value."""
    step = float(lines[1] - lines[0]) if len(lines) > 1 else 1.0
    return np.clip(np.round((v - lines[0]) / step).astype(np.int64), 0, len(lines) - 1)


def _in_ranges(
    line_of_route: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    cam_line: np.ndarray,
    cam_pos: np.ndarray,
    cams: np.ndarray,
    descending: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(route, camera) for the cameras on each route's line between lo and hi: cameras are
    sorted by (line, position), so each route's cameras are one contiguous run found by
    binary search, and only the cameras passed are ever materialised."""
    key = cam_line[cams].astype(np.float64) * 1e8 + cam_pos[cams]
    order = np.argsort(key, kind="stable")
    skey, scam = key[order], cams[order]
    base = line_of_route.astype(np.float64) * 1e8
    a = np.searchsorted(skey, base + lo, side="left")
    z = np.searchsorted(skey, base + hi, side="right")
    cnt = (z - a).astype(np.int64)
    total = int(cnt.sum())
    route = np.repeat(np.arange(len(line_of_route)), cnt)
    offs = np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    # In the order of travel: runs of routes going down the line are read backwards.
    offs = np.where(np.repeat(descending, cnt), np.repeat(cnt, cnt) - 1 - offs, offs)
    return route, scam[np.repeat(a, cnt) + offs]


def _route_cameras(
    b: Borough, ox: np.ndarray, oy: np.ndarray, dx: np.ndarray, dy: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(route index, camera, distance) for every camera each route passes."""
    ix = _line_index(b.arterial_x, ox)
    iy = _line_index(b.arterial_y, dy)
    ax, by = b.arterial_x[ix], b.arterial_y[iy]
    cam_ix = _line_index(b.arterial_x, b.cam_x)
    cam_iy = _line_index(b.arterial_y, b.cam_y)
    code = {"N": 0, "S": 1, "E": 2, "W": 3}
    cdir = np.array([code[str(x)] for x in b.cam_dir], dtype=np.int8)
    # North-south leg: along the road at ax from oy to by, read by cameras facing that way.
    north = by > oy
    r1, c1 = _in_ranges(
        ix,
        np.minimum(oy, by),
        np.maximum(oy, by),
        cam_ix,
        b.cam_y,
        np.flatnonzero(b.cam_axis == 0),
        ~north,
    )
    ok1 = cdir[c1] == np.where(north[r1], 0, 1)
    r1, c1 = r1[ok1], c1[ok1]
    d1 = np.abs(ox - ax)[r1] + np.abs(b.cam_y[c1] - oy[r1])
    # East-west leg: along the road at by from ax to dx.
    east = dx > ax
    r2, c2 = _in_ranges(
        iy,
        np.minimum(ax, dx),
        np.maximum(ax, dx),
        cam_iy,
        b.cam_x,
        np.flatnonzero(b.cam_axis == 1),
        ~east,
    )
    ok2 = cdir[c2] == np.where(east[r2], 2, 3)
    r2, c2 = r2[ok2], c2[ok2]
    d2 = (np.abs(ox - ax) + np.abs(by - oy))[r2] + np.abs(b.cam_x[c2] - ax[r2])
    r = np.concatenate([r1, r2])
    c = np.concatenate([c1, c2])
    d = np.concatenate([d1, d2])
    # Each leg is grouped by route and in travel order, and the first leg comes first: a
    # stable sort by route (a linear merge of two sorted runs) gives every route's cameras in
    # the order it passes them.
    order = np.argsort(r, kind="stable")
    return r[order], c[order], d[order]


def build_routes(
    p: Params, b: Borough, people: People, addr: Addresses, veh: Vehicles, rng: np.random.Generator
) -> Routes:
    n = len(veh)
    kind = veh.kind
    home_x = np.where(
        veh.home_person >= 0, addr.x[people.address[np.maximum(veh.home_person, 0)]], b.x0
    )
    home_y = np.where(
        veh.home_person >= 0, addr.y[people.address[np.maximum(veh.home_person, 0)]], b.y0
    )
    comm = np.flatnonzero(b.zone.ravel() == 1)
    nxc = b.zone.shape[1]

    def commercial_points(k: int) -> tuple[np.ndarray, np.ndarray]:
        c = rng.choice(comm, k)
        return b.x0 + (c % nxc + rng.random(k)) * 250, b.y0 + (c // nxc + rng.random(k)) * 250

    def boundary_points(k: int) -> tuple[np.ndarray, np.ndarray]:
        side = rng.integers(0, 4, k)
        t = rng.random(k)
        x = np.where(
            side < 2, b.x0 + t * b.width, np.where(side == 2, b.x0 - 200, b.x0 + b.width + 200)
        )
        y = np.where(
            side >= 2, b.y0 + t * b.height, np.where(side == 0, b.y0 - 200, b.y0 + b.height + 200)
        )
        return x, y

    # Anchors per vehicle: home, work (in the borough or beyond it), three errand places.
    per = 8
    wx, wy = commercial_points(n)
    bx, by_ = boundary_points(n)
    away = rng.random(n) < 0.5
    wx, wy = np.where(away, bx, wx), np.where(away, by_, wy)
    ex, ey = commercial_points(n * 3)
    ex, ey = ex.reshape(n, 3), ey.reshape(n, 3)
    # Residents outside the borough (through traffic, buses) come in from the boundary.
    outside = (kind == KIND["through"]) | (kind == KIND["bus"]) | (kind == KIND["hire"])
    hx, hy = boundary_points(n)
    home_x = np.where(outside, hx, home_x)
    home_y = np.where(outside, hy, home_y)
    ox = np.empty((n, per))
    oy = np.empty((n, per))
    dx = np.empty((n, per))
    dy = np.empty((n, per))
    ox[:, 0], oy[:, 0], dx[:, 0], dy[:, 0] = home_x, home_y, wx, wy
    ox[:, 1], oy[:, 1], dx[:, 1], dy[:, 1] = wx, wy, home_x, home_y
    for k in range(3):
        ox[:, 2 + 2 * k], oy[:, 2 + 2 * k], dx[:, 2 + 2 * k], dy[:, 2 + 2 * k] = (
            home_x,
            home_y,
            ex[:, k],
            ey[:, k],
        )
        ox[:, 3 + 2 * k], oy[:, 3 + 2 * k], dx[:, 3 + 2 * k], dy[:, 3 + 2 * k] = (
            ex[:, k],
            ey[:, k],
            home_x,
            home_y,
        )
    # Taxis, vans and hire cars roam: their routes join random places.
    roam = (kind == KIND["taxi"]) | (kind == KIND["van"]) | (kind == KIND["hire"])
    rx, ry = commercial_points(n * per)
    ox[roam] = rx.reshape(n, per)[roam]
    oy[roam] = ry.reshape(n, per)[roam]
    # Buses run end to end along one main road and back.
    buses = np.flatnonzero(kind == KIND["bus"])
    for i, v in enumerate(buses):
        if i % 2 == 0:
            x = b.arterial_x[i // 2 % len(b.arterial_x)]
            pts = [(x, b.y0 - 100), (x, b.y0 + b.height + 100)]
        else:
            y = b.arterial_y[i // 2 % len(b.arterial_y)]
            pts = [(b.x0 - 100, y), (b.x0 + b.width + 100, y)]
        for k in range(per):
            src_pt, dst_pt = pts[k % 2], pts[(k + 1) % 2]
            ox[v, k], oy[v, k], dx[v, k], dy[v, k] = src_pt[0], src_pt[1], dst_pt[0], dst_pt[1]
    flat = [a.ravel() for a in (ox, oy, dx, dy)]
    rs, cs, ds = [], [], []
    step = 500_000
    for s in range(0, n * per, step):
        r, c, d = _route_cameras(b, *(a[s : s + step] for a in flat))
        rs.append(r + s)
        cs.append(c)
        ds.append(d)
    r = np.concatenate(rs)
    c = np.concatenate(cs)
    d = np.concatenate(ds)
    counts = np.bincount(r, minlength=n * per)
    ptr = np.concatenate([[0], np.cumsum(counts)])
    return Routes(
        ptr, c.astype(np.int32), d.astype(np.float32), np.arange(n) * per, np.full(n, per)
    )


def day_trips(
    p: Params, veh: Vehicles, day: np.datetime64, rng: np.random.Generator, factor: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vehicle, route, start time in local seconds of the day) of one day's ordinary trips."""
    n = len(veh)
    dow = int((day.astype("datetime64[D]").astype(int) + 3) % 7)  # 0 = Monday
    weekday = dow < 5
    kind = veh.kind
    active = np.ones(n, bool)
    stolen = ~np.isnat(veh.stolen_on) & (veh.stolen_on <= day)
    vs, rs, ts = [], [], []

    def add(v: np.ndarray, r: np.ndarray, hours: np.ndarray) -> None:
        h = rng.choice(24, size=len(v), p=hours / hours.sum())
        vs.append(v)
        rs.append(r)
        ts.append(h * 3600 + rng.integers(0, 3600, len(v)))

    cars = np.flatnonzero(((kind == KIND["car"]) | (kind == KIND["van"])) & active & ~stolen)
    if weekday:
        commuters = cars[(cars * 2654435761 % 1000) < p.anpr.commute_share * 1000]
        # The calibration factor scales commutes too (capped: nobody commutes twice a day).
        go = commuters[rng.random(len(commuters)) < min(0.95, 0.8 * factor)]
        add(go, np.zeros(len(go), int), _H_COMMUTE_OUT)
        add(go, np.ones(len(go), int), _H_COMMUTE_BACK)
    k = rng.poisson(p.anpr.errands_per_day * _DOW[dow] * factor, len(cars))
    ev = np.repeat(cars, k)
    which = rng.integers(0, 3, len(ev))
    h = rng.choice(24, size=len(ev), p=_H_ERRAND / _H_ERRAND.sum())
    t_out = h * 3600 + rng.integers(0, 3600, len(ev))
    vs += [ev, ev]
    rs += [2 + 2 * which, 3 + 2 * which]
    ts += [t_out, np.minimum(t_out + rng.integers(1200, 4 * 3600, len(ev)), 86399)]
    for kd, per_day, hours in (
        (KIND["taxi"], 9.0, _H_ALL),
        (KIND["hire"], 1.5, _H_ERRAND),
        (KIND["bus"], 16.0, _H_ALL),
    ):
        vv = np.flatnonzero(kind == kd)
        kk = rng.poisson(per_day * (factor if kd != KIND["bus"] else 1.0), len(vv))
        ev = np.repeat(vv, kk)
        add(ev, rng.integers(0, 8, len(ev)), hours)
    thr = np.flatnonzero(kind == KIND["through"])
    visit = thr[rng.random(len(thr)) < min(1.0, p.anpr.through_visit * factor * _DOW[dow])]
    add(visit, rng.integers(0, 2, len(visit)), _H_ALL)
    # Stolen vehicles: driven at night, anywhere.
    sv = np.flatnonzero(stolen & (rng.random(n) < 0.5))
    add(sv, rng.integers(0, 8, len(sv)), _H_ALL[::-1].copy())
    return np.concatenate(vs), np.concatenate(rs), np.concatenate(ts)


def expand(
    routes: Routes,
    vehicle: np.ndarray,
    route: np.ndarray,
    start: np.ndarray,
    speed: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reads (vehicle, camera, seconds) of trips, with camera misses left to the caller."""
    rid = routes.vehicle_first[vehicle] + route
    a, z = routes.ptr[rid], routes.ptr[rid + 1]
    cnt = z - a
    total = int(cnt.sum())
    if total == 0:
        e = np.zeros(0, np.int64)
        return e, e.astype(np.int32), e
    trip = np.repeat(np.arange(len(vehicle)), cnt)
    offs = np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    idx = np.repeat(a, cnt) + offs
    pace = rng.uniform(0.7, 1.6, len(vehicle))[trip]
    t = start[trip] + (routes.dist[idx] / speed * pace).astype(np.int64)
    return vehicle[trip], routes.cams[idx], t


def misread(rng: np.random.Generator, plate: str) -> str:
    chars = list(plate)
    spots = [i for i, ch in enumerate(chars) if ch in _CONFUSE]
    if not spots:
        i = int(rng.integers(0, len(chars)))
        if chars[i] != " ":
            chars[i] = "X" if chars[i] != "X" else "K"
        return "".join(chars)
    i = spots[int(rng.integers(0, len(spots)))]
    chars[i] = _CONFUSE[chars[i]]
    return "".join(chars)


def days(p: Params) -> Iterator[np.datetime64]:
    d0 = np.datetime64(p.start, "D")
    end = np.datetime64(p.start, "M") + np.timedelta64(p.months, "M")
    d = d0
    while d < end.astype("datetime64[D]"):
        yield d
        d = d + np.timedelta64(1, "D")


def epoch(day: np.datetime64) -> int:
    return int(day.astype("datetime64[s]").astype(np.int64))


__all__ = [
    "LONDON",
    "Routes",
    "build_routes",
    "day_trips",
    "days",
    "epoch",
    "expand",
    "misread",
    "utc_offset_seconds",
]
