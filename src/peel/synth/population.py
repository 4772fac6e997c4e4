"""Addresses, households and people, with the look-alikes that make entity resolution hard,
and the identity noise each record picks up when a system writes it down."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from peel.synth import names
from peel.synth.geo import STREET_M, Borough
from peel.synth.params import NoiseParams, Params

# Ofcom's ranges reserved for drama (never allocated to a subscriber): 1,000 numbers each.
_DRAMA = [
    "07700 900{:03d}",
    "020 7946 0{:03d}",
    "0113 496 0{:03d}",
    "0114 496 0{:03d}",
    "0115 496 0{:03d}",
    "0116 496 0{:03d}",
    "0117 496 0{:03d}",
    "0118 496 0{:03d}",
    "0121 496 0{:03d}",
    "0131 496 0{:03d}",
    "0141 496 0{:03d}",
    "0151 496 0{:03d}",
    "0161 496 0{:03d}",
    "0191 498 0{:03d}",
    "01632 960{:03d}",
    "029 2018 0{:03d}",
]
# Postcode areas that do not exist: well-formed, never delivered to.
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
_OUTSIDE_STREETS = [
    "Acacia",
    "Beech",
    "Birch",
    "Chestnut",
    "Cypress",
    "Damson",
    "Ebony",
    "Firth",
    "Gorse",
    "Hawthorn",
    "Ivy",
    "Jasmine",
    "Kingfisher",
    "Lark",
    "Magpie",
    "Nightingale",
    "Osprey",
    "Pine",
    "Quince",
    "Robin",
    "Spruce",
    "Teal",
    "Umber",
    "Vine",
    "Walnut",
    "Yew",
]


@dataclass
class Addresses:
    number: np.ndarray
    flat: np.ndarray  # 0 = not a flat
    street: np.ndarray
    postcode: np.ndarray
    x: np.ndarray
    y: np.ndarray
    hood: np.ndarray
    inside: np.ndarray

    def __len__(self) -> int:
        return len(self.x)

    def text(self, idx: np.ndarray) -> np.ndarray:
        flats = self.flat[idx].tolist()
        numbers = self.number[idx].tolist()
        streets = self.street[idx].tolist()
        return np.array(
            [
                f"Flat {f}, {n} {s}, London" if f else f"{n} {s}, London"
                for f, n, s in zip(flats, numbers, streets, strict=True)
            ],
            dtype=object,
        )


@dataclass
class People:
    sex: np.ndarray  # "M"/"F"
    eth: np.ndarray
    forename: np.ndarray
    middle: np.ndarray
    surname: np.ndarray
    dob: np.ndarray  # datetime64[D]
    address: np.ndarray
    prev_address: np.ndarray  # -1 if none
    household: np.ndarray
    resident: np.ndarray
    phone: np.ndarray
    height: np.ndarray
    pob: np.ndarray
    offender: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    pnc_id: np.ndarray = field(default_factory=lambda: np.zeros(0, object))
    cro: np.ndarray = field(default_factory=lambda: np.zeros(0, object))
    ni: np.ndarray = field(default_factory=lambda: np.zeros(0, object))
    alias_fore: np.ndarray = field(default_factory=lambda: np.zeros(0, object))
    alias_sur: np.ndarray = field(default_factory=lambda: np.zeros(0, object))
    hard_negative: np.ndarray = field(default_factory=lambda: np.zeros(0, object))

    def __len__(self) -> int:
        return len(self.sex)


def build_addresses(
    p: Params, b: Borough, rng: np.random.Generator, n_in: int, n_out: int
) -> Addresses:
    """n_in addresses inside the borough (mostly in residential cells) and n_out outside."""
    # Inside: points in cells weighted by zone, snapped to the nearest minor street.
    cells = np.argwhere(b.zone >= 0)
    zw = np.array([1.0, 0.25, 0.15, 0.0])[b.zone[cells[:, 0], cells[:, 1]]]
    want = int(n_in * 1.15) + 50
    pick = cells[rng.choice(len(cells), size=want, p=zw / zw.sum())]
    x = b.x0 + (pick[:, 1] + rng.random(want)) * 250
    y = b.y0 + (pick[:, 0] + rng.random(want)) * 250
    # Outside: a ring up to 4 km beyond the boundary.
    wo = int(n_out * 1.15) + 50
    ang = rng.uniform(0, 2 * np.pi, wo)
    rad = max(b.width, b.height) / 2 + rng.uniform(300, 4000, wo)
    xo = b.x0 + b.width / 2 + rad * np.cos(ang)
    yo = b.y0 + b.height / 2 + rad * np.sin(ang)
    x = np.concatenate([x, xo])
    y = np.concatenate([y, yo])
    inside = np.concatenate([np.ones(want, bool), np.zeros(wo, bool)])
    on_h = rng.random(len(x)) < 0.5  # on a street running east-west
    yi = np.round((y - b.y0) / STREET_M).astype(int)
    xi = np.round((x - b.x0) / STREET_M).astype(int)
    sy = b.y0 + yi * STREET_M
    sx = b.x0 + xi * STREET_M
    along = np.where(on_h, x - b.x0, y - b.y0)
    side = rng.integers(0, 2, len(x))
    number = (np.abs(along) % 1000 // 14).astype(int) * 2 + 1 + side
    xs = np.where(on_h, x, sx + np.where(side == 1, 8.0, -8.0))
    ys = np.where(on_h, sy + np.where(side == 1, 8.0, -8.0), y)
    nh, nv = len(b.street_h), len(b.street_v)
    street = np.empty(len(x), dtype=object)
    for k in range(len(x)):
        if inside[k]:
            street[k] = b.street_h[yi[k] % nh] if on_h[k] else b.street_v[xi[k] % nv]
        else:
            w = _OUTSIDE_STREETS[(yi[k] if on_h[k] else xi[k] + 7) % len(_OUTSIDE_STREETS)]
            street[k] = f"{w} {'Road' if on_h[k] else 'Avenue'}"
    flat = np.where(rng.random(len(x)) < 0.35, rng.integers(1, 30, len(x)), 0)
    key = np.array([f"{s}|{n}|{f}" for s, n, f in zip(street, number, flat, strict=False)])
    _, first = np.unique(key, return_index=True)
    first = np.sort(first)
    keep_in = first[inside[first]][:n_in]
    keep_out = first[~inside[first]][:n_out]
    keep = np.concatenate([keep_in, keep_out])
    hood = b.hood_at(xs[keep], ys[keep])
    # Postcode units: about 15 addresses on one stretch of one street.
    unit = np.array([f"{street[k]}|{number[k] // 30}" for k in keep])
    uniq, inv = np.unique(unit, return_inverse=True)
    letters = np.array(list(_INWARD_LETTERS))
    inward = np.array(
        [
            f"{rng.integers(1, 10)}{letters[rng.integers(0, 20)]}{letters[rng.integers(0, 20)]}"
            for _ in range(len(uniq))
        ]
    )
    outward = np.where(
        hood >= 0,
        np.char.add("LX", (np.maximum(hood, 0) + 1).astype(str)),
        np.char.add("LY", (1 + (np.arange(len(keep)) % 9)).astype(str)),
    )
    postcode = np.char.add(np.char.add(outward.astype(str), " "), inward[inv])
    return Addresses(
        number[keep],
        flat[keep],
        street[keep],
        postcode.astype(object),
        xs[keep],
        ys[keep],
        hood,
        inside[keep],
    )


def _ages(rng: np.random.Generator, n: int, adult: bool) -> np.ndarray:
    if adult:
        return np.clip(rng.gamma(4.0, 10.0, n) + 18, 18, 95)
    return rng.uniform(0, 18, n)


def build_people(p: Params, b: Borough, rng: np.random.Generator) -> tuple[People, Addresses]:
    n_res, n_out = p.residents, p.outsiders
    n_hh_in = int(n_res / 2.3) + 1
    n_hh_out = int(n_out / 2.0) + 1
    addr = build_addresses(p, b, rng, n_hh_in + n_res // 10, n_hh_out + n_out // 10)
    in_idx = np.flatnonzero(addr.inside)
    out_idx = np.flatnonzero(~addr.inside)
    eth_codes, eth_p = names.ethnicity_codes()
    ref = np.datetime64(p.start, "D")

    def households(n: int, pool_idx: np.ndarray, resident: bool) -> dict[str, np.ndarray]:
        sizes = rng.choice([1, 2, 3, 4, 5], size=n, p=[0.3, 0.3, 0.17, 0.15, 0.08])
        sizes = sizes[: np.searchsorted(np.cumsum(sizes), n) + 1]
        total = int(sizes.sum())
        hh = np.repeat(np.arange(len(sizes)), sizes)[:n]
        pos = np.arange(n) - np.repeat(np.cumsum(sizes) - sizes, sizes)[:n]
        size_of = sizes[hh]
        adult = (pos < 2) | (size_of <= 2)
        hh_addr = rng.choice(pool_idx, size=len(sizes), replace=len(sizes) > len(pool_idx))
        hh_eth = rng.choice(eth_codes, size=len(sizes), p=eth_p)
        mixed = rng.random(n) < 0.08
        eth = np.where(mixed, rng.choice(eth_codes, size=n, p=eth_p), hh_eth[hh])
        male = np.where(
            pos == 0,
            rng.random(n) < 0.55,
            np.where(pos == 1, rng.random(n) < 0.3, rng.random(n) < 0.5),
        )
        age = np.where(adult, _ages(rng, n, True), _ages(rng, n, False))
        del total
        return dict(
            hh=hh,
            adult=adult,
            addr=hh_addr[hh],
            eth=eth,
            male=male,
            age=age,
            resident=np.full(n, resident),
            pos=pos,
        )

    a = households(n_res, in_idx, True)
    o = households(n_out, out_idx, False)
    o["hh"] = o["hh"] + a["hh"].max() + 1
    d = {k: np.concatenate([a[k], o[k]]) for k in a}
    n = len(d["hh"])
    fore, middle, sur = names.draw_names(rng, d["eth"], d["male"])
    # One surname per household (first member's), except a few.
    first_of = np.zeros(d["hh"].max() + 1, dtype=np.int64)
    first_of[d["hh"][::-1]] = np.arange(n)[::-1]
    same = rng.random(n) < 0.85
    sur = np.where(same, sur[first_of[d["hh"]]], sur)
    days = (d["age"] * 365.25).astype(np.int64)
    dob = ref - days.astype("timedelta64[D]")
    sex = np.where(d["male"], "M", "F").astype(object)
    hard = np.full(n, "", dtype=object)
    noise = p.noise
    # Fathers and sons of one name at one address.
    hh_size = np.bincount(d["hh"])
    cand = np.flatnonzero(d["male"] & ~d["adult"] & (d["age"] > 14) & (d["pos"] >= 2))
    k = min(len(cand), int(noise.father_son * n))
    for c in rng.choice(cand, size=k, replace=False):
        father = first_of[d["hh"][c]]
        if d["male"][father]:
            fore[c], sur[c] = fore[father], sur[father]
            hard[c] = hard[father] = "father-son"
    # Twins: two children of one household born on one day.
    kids = np.flatnonzero(~d["adult"] & (d["pos"] >= 2) & (hh_size[d["hh"]] >= 4))
    hh_k = d["hh"][kids]
    pairs = kids[:-1][(hh_k[:-1] == hh_k[1:])]
    k = min(len(pairs), int(noise.twins * n))
    for c in rng.choice(pairs, size=k, replace=False):
        dob[c + 1] = dob[c]
        sur[c + 1] = sur[c]
        hard[c] = hard[c + 1] = "twin"
    # Different people with the same name and birth year (people who live alone take the name
    # of someone else, keeping their own day and month).
    alone = np.flatnonzero((hh_size[d["hh"]] == 1) & (hard == ""))
    k = min(len(alone) // 2, int(noise.name_year_clash * n / 2))
    chosen = rng.choice(alone, size=2 * k, replace=False)
    for c, other in zip(chosen[:k], chosen[k:], strict=False):
        fore[c], sur[c], sex[c] = fore[other], sur[other], sex[other]
        y_other = dob[other].astype("datetime64[Y]")
        md = dob[c] - dob[c].astype("datetime64[Y]")
        dob[c] = min(
            y_other.astype("datetime64[D]") + md, (y_other + 1).astype("datetime64[D]") - 1
        )
        hard[c] = hard[other] = "name-year"
    # Moves: the previous address is kept for people who moved in the last years.
    moved = rng.random(n) < noise.moved
    prev = np.where(moved, rng.integers(0, len(addr), n), -1)
    phone = np.full(n, "", dtype=object)
    has_phone = np.flatnonzero(rng.random(n) < 0.35)
    numbers = np.array([f.format(i) for f in _DRAMA for i in range(1000)], dtype=object)
    phone[has_phone] = numbers[rng.permutation(len(has_phone)) % len(numbers)]
    height = np.where(d["male"], rng.normal(176, 7, n), rng.normal(163, 6.5, n)).round()
    height = np.where(d["adult"], height, np.clip(height * (0.5 + d["age"] / 36), 60, 190)).round()
    pob = np.where(
        d["resident"],
        "London",
        rng.choice(
            [
                "London",
                "Birmingham",
                "Manchester",
                "Croydon",
                "Luton",
                "Lagos",
                "Dhaka",
                "Warsaw",
                "Dublin",
                "Kingston",
            ],
            n,
        ),
    )
    people = People(
        sex,
        d["eth"],
        fore,
        middle,
        sur,
        dob,
        d["addr"],
        prev,
        d["hh"],
        d["resident"],
        phone,
        height.astype(int),
        pob.astype(object),
    )
    people.hard_negative = hard
    _offenders(p, people, rng, d["age"])
    return people, addr


def _offenders(p: Params, people: People, rng: np.random.Generator, age: np.ndarray) -> None:
    """People with a police record: mostly young men. They get PNC, CRO and NI numbers."""
    n = len(people)
    male = people.sex == "M"
    w = np.where((age > 15) & (age < 60), 1.0, 0.02) * np.where(male, 4.0, 1.0)
    w *= np.exp(-np.abs(age - 26) / 12)
    k = min(p.offenders, n // 2)
    idx = rng.choice(n, size=k, replace=False, p=w / w.sum())
    off = np.zeros(n, bool)
    off[idx] = True
    people.offender = off
    pnc = np.full(n, "", dtype=object)
    cro = np.full(n, "", dtype=object)
    ni = np.full(n, "", dtype=object)
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    years = rng.integers(0, 24, k)
    nums = rng.choice(9_000_000, size=k, replace=False) + 100_000
    for j, i in enumerate(idx):
        yy = f"{years[j]:02d}"
        pnc[i] = f"{yy}/{nums[j]}{letters[nums[j] % 23]}"
        cro[i] = f"{nums[j] % 1_000_000:06d}/{yy}{letters[(nums[j] // 7) % 23]}"
        # NI prefix QQ is never issued (it is the one used in examples).
        ni[i] = f"QQ{nums[j] % 1_000_000:06d}{'ABCD'[j % 4]}"
    people.pnc_id, people.cro, people.ni = pnc, cro, ni
    people.alias_fore = np.full(n, "", dtype=object)
    people.alias_sur = np.full(n, "", dtype=object)
    n_alias = int(p.noise.alias_offender * k)
    if n_alias:
        who = rng.choice(idx, size=n_alias, replace=False)
        donors = rng.integers(0, n, n_alias)
        people.alias_fore[who] = people.forename[donors]
        people.alias_sur[who] = people.surname[donors]


# -- identity noise ---------------------------------------------------------------------------


@dataclass
class Recorded:
    """Person details as one system wrote them, plus which noise each record got."""

    forename: np.ndarray
    surname: np.ndarray
    dob: np.ndarray  # text dd/mm/yyyy or ""
    address: np.ndarray
    postcode: np.ndarray
    noise: np.ndarray  # ';'-joined kinds


def record_identity(
    people: People,
    addr: Addresses,
    who: np.ndarray,
    rng: np.random.Generator,
    noise: NoiseParams,
    *,
    with_middle: float = 0.3,
    when_moved_old: float = 0.5,
) -> Recorded:
    """The identity a system records for each person in `who`, with noise at the configured
    rates. Every kind is drawn independently, so a record may carry several."""
    m = len(who)
    fore = people.forename[who].astype(object).copy()
    mid = people.middle[who]
    use_mid = (rng.random(m) < with_middle) & (mid != "")
    fore = np.where(use_mid, np.char.add(np.char.add(fore.astype(str), " "), mid.astype(str)), fore)
    fore = fore.astype(object)
    sur = people.surname[who].astype(object).copy()
    tags: defaultdict[int, list[str]] = defaultdict(list)  # only noised records get a list
    r = rng.random((m, 9))
    # Names: only records drawn for some kind of name noise are visited in Python.
    true_fore = people.forename[who]
    known = names.TRANSLIT_OF
    translit = (r[:, 0] < noise.transliteration) & np.fromiter(
        (f in known or s_ in known for f, s_ in zip(true_fore.tolist(), sur.tolist(), strict=True)),
        dtype=bool,
        count=m,
    )
    has_alias = people.alias_fore[who] != ""
    visit = (
        translit
        | (r[:, 1] < noise.nickname)
        | (r[:, 2] < noise.name_typo)
        | (r[:, 3] < noise.name_swap)
        | (has_alias & (r[:, 4] < 0.3))
    )
    for k in np.flatnonzero(visit).tolist():
        if translit[k]:
            alt = names.other_spelling(rng, str(true_fore[k]))
            alt_s = names.other_spelling(rng, str(sur[k]))
            if alt:
                fore[k] = str(fore[k]).replace(str(true_fore[k]), alt, 1)
            if alt_s:
                sur[k] = alt_s
            tags[k].append("transliteration")
        if r[k, 1] < noise.nickname:
            first = str(fore[k]).split(" ")[0]
            fore[k] = names.nickname(rng, first)
            tags[k].append("nickname")
        if r[k, 2] < noise.name_typo:
            if rng.random() < 0.5:
                sur[k] = names.typo(rng, str(sur[k]))
            else:
                fore[k] = names.typo(rng, str(fore[k]))
            tags[k].append("name_typo")
        if r[k, 3] < noise.name_swap:
            fore[k], sur[k] = str(sur[k]).title(), str(fore[k]).split(" ")[0]
            tags[k].append("name_swap")
        if has_alias[k] and r[k, 4] < 0.3:
            fore[k], sur[k] = people.alias_fore[who[k]], people.alias_sur[who[k]]
            tags[k].append("alias")
    # Dates of birth, vectorised.
    dob = people.dob[who]
    y0 = dob.astype("datetime64[Y]").astype(np.int64) + 1970
    mo0 = (dob.astype("datetime64[M]").astype(np.int64) % 12) + 1
    dd0 = (dob - dob.astype("datetime64[M]")).astype(np.int64) + 1
    y, mo, dd = y0.copy(), mo0.copy(), dd0.copy()
    # A swap is only possible when the day could be a month: those records are swapped at a
    # higher rate so that the share over all records is the configured one.
    swap = (dd0 <= 12) & (dd0 != mo0) & (r[:, 5] < min(1.0, noise.dob_day_month_swap / 0.37))
    dd[swap], mo[swap] = mo0[swap], dd0[swap]
    digit = ~swap & (rng.random(m) < noise.dob_digit)
    year_wrong = digit & (rng.random(m) < 0.5)
    y = np.where(year_wrong, y0 + rng.choice([-10, -1, 1, 10], m), y)
    day_wrong = digit & ~year_wrong
    nd = np.clip(dd0 + rng.choice([-1, 1, 10, -10], m), 1, 28)
    nd = np.where(nd == dd0, 1 + (nd % 28), nd)
    dd = np.where(day_wrong, nd, dd)
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    dd = np.where((dd == 29) & (mo == 2) & ~leap, 28, dd)  # a wrong year must not make an
    # impossible date: that would be a bad row, and bad rows are planted on purpose only
    placeholder = r[:, 6] < noise.dob_placeholder
    dd[placeholder], mo[placeholder] = 1, 1
    for kind, mask in (
        ("dob_day_month_swap", swap),
        ("dob_digit", digit),
        ("dob_placeholder", placeholder),
    ):
        for k in np.flatnonzero(mask).tolist():
            tags[k].append(kind)
    text = np.array(
        [
            f"{a:02d}/{b:02d}/{c:04d}"
            for a, b, c in zip(dd.tolist(), mo.tolist(), y.tolist(), strict=True)
        ],
        dtype=object,
    )
    a_idx = people.address[who].copy()
    prev = people.prev_address[who]
    old = (prev >= 0) & (rng.random(m) < when_moved_old)
    a_idx[old] = prev[old]
    for k in np.flatnonzero(old).tolist():
        tags[k].append("moved")
    address = addr.text(a_idx)
    postcode = addr.postcode[a_idx].copy()
    miss = r[:, 7] < noise.missing
    which = rng.integers(0, 3, m)
    for k in np.flatnonzero(miss).tolist():
        if which[k] == 0:
            text[k] = ""
        elif which[k] == 1:
            postcode[k] = ""
        else:
            address[k] = ""
        tags[k].append("missing")
    sur = np.array(
        [
            str(s).upper() if rng_upper else str(s)
            for s, rng_upper in zip(sur, r[:, 8] < 0.7, strict=False)
        ],
        dtype=object,
    )
    return Recorded(
        fore,
        sur,
        text,
        address,
        postcode,
        np.array([";".join(tags[k]) if k in tags else "" for k in range(m)], dtype=object),
    )


__all__ = ["Addresses", "People", "Recorded", "build_people", "record_identity"]
