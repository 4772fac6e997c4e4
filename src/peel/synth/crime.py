"""Crime: background crime with season, week and hour cycles, overdispersed weekly counts,
near-repeat contagion and multi-victim incidents; crime series with consistent but not identical
M.O.; planted flare-ups. Every planted pattern is returned for `truth/`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from peel.synth.geo import CELL_M, Borough
from peel.synth.params import Params
from peel.synth.population import Addresses, People
from peel.synth.vehicles import KIND, Vehicles

DAY = 86400


@dataclass(frozen=True)
class CrimeType:
    share: float
    hours: tuple[float, ...]
    zones: tuple[float, float, float, float]  # residential, commercial, night-time, park
    window_h: tuple[float, float]  # log-uniform committed window, hours
    premises: tuple[str, ...]
    mo: tuple[str, ...]
    ho_code: str
    label: str


_NIGHT = (6, 5, 4, 3, 2, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 4, 4, 5, 6, 7)
_DAYT = (0.5, 0.3, 0.2, 0.2, 0.2, 0.3, 1, 2, 3, 4, 5, 6, 6, 6, 6, 6, 6, 5, 4, 3, 2, 1.5, 1, 0.7)
_EVE = (3, 2, 1, 1, 0.5, 0.5, 1, 2, 3, 3, 3, 4, 4, 4, 4, 5, 6, 6, 6, 6, 5, 5, 4, 4)

# Shares: an approximate London mix without anti-social behaviour (a parameter, compared in
# docs/synth.md with the police.uk reference computed from real files).
TYPES: dict[str, CrimeType] = {
    "violence-and-sexual-offences": CrimeType(
        0.31,
        _EVE,
        (1, 2, 4, 0.5),
        (1, 3),
        ("street", "dwelling-flat", "dwelling-house", "licensed-premises", "public-transport"),
        ("violence-used", "weapon-shown"),
        "8N",
        "Violence and sexual offences",
    ),
    "other-theft": CrimeType(
        0.13,
        _DAYT,
        (0.4, 3, 2, 0.5),
        (1, 8),
        ("shop", "street", "public-transport", "office", "licensed-premises"),
        ("distraction",),
        "49",
        "Other theft",
    ),
    "vehicle-crime": CrimeType(
        0.12,
        _NIGHT,
        (3, 1, 1, 0.2),
        (3, 16),
        ("street", "car-park"),
        ("relay-attack", "catalytic-converter", "glass-broken", "keys-taken", "plates-removed"),
        "48",
        "Vehicle crime",
    ),
    "burglary": CrimeType(
        0.07,
        _DAYT,
        (4, 1, 0.5, 0),
        (1, 168),
        ("dwelling-house", "dwelling-flat", "outbuilding", "shop", "office"),
        (
            "forced-entry",
            "insecure-entry",
            "front-entry",
            "rear-entry",
            "window-entry",
            "lock-snapping",
            "pry-tool",
            "glass-broken",
            "search-untidy",
            "search-tidy",
            "occupants-present",
        ),
        "28E",
        "Burglary",
    ),
    "theft-from-the-person": CrimeType(
        0.06,
        _EVE,
        (0.3, 3, 3, 0.5),
        (1, 2),
        ("street", "public-transport", "licensed-premises"),
        ("phone-snatch", "moped-enabled", "distraction"),
        "39",
        "Theft from the person",
    ),
    "shoplifting": CrimeType(
        0.06, _DAYT, (0.1, 5, 1, 0), (1, 2), ("shop",), ("distraction",), "46", "Shoplifting"
    ),
    "criminal-damage-and-arson": CrimeType(
        0.07,
        _NIGHT,
        (2, 1, 2, 1),
        (1, 24),
        ("street", "dwelling-house", "vehicle", "shop", "park"),
        ("glass-broken",),
        "58",
        "Criminal damage and arson",
    ),
    "public-order": CrimeType(
        0.07,
        _EVE,
        (1, 2, 4, 0.5),
        (1, 2),
        ("street", "licensed-premises", "public-transport"),
        ("violence-used",),
        "9",
        "Public order",
    ),
    "robbery": CrimeType(
        0.035,
        _EVE,
        (0.7, 2, 3, 1),
        (1, 2),
        ("street", "shop", "park"),
        ("phone-snatch", "weapon-shown", "moped-enabled", "violence-used"),
        "34B",
        "Robbery",
    ),
    "drugs": CrimeType(
        0.045, _EVE, (1, 1, 3, 2), (1, 1.5), ("street", "park", "vehicle"), (), "92D", "Drugs"
    ),
    "bicycle-theft": CrimeType(
        0.025, _DAYT, (1, 3, 1, 1), (1, 12), ("street", "outbuilding"), (), "44", "Bicycle theft"
    ),
    "possession-of-weapons": CrimeType(
        0.012,
        _EVE,
        (1, 1, 3, 1),
        (1, 1.5),
        ("street",),
        ("weapon-shown",),
        "10C",
        "Possession of weapons",
    ),
    "other-crime": CrimeType(
        0.015, _DAYT, (1, 1, 1, 0.2), (1, 48), ("other", "office"), (), "99", "Other crime"
    ),
}
TYPE_NAMES = list(TYPES)
_SEASON_PEAK = {
    "burglary": 0.9,
    "vehicle-crime": 0.85,
    "violence-and-sexual-offences": 0.5,
    "public-order": 0.5,
    "bicycle-theft": 0.5,
    "theft-from-the-person": 0.9,
}
_DOW = np.array([0.95, 0.95, 0.97, 1.0, 1.1, 1.15, 0.9])

_PROPERTY = {
    "burglary": [
        "laptop",
        "jewellery",
        "cash",
        "games console",
        "watch",
        "handbag",
        "tablet",
        "car keys",
        "passport",
        "bicycle",
        "power tools",
        "television",
    ],
    "vehicle-crime": [
        "catalytic converter",
        "satnav",
        "car",
        "tools",
        "number plates",
        "dashcam",
        "handbag",
        "laptop bag",
    ],
    "robbery": ["mobile phone", "cash", "bank cards", "watch", "bag"],
    "theft-from-the-person": ["mobile phone", "wallet", "purse", "bag"],
    "other-theft": ["mobile phone", "bag", "wallet", "laptop", "parcel"],
    "shoplifting": ["groceries", "alcohol", "cosmetics", "clothing", "razor blades"],
    "bicycle-theft": ["bicycle", "e-bike"],
}

# Narrative pieces: the same facts said many ways.
_ENTRY = {
    "forced-entry": [
        "door forced",
        "entry forced",
        "frame damaged to force the door",
        "door kicked in",
    ],
    "rear-entry": ["via the rear", "through the back garden", "at the rear of the property"],
    "front-entry": ["through the front door", "at the front"],
    "window-entry": ["through a window", "via a ground-floor window", "window levered"],
    "lock-snapping": ["euro cylinder lock snapped", "lock snapped", "cylinder snapped"],
    "pry-tool": ["using a flat tool", "with a screwdriver-type implement", "jemmy marks seen"],
    "glass-broken": ["glass smashed", "pane broken", "window broken"],
    "search-untidy": ["rooms ransacked", "drawers emptied", "untidy search"],
    "search-tidy": ["tidy search", "little disturbed", "searched carefully"],
    "insecure-entry": ["door left unlocked", "insecure window used", "insecure entry"],
    "occupants-present": ["while the occupants slept", "occupants at home"],
    "relay-attack": [
        "keyless car taken by relay",
        "no keys taken, car driven away",
        "relay device suspected",
    ],
    "catalytic-converter": ["catalytic converter cut off", "cat removed with an angle grinder"],
    "keys-taken": ["keys taken from the hallway", "car keys stolen"],
    "plates-removed": ["number plates taken", "plates removed"],
    "phone-snatch": ["phone snatched", "phone grabbed from hand"],
    "moped-enabled": ["suspects on a moped", "two up on a scooter"],
    "weapon-shown": ["knife shown", "weapon produced"],
    "violence-used": ["victim punched", "victim pushed to the ground", "assaulted"],
    "distraction": ["victim distracted", "distraction used"],
    "vehicle-used": ["vehicle seen nearby", "suspects left in a car"],
    "lookout": ["a second suspect kept watch", "lookout seen"],
}
_OPEN = [
    "Victim reports",
    "Informant states",
    "Caller reports",
    "Reported that",
    "IP states",
    "On return home victim found",
    "",
]


@dataclass
class Crimes:
    ctype: np.ndarray
    x: np.ndarray
    y: np.ndarray
    t_from: np.ndarray  # local time, seconds since 1970 (naive)
    t_to: np.ndarray
    reported: np.ndarray
    premises: np.ndarray
    mo_codes: np.ndarray
    mo_text: np.ndarray
    property: np.ndarray
    series: np.ndarray
    offender: np.ndarray  # true offender person (-1: unknown to anyone)
    victim: np.ndarray
    flare: np.ndarray
    incident: np.ndarray
    ref: np.ndarray = field(default_factory=lambda: np.zeros(0, object))

    def __len__(self) -> int:
        return len(self.ctype)


@dataclass
class Series:
    ctype: list[str] = field(default_factory=list)
    offender: list[int] = field(default_factory=list)
    co_offender: list[int] = field(default_factory=list)
    vehicle: list[int] = field(default_factory=list)  # true vehicle used
    plate: list[str] = field(default_factory=list)  # plate cameras read
    how: list[str] = field(default_factory=list)  # own, clone, hire, none
    near_home: list[bool] = field(default_factory=list)
    mo_core: list[str] = field(default_factory=list)


@dataclass
class Planted:
    """Reads planted for series trips: vehicle whose routes to use, or a plate on a camera."""

    plate: list[str] = field(default_factory=list)
    camera: list[int] = field(default_factory=list)
    t_utc: list[int] = field(default_factory=list)
    crime: list[int] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)  # "series" or "decoy"


def _season(ctype: str, day_of_year: np.ndarray) -> np.ndarray:
    peak = _SEASON_PEAK.get(ctype, 0.6)
    return 1 + 0.15 * np.cos(2 * np.pi * (day_of_year / 365.0 - peak))


def _mo_text(rng: np.random.Generator, codes: list[str], prop: str) -> str:
    parts = []
    for c in codes:
        opts = _ENTRY.get(c)
        if opts:
            parts.append(opts[int(rng.integers(0, len(opts)))])
    rng.shuffle(parts)
    lead = _OPEN[int(rng.integers(0, len(_OPEN)))]
    body = ", ".join(parts) if parts else "no further detail"
    text = f"{lead} {body}".strip()
    if prop:
        text += f"; {prop} taken" if rng.random() < 0.7 else f". Stolen: {prop}"
    text = text[0].upper() + text[1:]
    return text + "." if rng.random() < 0.8 else text


def _points_in_hood(
    b: Borough,
    rng: np.random.Generator,
    hood: int,
    zones: tuple[float, ...],
    k: int,
    cache: dict[int, tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    if hood not in cache:
        ny, nx = b.zone.shape
        ii, jj = np.mgrid[0:ny, 0:nx]
        cx = b.x0 + (jj.ravel() + 0.5) * CELL_M
        cy = b.y0 + (ii.ravel() + 0.5) * CELL_M
        cells = np.flatnonzero(b.hood_at(cx, cy) == hood)
        cache[hood] = (cells, b.zone.ravel()[cells])
    cells, z = cache[hood]
    w = np.array(zones)[z] + 1e-3
    c = rng.choice(cells, size=k, p=w / w.sum())
    nx = b.zone.shape[1]
    return b.x0 + (c % nx + rng.random(k)) * CELL_M, b.y0 + (c // nx + rng.random(k)) * CELL_M


def _window(rng: np.random.Generator, t: CrimeType, k: int) -> np.ndarray:
    lo, hi = np.log(t.window_h[0]), np.log(t.window_h[1])
    return (np.exp(rng.uniform(lo, hi, k)) * 3600).astype(np.int64)


def build_crimes(
    p: Params, b: Borough, people: People, addr: Addresses, veh: Vehicles, rng: np.random.Generator
) -> tuple[Crimes, Series, list[dict], Planted]:
    start = int(np.datetime64(p.start, "s").astype(np.int64))
    n_days = int(
        (np.datetime64(p.start, "M") + np.timedelta64(p.months, "M"))
        .astype("datetime64[D]")
        .astype(int)
        - np.datetime64(p.start, "D").astype(int)
    )
    n_weeks = n_days // 7
    n_hoods = len(b.hood_names)
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    # Each neighbourhood's weight for each type, from its zone mix.
    ny, nx = b.zone.shape
    ii, jj = np.mgrid[0:ny, 0:nx]
    cell_hood = b.hood_at(b.x0 + (jj.ravel() + 0.5) * CELL_M, b.y0 + (ii.ravel() + 0.5) * CELL_M)
    cell_zone = b.zone.ravel()
    rows: dict[str, list] = {
        k: []
        for k in ("ctype", "x", "y", "t_from", "t_to", "premises", "series", "flare", "incident")
    }
    expected = np.zeros((len(TYPES), n_hoods, n_weeks))

    def add(
        ct: int,
        x: np.ndarray,
        y: np.ndarray,
        t_mid: np.ndarray,
        series: int = -1,
        flare: int = -1,
        incident: np.ndarray | None = None,
    ) -> None:
        t = TYPES[TYPE_NAMES[ct]]
        k = len(x)
        w = _window(rng, t, k)
        before = (w * rng.uniform(0.1, 0.9, k)).astype(np.int64)
        rows["ctype"].append(np.full(k, ct))
        rows["x"].append(x)
        rows["y"].append(y)
        rows["t_from"].append(t_mid - before)
        rows["t_to"].append(t_mid - before + w)
        rows["premises"].append(rng.choice(np.array(t.premises), k))
        rows["series"].append(np.full(k, series))
        rows["flare"].append(np.full(k, flare))
        rows["incident"].append(incident if incident is not None else np.full(k, -1))

    def times(ct: int, day: np.ndarray) -> np.ndarray:
        h = np.array(TYPES[TYPE_NAMES[ct]].hours)
        hour = rng.choice(24, size=len(day), p=h / h.sum())
        return start + day * DAY + hour * 3600 + rng.integers(0, 3600, len(day))

    for ct, name in enumerate(TYPE_NAMES):
        t = TYPES[name]
        per_year = p.crimes * t.share
        zw = np.array(t.zones)[cell_zone] + 1e-3
        hood_w: np.ndarray = np.bincount(
            np.maximum(cell_hood, 0), weights=zw * (cell_hood >= 0), minlength=n_hoods
        )
        hood_w /= hood_w.sum()
        week_mid = np.arange(n_weeks) * 7 + 3
        lam = per_year / 52.0 * _season(name, week_mid)[None, :] * hood_w[:, None]
        expected[ct] = lam
        # Overdispersion: a borough-wide weekly effect (weather, events, school holidays) and
        # a local one, both gamma with mean 1, so weekly counts are negative binomial.
        g_week = rng.gamma(p.crime.dispersion, 1 / p.crime.dispersion, n_weeks)
        g = (
            rng.gamma(p.crime.dispersion * 2, 1 / (p.crime.dispersion * 2), lam.shape)
            * g_week[None, :]
        )
        counts = rng.poisson(lam * g)
        for h in range(n_hoods):
            wk = np.repeat(np.arange(n_weeks), counts[h])
            if not len(wk):
                continue
            dow = rng.choice(7, size=len(wk), p=_DOW / _DOW.sum())
            day = wk * 7 + dow
            x, y = _points_in_hood(b, rng, h, t.zones, len(wk), cache)
            tm = times(ct, day)
            if name in ("violence-and-sexual-offences", "robbery"):
                multi = rng.random(len(wk)) < p.crime.multi_victim
                if multi.any():
                    reps = np.where(multi, rng.integers(2, 5, len(wk)), 1)
                    inc = np.repeat(
                        np.where(multi, np.arange(len(wk)) + h * 10**6 + ct * 10**8, -1), reps
                    )
                    x, y, tm = np.repeat(x, reps), np.repeat(y, reps), np.repeat(tm, reps)
                    add(ct, x, y, tm, incident=inc)
                    continue
            add(ct, x, y, tm)
            # Near repeats: offspring close by within two weeks (two generations).
            if name in ("burglary", "vehicle-crime", "theft-from-the-person", "robbery"):
                px, py, pt = x, y, tm
                for _ in range(2):
                    kid = rng.random(len(px)) < p.crime.near_repeat
                    if not kid.any():
                        break
                    m = int(kid.sum())
                    ang = rng.uniform(0, 2 * np.pi, m)
                    r = rng.exponential(80, m)
                    px = np.clip(px[kid] + r * np.cos(ang), b.x0 + 5, b.x0 + b.width - 5)
                    py = np.clip(py[kid] + r * np.sin(ang), b.y0 + 5, b.y0 + b.height - 5)
                    pt = pt[kid] + rng.integers(1, 14, m) * DAY + rng.integers(-3, 3, m) * 3600
                    ok = pt < start + n_days * DAY
                    px, py, pt = px[ok], py[ok], pt[ok]
                    add(ct, px, py, pt)

    # Flare-ups: extra crimes in one neighbourhood for 1-4 weeks at 1.5x, 2x or 3x its rate.
    flares: list[dict] = []
    mults = p.crime.flare_multipliers
    # Pick (type, neighbourhood) pairs across the range of base rates.
    # Areas and types with enough crime for a flare-up to be told from noise (at least one a
    # week), spread over the range of base rates.
    cand = [
        (ct, h) for ct in range(len(TYPES)) for h in range(n_hoods) if expected[ct, h].mean() >= 1.0
    ]
    if len(cand) < p.flareups:
        flat = sorted(
            ((expected[ct, h].mean(), ct, h) for ct in range(len(TYPES)) for h in range(n_hoods)),
            reverse=True,
        )
        cand = [(ct, h) for _, ct, h in flat[: max(p.flareups, 1)]]
    cand.sort(key=lambda c: expected[c[0], c[1]].mean())
    if cand:
        # Spread over crime types (busiest first) and, within a type, over neighbourhoods from
        # the quietest to the busiest, so flare-ups sit on different base rates.
        by_type: dict[int, list[int]] = {}
        for ct_, h_ in cand:
            by_type.setdefault(ct_, []).append(h_)
        order_t = sorted(by_type, key=lambda c: -float(expected[c].sum()))
        chosen: list[tuple[int, int]] = []
        for fi in range(p.flareups):
            ct_ = order_t[fi % len(order_t)]
            hs = by_type[ct_]
            rnd = fi // len(order_t)
            pos = (
                [0, len(hs) - 1, len(hs) // 2][rnd % 3]
                if rnd < 3
                else int(rng.integers(0, len(hs)))
            )
            pair = (ct_, hs[pos])
            if pair in chosen:
                pair = (ct_, hs[int(rng.integers(0, len(hs)))])
            chosen.append(pair)
        for fi, (ct, h) in enumerate(chosen):
            weeks = int(rng.integers(p.crime.flare_weeks[0], p.crime.flare_weeks[1] + 1))
            w0 = int(rng.integers(min(10, n_weeks - weeks - 1), n_weeks - weeks))
            mult = float(mults[fi % len(mults)])
            base = float(expected[ct, h, w0 : w0 + weeks].sum())
            # A flare-up must add at least two crimes to be one: lengthen it, or move it to
            # the busiest candidate, when the area's rate is too low for its multiplier.
            while (mult - 1) * base < 2 and weeks < p.crime.flare_weeks[1]:
                weeks += 1
                w0 = min(w0, n_weeks - weeks - 1)
                base = float(expected[ct, h, w0 : w0 + weeks].sum())
            if (mult - 1) * base < 2:
                ct, h = cand[-1]
                base = float(expected[ct, h, w0 : w0 + weeks].sum())
            k = round((mult - 1) * base)  # the planted excess; the baseline varies
            day = w0 * 7 + rng.integers(0, weeks * 7, k)
            t = TYPES[TYPE_NAMES[ct]]
            cx, cy = _points_in_hood(b, rng, h, t.zones, 1, cache)
            x = np.clip(cx + rng.normal(0, 250, k), b.x0, b.x0 + b.width)
            y = np.clip(cy + rng.normal(0, 250, k), b.y0, b.y0 + b.height)
            add(ct, x, y, times(ct, day), flare=fi)
            flares.append(
                dict(
                    flare_id=fi,
                    crime_type=TYPE_NAMES[ct],
                    neighbourhood=b.hood_names[h],
                    neighbourhood_index=h,
                    start=str(np.datetime64(p.start, "D") + w0 * 7),
                    end=str(np.datetime64(p.start, "D") + (w0 + weeks) * 7 - 1),
                    weeks=weeks,
                    multiplier=mult,
                    baseline_expected=round(base, 3),
                    planted=k,
                )
            )

    series, planted = _series(
        p, b, people, addr, veh, rng, add, lambda: sum(len(a) for a in rows["x"]), start, n_days
    )
    cat = {k: np.concatenate(v) for k, v in rows.items()}
    n = len(cat["x"])
    order = np.lexsort((cat["y"], cat["x"], cat["t_from"]))
    cat = {k: v[order] for k, v in cat.items()}
    # Planted reads refer to crimes by position in `rows` before sorting: remap.
    inv = np.empty(n, np.int64)
    inv[order] = np.arange(n)
    planted.crime = [int(inv[c]) for c in planted.crime]
    ctype = np.array(TYPE_NAMES, dtype=object)[cat["ctype"]]
    mo_codes = np.empty(n, dtype=object)
    mo_text = np.empty(n, dtype=object)
    prop = np.empty(n, dtype=object)
    offender = np.full(n, -1, np.int64)
    s_of = cat["series"]
    for i in range(n):
        t = TYPES[ctype[i]]
        if s_of[i] >= 0:
            core = series.mo_core[s_of[i]].split(";")
            codes = [c for c in core if rng.random() < 0.8]
            if rng.random() < 0.3 and t.mo:
                codes.append(str(t.mo[int(rng.integers(0, len(t.mo)))]))
            offender[i] = series.offender[s_of[i]]
        else:
            k = int(rng.integers(0, min(3, len(t.mo)) + 1)) if t.mo else 0
            codes = list(rng.choice(np.array(t.mo), size=k, replace=False)) if k else []
        codes = list(dict.fromkeys(codes))
        items = _PROPERTY.get(ctype[i], [])
        pr = (
            ", ".join(
                rng.choice(
                    np.array(items), size=min(len(items), int(rng.integers(1, 3))), replace=False
                )
            )
            if items
            else ""
        )
        mo_codes[i] = ";".join(codes)
        mo_text[i] = _mo_text(rng, codes, pr)
        prop[i] = pr
    reported = cat["t_to"] + (rng.exponential(6, n) * 3600).astype(np.int64)
    victim = rng.integers(0, len(people), n)
    crimes = Crimes(
        ctype,
        cat["x"].round(),
        cat["y"].round(),
        cat["t_from"],
        cat["t_to"],
        reported,
        cat["premises"].astype(object),
        mo_codes,
        mo_text,
        prop,
        s_of,
        offender,
        victim,
        cat["flare"],
        cat["incident"],
    )
    # CRIS numbers: a sequence in time order with the year (nnnnnnn/yy).
    yy = p.start.year % 100
    crimes.ref = np.array([f"{5200000 + i:07d}/{yy:02d}" for i in range(n)], dtype=object)
    return crimes, series, flares, planted


def _series(
    p: Params,
    b: Borough,
    people: People,
    addr: Addresses,
    veh: Vehicles,
    rng: np.random.Generator,
    add: Callable[..., None],
    n_rows: Callable[[], int],
    start: int,
    n_days: int,
) -> tuple[Series, Planted]:
    s = Series()
    planted = Planted()
    kinds = [
        "burglary",
        "burglary",
        "burglary",
        "vehicle-crime",
        "vehicle-crime",
        "robbery",
        "theft-from-the-person",
        "burglary",
    ]
    drives = {
        int(v): int(d)
        for v, d in zip(
            np.flatnonzero(veh.kind == KIND["car"]),
            veh.home_person[veh.kind == KIND["car"]],
            strict=False,
        )
    }
    car_of: dict[int, int] = {}
    for v, d in drives.items():
        car_of.setdefault(d, v)
    offenders = np.flatnonzero(people.offender & people.resident)
    with_car = [o for o in offenders if int(o) in car_of]
    rng.shuffle(with_car)
    hires = np.flatnonzero(veh.kind == KIND["hire"])
    innocent = np.flatnonzero((veh.kind == KIND["car"]) & ~np.isin(veh.home_person, offenders))
    cams = np.stack([b.cam_x, b.cam_y], 1)
    used_plates: set[str] = set()
    # An exact share of series (not a coin per series) live near their crimes, so the share
    # holds at every scale.
    n_near = int(np.ceil(p.crime.series_near_home_share * p.series))
    near_home_set = set(rng.permutation(p.series)[:n_near].tolist())
    for si in range(p.series):
        ctype = kinds[si % len(kinds)]
        t = TYPES[ctype]
        off = int(with_car[si % max(1, len(with_car))]) if with_car else int(rng.choice(offenders))
        own = car_of.get(off, -1)
        u = rng.random()
        if u < p.crime.series_clone_share and own >= 0:
            how, vehicle = "clone", own
            donor = int(rng.choice(innocent))
            plate = str(veh.vrm[donor])
        elif u < p.crime.series_clone_share + p.crime.series_hire_share or own < 0:
            how, vehicle = "hire", int(rng.choice(hires))
            plate = str(veh.vrm[vehicle])
        else:
            how, vehicle, plate = "own", own, str(veh.vrm[own])
        if plate in used_plates:
            how, vehicle, plate = "own", own, str(veh.vrm[own]) if own >= 0 else plate
        used_plates.add(plate)
        co = int(rng.choice(offenders)) if rng.random() < 0.35 else -1
        k = int(rng.integers(p.crime.series_crimes[0], p.crime.series_crimes[1] + 1))
        span = int(rng.integers(21, 90))
        first = int(rng.integers(0, max(1, n_days - span)))
        day = np.sort(first + rng.choice(span, size=k, replace=False))
        hx, hy = addr.x[people.address[off]], addr.y[people.address[off]]
        near_home = si in near_home_set
        lo, hi = p.crime.series_read_share
        share = rng.uniform(lo, hi)
        # Within the configured share of the series' crimes (and at least two, at most all
        # but two).
        n_read = round(share * k)
        n_read = min(n_read, int(np.floor(hi * k)), k - 2)
        n_read = max(n_read, int(np.ceil(lo * k)), 2)
        with_read = np.zeros(k, bool)
        with_read[rng.choice(k, size=n_read, replace=False)] = True
        # A centre for the series: near home or elsewhere in the borough.
        if near_home:
            ccx, ccy = hx, hy
        else:
            ccx = b.x0 + rng.uniform(0.1, 0.9) * b.width
            ccy = b.y0 + rng.uniform(0.1, 0.9) * b.height
        xs, ys, cam_pick = np.empty(k), np.empty(k), np.full(k, -1)
        dcam = np.hypot(cams[:, 0] - ccx, cams[:, 1] - ccy)
        near_cams = np.argsort(dcam)[:4]
        for j in range(k):
            if with_read[j]:
                c = int(rng.choice(near_cams))
                ang = rng.uniform(0, 2 * np.pi)
                r = rng.uniform(30, 380)
                xs[j], ys[j] = cams[c, 0] + r * np.cos(ang), cams[c, 1] + r * np.sin(ang)
                cam_pick[j] = c
            else:
                # Away from every camera's 500 m circle where the borough allows it.
                for _ in range(30):
                    ang = rng.uniform(0, 2 * np.pi)
                    r = rng.uniform(100, 1000 if near_home else 900)
                    xx, yy = ccx + r * np.cos(ang), ccy + r * np.sin(ang)
                    if np.hypot(cams[:, 0] - xx, cams[:, 1] - yy).min() > 650:
                        break
                xs[j], ys[j] = xx, yy
        if near_home:  # at least two scenes within 1 km of home (scenes without a planted read)
            for j in np.flatnonzero(~with_read)[:2]:
                if np.hypot(xs[j] - hx, ys[j] - hy) > 950:
                    ang = rng.uniform(0, 2 * np.pi)
                    xs[j], ys[j] = hx + 600 * np.cos(ang), hy + 600 * np.sin(ang)
                    cam_pick[j] = -1
                    with_read[j] = False
        xs = np.clip(xs, b.x0 + 5, b.x0 + b.width - 5)
        ys = np.clip(ys, b.y0 + 5, b.y0 + b.height - 5)
        h = np.array(t.hours)
        hour = rng.choice(24, size=k, p=h / h.sum())
        tm = start + day * DAY + hour * 3600 + rng.integers(0, 3600, k)
        idx0 = n_rows()
        add(TYPE_NAMES.index(ctype), xs, ys, tm, series=si)
        core = (
            list(rng.choice(np.array(t.mo), size=min(3, len(t.mo)), replace=False)) if t.mo else []
        )
        if ctype in ("burglary", "vehicle-crime"):
            core.append("vehicle-used") if rng.random() < 0.3 else None
        s.ctype.append(ctype)
        s.offender.append(off)
        s.co_offender.append(co)
        s.vehicle.append(vehicle)
        s.plate.append(plate)
        s.how.append(how)
        s.near_home.append(near_home)
        s.mo_core.append(";".join(core))
        for j in np.flatnonzero(cam_pick >= 0).tolist():
            # A read at the camera near the scene close to the crime's middle time (local time
            # converted to UTC for the camera); the committed window is drawn around it later,
            # so the read is put within 20 minutes of the middle of the window.
            local = int(tm[j]) + int(rng.integers(-1200, 1200))
            planted.plate.append(plate)
            planted.camera.append(int(cam_pick[j]))
            planted.t_utc.append(local)  # converted to UTC by the writer
            planted.crime.append(idx0 + j)
            planted.kind.append("series")
        # Decoys: ordinary vehicles (taxis, vans, buses, local cars) that happen to pass the
        # cameras near two or more of the scenes within their windows. Busy roads make many by
        # chance; two to four are always made sure of, so every series has some.
        near = np.flatnonzero(cam_pick >= 0)
        pool = np.flatnonzero(
            np.isin(veh.kind, [KIND["taxi"], KIND["van"], KIND["bus"], KIND["car"]])
        )
        if len(near) >= 2 and len(pool):
            for dv in rng.choice(pool, size=int(rng.integers(2, 5)), replace=False):
                if str(veh.vrm[dv]) == plate:
                    continue
                for j in rng.choice(
                    near, size=min(len(near), int(rng.integers(2, 4))), replace=False
                ):
                    planted.plate.append(str(veh.vrm[dv]))
                    planted.camera.append(int(cam_pick[j]))
                    planted.t_utc.append(int(tm[j]) + int(rng.integers(-1500, 1500)))
                    planted.crime.append(idx0 + int(j))
                    planted.kind.append("decoy")
    return s, planted


__all__ = ["DAY", "TYPES", "TYPE_NAMES", "CrimeType", "Crimes", "Planted", "Series", "build_crimes"]
