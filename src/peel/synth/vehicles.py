"""Vehicles, plates and keepers: private cars, vans, taxis, buses, hire and company vehicles,
keepers that change during the year, stolen vehicles and cloned plates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from peel.synth.params import Params
from peel.synth.population import People

# Memory tags that DVLA never issues: the second letter is one of I, Q, Z (never used in a
# current-style local memory tag), so no synthetic plate can belong to a real vehicle.
_TAG1 = np.array(list("ABCDEFGHJKLMNOPRSTUVWXY"))
_TAG2 = np.array(list("IQZ"))
_RAND = np.array(list("ABCDEFGHJKLMNOPRSTUVWXYZ"))
_AGES = np.array([f"{a:02d}" for a in list(range(2, 25)) + list(range(51, 75))])

MAKES = [
    ("Ford", ["Fiesta", "Focus", "Kuga", "Puma", "Transit"]),
    ("Vauxhall", ["Corsa", "Astra", "Mokka", "Vivaro"]),
    ("Volkswagen", ["Golf", "Polo", "Tiguan", "Transporter"]),
    ("Toyota", ["Yaris", "Corolla", "Prius", "C-HR", "Auris"]),
    ("BMW", ["1 Series", "3 Series", "X1", "5 Series"]),
    ("Mercedes-Benz", ["A Class", "C Class", "E Class", "Sprinter"]),
    ("Nissan", ["Qashqai", "Micra", "Juke", "Leaf"]),
    ("Kia", ["Sportage", "Picanto", "Niro"]),
    ("Audi", ["A3", "A4", "Q3"]),
    ("Peugeot", ["208", "2008", "308"]),
    ("Hyundai", ["Tucson", "i10", "i20"]),
    ("Honda", ["Civic", "Jazz"]),
    ("Skoda", ["Octavia", "Fabia"]),
    ("Fiat", ["500", "Panda"]),
    ("Tesla", ["Model 3", "Model Y"]),
]
COLOURS = np.array(
    [
        "black",
        "blue",
        "grey",
        "silver",
        "white",
        "red",
        "green",
        "brown",
        "orange",
        "yellow",
        "maroon",
        "beige",
    ]
)
COLOUR_P = np.array([0.2, 0.14, 0.2, 0.13, 0.17, 0.08, 0.02, 0.015, 0.01, 0.005, 0.01, 0.01])
HIRE_COMPANIES = ["SWIFTLINE CAR HIRE LTD", "METRO VAN RENTAL LTD", "CITYWHEEL HIRE PLC"]
COMPANIES = [
    "NORLAND BUILDERS LTD",
    "PELHAM PLUMBING LTD",
    "ASHBY COURIERS LTD",
    "WINSLOW ELECTRICAL LTD",
    "GARLAND CATERING LTD",
    "TALLOW FACILITIES LTD",
    "MERIDIAN PARCELS LTD",
    "SELWOOD SCAFFOLDING LTD",
]
BUS_OPERATOR = "MERIDIAN BUSES LTD"

KIND = {"car": 0, "van": 1, "taxi": 2, "bus": 3, "hire": 4, "through": 5}


@dataclass
class Keeping:
    """One keepership: vehicle, keeper (person index or -1 for a company), name if company."""

    vehicle: np.ndarray
    person: np.ndarray
    company: np.ndarray
    start: np.ndarray  # datetime64[D]
    end: np.ndarray  # datetime64[D], NaT when current


@dataclass
class Vehicles:
    vrm: np.ndarray
    vin: np.ndarray
    make: np.ndarray
    model: np.ndarray
    colour: np.ndarray
    body: np.ndarray
    first_reg: np.ndarray
    kind: np.ndarray
    home_person: np.ndarray  # who drives it day to day (-1 for buses, hire pool)
    keeping: Keeping
    stolen_on: np.ndarray  # datetime64[D] or NaT

    def __len__(self) -> int:
        return len(self.vrm)


def make_plates(rng: np.random.Generator, n: int) -> np.ndarray:
    out: set[str] = set()
    plates: list[str] = []
    while len(plates) < n:
        k = (n - len(plates)) * 2
        a = rng.choice(_TAG1, k)
        b = rng.choice(_TAG2, k)
        age = rng.choice(_AGES, k)
        r = rng.choice(_RAND, (k, 3))
        for i in range(k):
            s = f"{a[i]}{b[i]}{age[i]} {r[i, 0]}{r[i, 1]}{r[i, 2]}"
            if s not in out:
                out.add(s)
                plates.append(s)
                if len(plates) == n:
                    break
    return np.array(plates, dtype=object)


def build_vehicles(p: Params, people: People, rng: np.random.Generator) -> Vehicles:
    n_res, n_thr = p.vehicles, p.through_vehicles
    n_bus = p.anpr.buses
    n_hire = max(3, n_res // 100)
    n = n_res + n_thr + n_bus + n_hire
    kind = np.zeros(n, dtype=np.int8)
    u = rng.random(n_res)
    kind[:n_res] = np.where(
        u < p.anpr.taxi_share,
        KIND["taxi"],
        np.where(u < p.anpr.taxi_share + p.anpr.van_share, KIND["van"], KIND["car"]),
    )
    kind[n_res : n_res + n_thr] = KIND["through"]
    kind[n_res + n_thr : n_res + n_thr + n_bus] = KIND["bus"]
    kind[n_res + n_thr + n_bus :] = KIND["hire"]
    adults = people.dob < np.datetime64(p.start, "D") - np.timedelta64(17 * 365, "D")
    res_adults = np.flatnonzero(adults & people.resident)
    out_adults = np.flatnonzero(adults & ~people.resident)
    # Offenders are a little more likely to run a car (they have to reach their crimes).
    w_res = np.where(people.offender[res_adults], 2.0, 1.0)
    driver = np.full(n, -1, dtype=np.int64)
    driver[:n_res] = rng.choice(res_adults, size=n_res, p=w_res / w_res.sum())
    driver[n_res : n_res + n_thr] = rng.choice(out_adults, size=n_thr)
    start = np.datetime64(p.start, "D")
    end_year = start + np.timedelta64(p.months * 30, "D")
    first_reg = start - rng.integers(30, 15 * 365, n).astype("timedelta64[D]")
    make_i = rng.integers(0, len(MAKES), n)
    make = np.array([MAKES[i][0] for i in make_i], dtype=object)
    model = np.array([MAKES[i][1][rng.integers(0, len(MAKES[i][1]))] for i in make_i], dtype=object)
    body = np.where(
        kind == KIND["van"],
        "Panel van",
        np.where(
            kind == KIND["bus"],
            "Bus",
            rng.choice(["Hatchback", "Saloon", "Estate", "SUV", "MPV"], n),
        ),
    ).astype(object)
    make[kind == KIND["bus"]] = "Alexander Dennis"
    model[kind == KIND["bus"]] = "Enviro400"
    colour = rng.choice(COLOURS, n, p=COLOUR_P / COLOUR_P.sum()).astype(object)
    colour[kind == KIND["bus"]] = "red"
    vin_chars = np.array(list("ABCDEFGHJKLMNPRSTUVWXYZ0123456789"))
    mid = rng.choice(vin_chars, size=(n, 6))
    mid_s = np.char.add(
        np.char.add(np.char.add(mid[:, 0], mid[:, 1]), np.char.add(mid[:, 2], mid[:, 3])),
        np.char.add(mid[:, 4], mid[:, 5]),
    )
    vin = np.char.add(
        np.char.add("SYNTH", mid_s), np.char.zfill(np.arange(n).astype(str), 6)
    ).astype(object)
    vrm = make_plates(rng, n)

    # Keeperships: companies keep vans (half), buses and hire cars; 8% of private vehicles
    # change keeper during the year.
    veh: list[int] = []
    per: list[int] = []
    comp: list[str] = []
    s: list[np.datetime64] = []
    e: list[np.datetime64] = []
    nat = np.datetime64("NaT", "D")
    for v in range(n):
        k = kind[v]
        begin = first_reg[v] + np.timedelta64(int(rng.integers(0, 400)), "D")
        begin = min(begin, start - np.timedelta64(1, "D"))
        if k == KIND["bus"]:
            veh.append(v)
            per.append(-1)
            comp.append(BUS_OPERATOR)
            s.append(begin)
            e.append(nat)
        elif k == KIND["hire"]:
            veh.append(v)
            per.append(-1)
            comp.append(HIRE_COMPANIES[v % len(HIRE_COMPANIES)])
            s.append(begin)
            e.append(nat)
        elif k == KIND["van"] and rng.random() < 0.5:
            veh.append(v)
            per.append(-1)
            comp.append(COMPANIES[int(rng.integers(0, len(COMPANIES)))])
            s.append(begin)
            e.append(nat)
        elif rng.random() < 0.08:
            span = p.months * 30
            change = start + np.timedelta64(int(rng.integers(span // 6, span - span // 6)), "D")
            old = int(rng.choice(res_adults)) if rng.random() < 0.5 else int(rng.choice(out_adults))
            veh.append(v)
            per.append(old)
            comp.append("")
            s.append(begin)
            e.append(change - np.timedelta64(1, "D"))
            veh.append(v)
            per.append(int(driver[v]))
            comp.append("")
            s.append(change)
            e.append(nat)
        else:
            veh.append(v)
            per.append(int(driver[v]))
            comp.append("")
            s.append(begin)
            e.append(nat)
    keeping = Keeping(
        np.array(veh),
        np.array(per),
        np.array(comp, dtype=object),
        np.array(s, dtype="datetime64[D]"),
        np.array(e, dtype="datetime64[D]"),
    )
    stolen = np.full(n, nat)
    cand = np.flatnonzero(kind == KIND["car"])
    for v in rng.choice(cand, size=min(p.anpr.stolen, len(cand)), replace=False):
        span = p.months * 30
        stolen[v] = start + np.timedelta64(int(rng.integers(span // 10, span - span // 10)), "D")
    del end_year
    return Vehicles(vrm, vin, make, model, colour, body, first_reg, kind, driver, keeping, stolen)


__all__ = [
    "BUS_OPERATOR",
    "COMPANIES",
    "HIRE_COMPANIES",
    "KIND",
    "Keeping",
    "Vehicles",
    "build_vehicles",
    "make_plates",
]
