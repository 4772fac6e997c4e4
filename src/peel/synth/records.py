"""The force's systems write the city down: one table of text columns per export, in the
layouts of `peel/sources/mappings`, and the truth that maps each person-bearing record to the
real person behind it."""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from peel.sources import get_mapping
from peel.synth.crime import DAY, TYPES, Crimes, Series
from peel.synth.geo import BOROUGH, FORCE, Borough, to_wgs84
from peel.synth.params import Params
from peel.synth.population import Addresses, People, record_identity
from peel.synth.vehicles import Vehicles

Table = dict[str, list[Any]]


def d_text(d: np.datetime64) -> str:
    if np.isnat(d):
        return ""
    s = str(d.astype("datetime64[D]"))
    return f"{s[8:10]}/{s[5:7]}/{s[0:4]}"


def dmy(d: np.ndarray) -> np.ndarray:
    """dd/mm/yyyy for an array of dates ('' for NaT): d_text for many at once."""
    iso = np.datetime_as_string(d.astype("datetime64[D]"), unit="D").tolist()
    return np.array(
        [f"{x[8:10]}/{x[5:7]}/{x[0:4]}" if x != "NaT" else "" for x in iso], dtype=object
    )


def iso_date(d: np.datetime64) -> str:
    return "" if np.isnat(d) else str(d.astype("datetime64[D]"))


def local_text(seconds: int) -> str:
    return datetime.fromtimestamp(int(seconds), tz=UTC).strftime("%d/%m/%Y %H:%M")


def local_texts(seconds: np.ndarray) -> list[str]:
    """dd/mm/yyyy hh:mm for many local times at once (local_text, vectorised)."""
    iso = np.datetime_as_string(np.asarray(seconds, dtype="datetime64[s]"), unit="m").tolist()
    return [f"{x[8:10]}/{x[5:7]}/{x[0:4]} {x[11:16]}" for x in iso]


def local_iso(seconds: int) -> str:
    return datetime.fromtimestamp(int(seconds), tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


@dataclass
class Officers:
    ref: list[str]
    collar: list[str]
    surname: list[str]
    forenames: list[str]
    rank: list[str]
    team: list[str]
    team_rows: Table


@dataclass
class Book:
    """Everything the exports hold, plus truth rows about identity."""

    tables: dict[str, Table] = field(default_factory=dict)
    # Columns of truth/person_identity (lists, not a dict per row: a million rows at scale).
    identity: dict[str, list[Any]] = field(
        default_factory=lambda: {
            k: [] for k in ("source", "file", "record_ref", "person_ref", "person_id", "noise")
        }
    )

    def table(self, name: str) -> Table:
        """The export's columns, in the order of its source mapping (the layout's one
        definition), each an empty list to fill."""
        return self.tables.setdefault(name, {c: [] for c in get_mapping(name).columns})


def _iso_from_text(dmy: str) -> str:
    """dd/mm/yyyy as yyyy-mm-dd (the intelligence system's JSON uses ISO dates)."""
    return f"{dmy[6:10]}-{dmy[3:5]}-{dmy[0:2]}" if len(dmy) == 10 else dmy


def build_officers(p: Params, b: Borough, people: People, rng: np.random.Generator) -> Officers:
    teams: Table = {c: [] for c in get_mapping("hr-team").columns}
    cmd = f"{BOROUGH} BCU"

    def team(ref: str, name: str, kind: str, parent: str) -> None:
        for c, v in zip(teams, (ref, name, kind, cmd, parent, "2018-04-01", ""), strict=False):
            teams[c].append(v)

    team("SM-CMD", f"{BOROUGH} BCU command team", "command", "")
    team("SM-CID", f"{BOROUGH} CID", "cid", "SM-CMD")
    team("SM-INT", f"{BOROUGH} intelligence unit", "intelligence", "SM-CMD")
    team("SM-PRO", f"{BOROUGH} proactive burglary team", "proactive", "SM-CMD")
    team("SM-SAFE", f"{BOROUGH} safeguarding", "safeguarding", "SM-CMD")
    team("SM-CUST", f"{BOROUGH} custody", "custody", "SM-CMD")
    for r in "ABCD":
        team(f"SM-RESP-{r}", f"{BOROUGH} response team {r}", "response", "SM-CMD")
    for h, name in enumerate(b.hood_names):
        team(f"SM-NHT-{h + 1:02d}", f"{name} safer neighbourhood team", "neighbourhood", "SM-CMD")
    refs = list(teams["Team Ref"])
    weights = np.array([0.5, 3, 1.5, 1.5, 1, 1] + [4] * 4 + [1] * len(b.hood_names), float)
    n = p.officers
    team_of = rng.choice(refs, size=n, p=weights / weights.sum())
    # The first officers are the ones the demo accounts stand for (issue 4 creates the users).
    fixed = ["SM-RESP-A", "SM-CID", "SM-INT", "SM-PRO", "SM-CID", "SM-CMD", "SM-CMD", "SM-INT"]
    team_of[: len(fixed)] = fixed
    ranks = np.where(np.isin(team_of, ["SM-CID", "SM-PRO", "SM-SAFE"]), "DC", "PC").astype(object)
    ranks[rng.random(n) < 0.12] = "PS"
    ranks[rng.random(n) < 0.04] = "Insp"
    ranks[5], ranks[6] = "Supt", "CI"
    ranks[np.asarray(team_of) == "SM-INT"] = "Police staff"
    adults = rng.choice(len(people), size=n, replace=False)
    return Officers(
        ref=[f"{240100 + i}" for i in range(n)],
        collar=[f"{4100 + i}SM" for i in range(n)],
        surname=[str(s).upper() for s in people.surname[adults]],
        forenames=[str(f) for f in people.forename[adults]],
        rank=[str(r) for r in ranks],
        team=[str(t) for t in team_of],
        team_rows=teams,
    )


def write_book(
    p: Params,
    b: Borough,
    people: People,
    addr: Addresses,
    veh: Vehicles,
    crimes: Crimes,
    series: Series,
    officers: Officers,
    rng: np.random.Generator,
) -> Book:
    bk = Book()
    year = p.start.year
    n_cr = len(crimes)
    noise = p.noise
    off_idx = [i for i, t in enumerate(officers.team) if t in ("SM-CID", "SM-PRO")] or [0]
    resp_idx = [i for i, t in enumerate(officers.team) if t.startswith("SM-RESP")] or [0]

    def ident(
        source: str,
        file: str,
        who: np.ndarray,
        refs: list[str],
        prefs: list[str],
        noise_tags: np.ndarray,
    ) -> None:
        """Truth for person-bearing rows: which real person each record stands for."""
        n = len(who)
        bk.identity["source"].extend([source] * n)
        bk.identity["file"].extend([file] * n)
        bk.identity["record_ref"].extend(refs)
        bk.identity["person_ref"].extend(prefs)
        bk.identity["person_id"].extend(int(i) for i in who.tolist())
        bk.identity["noise"].extend(str(t) for t in noise_tags.tolist())

    # -- officers and teams
    bk.tables["hr-team"] = officers.team_rows
    t = bk.table("hr-officer")
    for i in range(len(officers.ref)):
        for c, val in zip(
            t,
            (
                officers.ref[i],
                officers.collar[i],
                officers.surname[i],
                officers.forenames[i],
                officers.rank[i],
                officers.team[i],
                f"{2005 + i % 18}-09-0{1 + i % 7}",
                "",
            ),
            strict=False,
        ):
            t[c].append(val)

    # -- cameras
    t = bk.table("anpr-camera")
    lon, lat = to_wgs84(b.cam_x, b.cam_y)
    for i in range(len(b.cam_x)):
        for c, val in zip(
            t,
            (
                f"CAM-SM-{i + 1:03d}",
                b.cam_name[i],
                f"{lon[i]:.6f}",
                f"{lat[i]:.6f}",
                b.cam_dir[i],
                FORCE,
                f"{2017 + i % 6}-0{1 + i % 9}-01",
                "",
            ),
            strict=False,
        ):
            t[c].append(val)

    # -- crimes (CRIS) and police.uk street level
    t = bk.table("cris")
    street = [
        b.street_h[int((y - b.y0) // 100) % len(b.street_h)]
        if (i % 2)
        else b.street_v[int((x - b.x0) // 100) % len(b.street_v)]
        for i, (x, y) in enumerate(zip(crimes.x, crimes.y, strict=False))
    ]
    oic = rng.choice(off_idx, size=n_cr)
    labels = {k: v.label for k, v in TYPES.items()}
    codes = {k: v.ho_code for k, v in TYPES.items()}
    officer_ref = np.array(officers.ref, dtype=object)[oic]
    t_from_text = local_texts(crimes.t_from)
    columns = (
        crimes.ref,
        [labels[c] for c in crimes.ctype],
        [codes[c] for c in crimes.ctype],
        t_from_text,
        local_texts(crimes.t_to),
        local_texts(crimes.reported),
        crimes.x.astype(np.int64).astype(str),
        crimes.y.astype(np.int64).astype(str),
        street,
        crimes.premises,
        crimes.mo_codes,
        crimes.mo_text,
        crimes.property,
        officer_ref,
        np.array(officers.team, dtype=object)[oic],
    )
    for c, col in zip(t, columns, strict=True):
        t[c].extend(list(col))
    # Outcomes with Home Office codes.
    solved = crimes.offender >= 0
    outcome = np.where(
        rng.random(n_cr) < 0.72, "OC18", np.where(rng.random(n_cr) < 0.5, "OC14", "OC16")
    )
    charged_series = solved & (rng.random(n_cr) < 0.35)
    outcome = np.where(charged_series, "OC1", outcome).astype(object)
    light = np.isin(crimes.ctype, ["shoplifting", "drugs", "possession-of-weapons"])
    outcome[light & (rng.random(n_cr) < 0.5)] = "OC1"
    t = bk.table("cris-outcome")
    later = crimes.reported + rng.integers(2, 60, n_cr) * DAY
    for c, col in zip(
        t, (crimes.ref, outcome, [x[:10] for x in local_texts(later)], officer_ref), strict=True
    ):
        t[c].extend(list(col))
    words = {
        "OC1": "Suspect charged",
        "OC18": "Investigation complete; no suspect identified",
        "OC14": "Unable to prosecute suspect",
        "OC16": "Unable to prosecute suspect",
    }
    t = bk.table("police-uk")
    # police.uk snaps positions to anonymous map points: here the nearest 100 m street corner.
    sx = b.x0 + np.round((crimes.x - b.x0) / 100) * 100
    sy = b.y0 + np.round((crimes.y - b.y0) / 100) * 100
    plon, plat = to_wgs84(sx, sy)
    lsoa = ((crimes.y - b.y0) // 500 * 100 + (crimes.x - b.x0) // 500).astype(int)
    uk_columns = (
        [hashlib.sha256(f"synthetic-crime-{r}".encode()).hexdigest() for r in crimes.ref],
        [f"{m[6:10]}-{m[3:5]}" for m in t_from_text],
        [FORCE] * n_cr,
        [FORCE] * n_cr,
        [f"{x:.6f}" for x in plon.tolist()],
        [f"{x:.6f}" for x in plat.tolist()],
        [f"On or near {x}" for x in street],
        [f"E0109{x:04d}" for x in lsoa.tolist()],
        [f"{BOROUGH} {x:03d}{'ABCD'[x % 4]}" for x in lsoa.tolist()],
        [labels[c] for c in crimes.ctype],
        [words.get(o, "") for o in outcome],
        [""] * n_cr,
    )
    for c, col in zip(t, uk_columns, strict=True):
        t[c].extend(list(col))

    # -- people on crimes: victims, witnesses, suspects
    t = bk.table("cris-person")
    personal = ~np.isin(crimes.ctype, ["shoplifting", "drugs", "possession-of-weapons"])
    crime_i, role, who = [], [], []
    for i in np.flatnonzero(personal).tolist():
        crime_i.append(i)
        role.append("Victim")
        who.append(int(crimes.victim[i]))
        if rng.random() < 0.2:
            crime_i.append(i)
            role.append("Witness")
            who.append(int(rng.integers(0, len(people))))
    offenders = np.flatnonzero(people.offender)
    for i in range(n_cr):
        if crimes.offender[i] >= 0 and rng.random() < 0.5:
            crime_i.append(i)
            role.append("Suspect")
            who.append(int(crimes.offender[i]))
        elif crimes.series[i] < 0 and rng.random() < 0.2:
            crime_i.append(i)
            role.append("Suspect")
            who.append(int(rng.choice(offenders)))
    who_a = np.array(who, dtype=np.int64)
    rec = record_identity(people, addr, who_a, rng, noise)
    from peel.synth.names import IC_FOR

    nominal: list[str] = []
    for k in range(len(who_a)):
        i, pi = crime_i[k], int(who_a[k])
        nref = f"N{crimes.ref[i][:7]}-{k % 100:02d}"
        nominal.append(nref)
        pnc = people.pnc_id[pi] if role[k] == "Suspect" and rng.random() < 0.6 else ""
        eth = people.eth[pi] if rng.random() > 0.1 else "NS"
        for c, val in zip(
            t,
            (
                crimes.ref[i],
                nref,
                role[k],
                pnc,
                rec.surname[k],
                rec.forename[k],
                rec.dob[k],
                people.sex[pi],
                rec.address[k],
                rec.postcode[k],
                people.phone[pi] if rng.random() < 0.6 else "",
                eth,
                IC_FOR[str(people.eth[pi])] if role[k] == "Suspect" else "",
            ),
            strict=False,
        ):
            t[c].append(val)
    ident(
        "cris-person",
        "cris-person.csv",
        who_a,
        [f"{crimes.ref[crime_i[k]]}|{nominal[k]}|{role[k]}" for k in range(len(who_a))],
        nominal,
        rec.noise,
    )

    # -- PNC person records: every offender, one record each (a few have two: a known duplicate)
    t = bk.table("pnc-person")
    rec = record_identity(people, addr, offenders, rng, noise, with_middle=0.8)
    for k, pi in enumerate(offenders.tolist()):
        for c, val in zip(
            t,
            (
                people.pnc_id[pi],
                people.cro[pi],
                people.ni[pi],
                rec.surname[k],
                rec.forename[k],
                rec.dob[k],
                people.sex[pi],
                people.pob[pi],
                "British" if people.pob[pi] == "London" else "",
                rec.address[k],
                rec.postcode[k],
                people.phone[pi],
                people.eth[pi],
                IC_FOR[str(people.eth[pi])],
                str(int(people.height[pi])),
            ),
            strict=False,
        ):
            t[c].append(val)
    ident(
        "pnc-person",
        "pnc-person.csv",
        offenders,
        [str(people.pnc_id[i]) for i in offenders],
        [str(people.pnc_id[i]) for i in offenders],
        rec.noise,
    )

    # -- convictions, markers, warrants
    _histories(p, bk, people, addr, rng, offenders, series, ident)

    # -- custody: arrests of suspects
    t = bk.table("custody")
    arrests = [i for i in range(n_cr) if crimes.offender[i] >= 0 and rng.random() < 0.3]
    arrests += list(rng.choice(n_cr, size=n_cr // 25, replace=False))
    arrested = np.array(
        [crimes.offender[i] if crimes.offender[i] >= 0 else rng.choice(offenders) for i in arrests],
        dtype=np.int64,
    )
    rec = record_identity(people, addr, arrested, rng, noise, with_middle=0.6)
    cust_person: dict[int, str] = {}
    outcomes = [
        "charged-remanded",
        "charged-bailed",
        "released-on-bail",
        "released-under-investigation",
        "no-further-action",
        "cautioned",
    ]
    health = [
        "",
        "",
        "",
        "",
        "Asthma; inhaler provided",
        "Diabetic; meals monitored",
        "Reports low mood; checks every 30 minutes",
        "Recent head injury; rousing checks",
    ]
    refs = []
    for k, (i, pi) in enumerate(zip(arrests, arrested, strict=False)):
        pref = cust_person.setdefault(int(pi), f"CUS-P-{len(cust_person) + 1:05d}")
        arr = int(crimes.reported[i]) + int(rng.integers(1, 30)) * DAY + int(rng.integers(0, DAY))
        ref = f"CU-SM-{year % 100:02d}-{k + 1:05d}"
        refs.append(ref)
        for c, val in zip(
            t,
            (
                ref,
                pref,
                people.pnc_id[pi] if rng.random() < 0.85 else "",
                people.cro[pi] if rng.random() < 0.5 else "",
                people.ni[pi] if rng.random() < 0.4 else "",
                rec.surname[k],
                rec.forename[k],
                rec.dob[k],
                people.sex[pi],
                people.pob[pi],
                rec.address[k],
                rec.postcode[k],
                people.phone[pi],
                people.eth[pi],
                IC_FOR[str(people.eth[pi])],
                f"{BOROUGH} custody suite",
                local_text(arr),
                local_text(arr + int(rng.integers(4, 30)) * 3600),
                TYPES[crimes.ctype[i]].label,
                crimes.ref[i],
                officers.ref[int(rng.choice(resp_idx))],
                outcomes[int(rng.integers(0, len(outcomes)))],
                health[int(rng.integers(0, len(health)))],
            ),
            strict=False,
        ):
            t[c].append(val)
    ident(
        "custody", "custody.csv", arrested, refs, [cust_person[int(x)] for x in arrested], rec.noise
    )

    # -- vehicles and keepers
    t = bk.table("pnc-vehicle")
    reg = dmy(veh.first_reg)
    for c, col in zip(
        t,
        (
            veh.vrm,
            veh.vin,
            veh.make,
            veh.model,
            np.char.upper(veh.colour.astype(str)),
            veh.body,
            reg,
            np.array([x[6:] for x in reg]),
        ),
        strict=True,
    ):
        t[c].extend(col.tolist())
    kp = veh.keeping
    t = bk.table("pnc-keeper")
    people_rows = np.flatnonzero(kp.person >= 0)
    rec = record_identity(
        people, addr, kp.person[people_rows], rng, noise, with_middle=0.2, when_moved_old=0.8
    )
    k_from, k_to = dmy(kp.start), dmy(kp.end)
    n_k = len(kp.vehicle)
    is_person = kp.person >= 0
    keeper_pi = kp.person[people_rows]
    kref = np.array([f"K-{x:08d}" for x in keeper_pi.tolist()], dtype=object)
    with_pnc = rng.random(len(people_rows)) < 0.7
    kcols: dict[str, np.ndarray] = {c: np.full(n_k, "", dtype=object) for c in t}
    kcols["VRM"] = veh.vrm[kp.vehicle]
    kcols["Keeper Type"][people_rows] = "private"
    kcols["Keeper Ref"][people_rows] = kref
    kcols["PNC ID"][people_rows] = np.where(with_pnc, people.pnc_id[keeper_pi], "")
    for c, v in (
        ("Surname", rec.surname),
        ("Forenames", rec.forename),
        ("Date of Birth", rec.dob),
        ("Address", rec.address),
        ("Postcode", rec.postcode),
    ):
        kcols[c][people_rows] = v
    for r in np.flatnonzero(~is_person).tolist():
        co = str(kp.company[r])
        kcols["Keeper Type"][r] = "hire" if "HIRE" in co or "RENTAL" in co else "company"
        kcols["Keeper Ref"][r] = f"K-CO-{zlib.crc32(co.encode()) % 10**6:06d}"
        kcols["Surname"][r] = co
        kcols["Address"][r] = f"Unit {1 + len(co) % 40}, {BOROUGH} Trading Estate, London"
        kcols["Postcode"][r] = "LX1 9AA"
    kcols["Keeper From"], kcols["Keeper To"] = k_from, k_to
    for c in t:
        t[c].extend(kcols[c].tolist())
    ident(
        "pnc-keeper",
        "pnc-keeper.csv",
        keeper_pi,
        [
            f"{v}|{k}|{f}"
            for v, k, f in zip(
                veh.vrm[kp.vehicle[people_rows]].tolist(),
                kref.tolist(),
                k_from[people_rows].tolist(),
                strict=True,
            )
        ],
        kref.tolist(),
        rec.noise,
    )
    _intel_voi_links(p, bk, people, addr, veh, crimes, series, officers, rng, offenders, ident)
    return bk


def _histories(
    p: Params,
    bk: Book,
    people: People,
    addr: Addresses,
    rng: np.random.Generator,
    offenders: np.ndarray,
    series: Series,
    ident: Any,
) -> None:
    start = np.datetime64(p.start, "D")
    speciality = {o: "burglary" for o in series.offender}
    offences = {
        "burglary": [
            ("TH68010", "Burglary dwelling - theft"),
            ("TH68013", "Burglary non-dwelling - theft"),
        ],
        "vehicle-crime": [
            ("TH68046", "Theft from a motor vehicle"),
            ("TH68040", "Aggravated vehicle taking"),
        ],
        "violence": [
            ("OF61016", "Assault occasioning actual bodily harm"),
            ("OF61131", "Common assault"),
        ],
        "drugs": [
            ("MD71230", "Possess controlled drug - class B"),
            ("MD71231", "Possess with intent to supply class A"),
        ],
        "theft": [("TH68001", "Theft from a shop"), ("TH68004", "Theft from the person")],
        "robbery": [("TH68020", "Robbery")],
    }
    disposals = [
        "imprisonment",
        "suspended-sentence",
        "community-order",
        "fine",
        "conditional-discharge",
        "referral-order",
    ]
    sentences = {
        "imprisonment": "{m} months",
        "suspended-sentence": "{m} months suspended",
        "community-order": "Community order, {h} hours unpaid work",
        "fine": "Fine £{f}",
        "conditional-discharge": "Conditional discharge 12 months",
        "referral-order": "Referral order 6 months",
    }
    for s_idx, o in enumerate(series.offender):
        speciality[o] = {
            "burglary": "burglary",
            "vehicle-crime": "vehicle-crime",
            "robbery": "robbery",
        }.get(series.ctype[s_idx], "theft")
    keys = list(offences)
    t = bk.table("pnc-conviction")
    who, refs = [], []
    for o in offenders:
        n_conv = int(rng.poisson(1.8)) + (2 if int(o) in speciality else 0)
        for _ in range(n_conv):
            who.append(int(o))
    who_a = np.array(who, dtype=np.int64)
    rec = record_identity(people, addr, who_a, rng, p.noise, with_middle=0.8)
    for k, o in enumerate(who_a):
        kind = speciality.get(int(o)) if rng.random() < 0.7 else None
        kind = kind or keys[int(rng.integers(0, len(keys)))]
        code, words = offences[kind][int(rng.integers(0, len(offences[kind])))]
        od = start - np.timedelta64(int(rng.integers(60, 3650)), "D")
        cd = od + np.timedelta64(int(rng.integers(30, 300)), "D")
        cd = min(cd, start - np.timedelta64(1, "D"))
        disp = disposals[int(rng.integers(0, len(disposals)))]
        sent = sentences[disp].format(
            m=int(rng.integers(2, 48)), h=int(rng.integers(40, 300)), f=int(rng.integers(50, 1500))
        )
        ref = f"CV-{k + 1:07d}"
        refs.append(ref)
        for c, v in zip(
            t,
            (
                ref,
                people.pnc_id[o],
                people.cro[o],
                rec.surname[k],
                rec.forename[k],
                rec.dob[k],
                people.sex[o],
                code,
                words,
                d_text(od),
                d_text(cd),
                f"{BOROUGH} {'Crown' if disp == 'imprisonment' else 'Magistrates'}' Court",
                disp,
                sent,
                "",
            ),
            strict=False,
        ):
            t[c].append(v)
    ident(
        "pnc-conviction",
        "pnc-conviction.csv",
        who_a,
        refs,
        [str(people.pnc_id[o]) for o in who_a],
        rec.noise,
    )

    t = bk.table("pnc-marker")
    marks = [
        ("VI", "Violent: assaulted a member of the public", ""),
        ("WE", "Carried a knife when arrested", ""),
        ("DR", "Supplies controlled drugs", ""),
        ("ES", "Escaped from custody", ""),
        ("SH", "Risk of self-harm", "History of self-harm recorded by custody nurse"),
        ("MH", "Mental health concerns", "Under a community mental health team"),
    ]
    has = offenders[rng.random(len(offenders)) < 0.3]
    rec = record_identity(people, addr, has, rng, p.noise)
    refs = []
    for k, o in enumerate(has):
        code, detail, hd = marks[int(rng.integers(0, len(marks)))]
        added = start - np.timedelta64(int(rng.integers(30, 2000)), "D")
        ref = f"MK-{k + 1:07d}"
        refs.append(ref)
        for c, v in zip(
            t,
            (
                ref,
                people.pnc_id[o],
                rec.surname[k],
                rec.forename[k],
                rec.dob[k],
                code,
                "PNC",
                d_text(added),
                d_text(added + np.timedelta64(2190, "D")),
                detail,
                hd,
            ),
            strict=False,
        ):
            t[c].append(v)
    ident(
        "pnc-marker", "pnc-marker.csv", has, refs, [str(people.pnc_id[o]) for o in has], rec.noise
    )

    t = bk.table("warrant")
    has = offenders[rng.random(len(offenders)) < 0.06]
    rec = record_identity(people, addr, has, rng, p.noise)
    refs = []
    for k, o in enumerate(has):
        issued = start + np.timedelta64(int(rng.integers(-300, p.months * 30 - 10)), "D")
        status = "outstanding" if rng.random() < 0.6 else "executed"
        ex = (
            issued + np.timedelta64(int(rng.integers(1, 60)), "D")
            if status == "executed"
            else np.datetime64("NaT")
        )
        ref = f"WA-{k + 1:06d}"
        refs.append(ref)
        for c, v in zip(
            t,
            (
                ref,
                "FTA" if rng.random() < 0.5 else "breach",
                status,
                people.pnc_id[o],
                rec.surname[k],
                rec.forename[k],
                rec.dob[k],
                people.sex[o],
                rec.address[k],
                rec.postcode[k],
                d_text(issued),
                f"{BOROUGH} Magistrates' Court",
                "Failed to appear",
                "",
                d_text(ex),
            ),
            strict=False,
        ):
            t[c].append(v)
    ident("warrant", "warrant.csv", has, refs, [str(people.pnc_id[o]) for o in has], rec.noise)


def _intel_voi_links(
    p: Params,
    bk: Book,
    people: People,
    addr: Addresses,
    veh: Vehicles,
    crimes: Crimes,
    series: Series,
    officers: Officers,
    rng: np.random.Generator,
    offenders: np.ndarray,
    ident: Any,
) -> None:
    start_s = int(np.datetime64(p.start, "s").astype(np.int64))
    span = p.months * 30 * DAY
    t = bk.table("intel")
    n = max(10, len(offenders) // 2)
    subj = rng.choice(offenders, size=n)
    rec = record_identity(people, addr, subj, rng, p.noise)
    car_of = {int(d): int(v) for v, d in enumerate(veh.home_person) if d >= 0}
    refs = []
    subj_lon, subj_lat = to_wgs84(addr.x[people.address[subj]], addr.y[people.address[subj]])
    for k, o in enumerate(subj):
        at = start_s + int(rng.integers(0, span))
        fact = rng.random() < 0.55
        v = car_of.get(int(o), -1)
        vrm = str(veh.vrm[v]) if v >= 0 and rng.random() < 0.4 else ""
        lon, lat = subj_lon[k : k + 1], subj_lat[k : k + 1]
        text = (
            f"Subject seen driving {vrm} in the area late at night."
            if vrm
            else "Subject believed to be handling stolen goods from local burglaries."
            if not fact
            else "Subject seen meeting known associates outside a betting shop."
        )
        ref = f"IR-{p.start.year % 100:02d}-{k + 1:06d}"
        refs.append(ref)
        scheme = "3x5x2" if rng.random() < 0.8 else "5x5x5"
        src = (
            str(rng.choice(["1", "2", "3"]))
            if scheme == "3x5x2"
            else str(rng.choice(list("ABCDE")))
        )
        assess = (
            str(rng.choice(list("ABCDE"))) if scheme == "3x5x2" else str(rng.choice(list("12345")))
        )
        hand = str(rng.choice(["P", "C"])) if scheme == "3x5x2" else str(rng.choice(list("12345")))
        off = int(rng.integers(0, len(officers.ref)))
        row = (
            ref,
            local_iso(at),
            officers.ref[off],
            officers.team[off],
            scheme,
            src,
            assess,
            hand,
            "fact" if fact else "assessment",
            text,
            str(people.pnc_id[o]),
            "pnc",
            str(rec.surname[k]),
            str(rec.forename[k]),
            _iso_from_text(str(rec.dob[k])),
            str(rec.address[k]),
            str(rec.postcode[k]),
            "",
            vrm,
            f"{lon[0]:.6f}",
            f"{lat[0]:.6f}",
            "",
            local_iso(at + 365 * DAY)[:10],
        )
        for c, val in zip(t, row, strict=False):
            t[c].append(val)
    ident("intel", "intel.jsonl.gz", subj, refs, [str(people.pnc_id[o]) for o in subj], rec.noise)

    t = bk.table("voi")
    k = 0

    def voi(vrm: str, source: str, reason: str, text: str, action: str, at: int) -> None:
        nonlocal k
        k += 1
        off = int(rng.integers(0, len(officers.ref)))
        row = (
            f"VOI-{p.start.year % 100:02d}-{k:05d}",
            vrm,
            source,
            reason,
            text,
            action,
            officers.ref[off],
            officers.team[off],
            local_text(at),
            local_text(at + int(rng.integers(30, 180)) * DAY)[:10],
        )
        for c, val in zip(t, row, strict=False):
            t[c].append(val)

    for v in np.flatnonzero(~np.isnat(veh.stolen_on)).tolist():
        at = int(veh.stolen_on[v].astype("datetime64[s]").astype(np.int64)) + 9 * 3600
        voi(
            str(veh.vrm[v]),
            "pnc",
            "stolen-vehicle",
            "Reported stolen by the keeper.",
            "stop-and-seize",
            at,
        )
    for s_i, plate in enumerate(series.plate):
        if series.how[s_i] == "clone" or rng.random() < 0.3:
            reason = "cloned-plates" if series.how[s_i] == "clone" else "intelligence-interest"
            voi(
                plate,
                "force-hotlist",
                reason,
                "Of interest to the proactive team.",
                "do-not-stop-report",
                start_s + int(rng.integers(0, span)),
            )
    for v in rng.choice(len(veh), size=max(3, len(veh) // 500), replace=False):
        voi(
            str(veh.vrm[v]),
            "dvla",
            str(rng.choice(["no-insurance", "no-tax", "no-mot"])),
            "Flagged by the register.",
            "stop-and-account",
            start_s + int(rng.integers(0, span)),
        )

    # Addresses of people known to police, and associations between them.
    t = bk.table("person-address")
    start = np.datetime64(p.start, "D")
    all_lon, all_lat = to_wgs84(addr.x, addr.y)
    for o in offenders:
        for typ, a_i in (
            ("home", int(people.address[o])),
            ("previous", int(people.prev_address[o])),
        ):
            if a_i < 0:
                continue
            lon, lat = all_lon[a_i : a_i + 1], all_lat[a_i : a_i + 1]
            moved_in = start - np.timedelta64(int(rng.integers(100, 2000)), "D")
            addr_row = (
                str(people.pnc_id[o]),
                "pnc",
                f"ADR-{a_i:07d}",
                f"99{a_i:010d}",
                typ,
                str(addr.text(np.array([a_i]))[0]),
                str(addr.postcode[a_i]),
                f"{lon[0]:.6f}",
                f"{lat[0]:.6f}",
                iso_date(moved_in),
                "" if typ == "home" else iso_date(start - 90),
            )
            for c, val in zip(t, addr_row, strict=False):
                t[c].append(val)
    t = bk.table("associate")
    for s_i, o in enumerate(series.offender):
        co = series.co_offender[s_i]
        if co >= 0 and co != o:
            for c, val in zip(
                t,
                (
                    str(people.pnc_id[o]),
                    "pnc",
                    str(people.pnc_id[co]),
                    "pnc",
                    "co-accused",
                    iso_date(start),
                    "",
                    "",
                ),
                strict=False,
            ):
                t[c].append(val)
    hh_first: dict[int, int] = {}
    for o in offenders:
        h = int(people.household[o])
        if h in hh_first and people.pnc_id[hh_first[h]]:
            for c, val in zip(
                t,
                (
                    str(people.pnc_id[o]),
                    "pnc",
                    str(people.pnc_id[hh_first[h]]),
                    "pnc",
                    "co-resident",
                    iso_date(start - 400),
                    "",
                    "",
                ),
                strict=False,
            ):
                t[c].append(val)
        hh_first.setdefault(h, int(o))


__all__ = ["Book", "Officers", "build_officers", "d_text", "local_text", "write_book"]
