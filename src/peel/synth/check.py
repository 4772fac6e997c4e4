"""Difficulty figures of a written city, measured from its files (`peel synth check DIR`).

Every figure is computed from the exports and `truth/` as written, never from the generator's
memory: identity noise by comparing each person-bearing record with the true person, decoys
and series reads by joining the ANPR export to the crime export, dispersion from weekly crime
counts, flare-up sizes from counts in and around the planted window. The test suite asserts
each figure lies in the range issue 3 sets; docs/synth.md records them.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
from collections import Counter
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pyarrow.parquet as pq
from pyproj import Transformer

from peel.synth.names import NICKNAMES, TRANSLIT_OF

LONDON = ZoneInfo("Europe/London")
_BNG = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)

# Person-bearing exports: file, key columns (joined by '|' as in truth/person_identity),
# forename, surname and date-of-birth columns.
PERSON_EXPORTS: dict[str, tuple[str, list[str], str, str, str]] = {
    "cris-person": (
        "cris-person.csv",
        ["CRIS Number", "Nominal Ref", "Role"],
        "Forenames",
        "Surname",
        "Date of Birth",
    ),
    "pnc-person": ("pnc-person.csv", ["PNC ID"], "Forenames", "Surname", "Date of Birth"),
    "custody": ("custody.csv", ["Custody Ref"], "Forenames", "Surname", "Date of Birth"),
    "pnc-conviction": (
        "pnc-conviction.csv",
        ["Conviction Ref"],
        "Forenames",
        "Surname",
        "Date of Birth",
    ),
    "pnc-marker": ("pnc-marker.csv", ["Marker Ref"], "Forenames", "Surname", "Date of Birth"),
    "warrant": ("warrant.csv", ["Warrant Ref"], "Forenames", "Surname", "Date of Birth"),
    "pnc-keeper": (
        "pnc-keeper.csv",
        ["VRM", "Keeper Ref", "Keeper From"],
        "Forenames",
        "Surname",
        "Date of Birth",
    ),
    "intel": (
        "intel.jsonl.gz",
        ["intel_ref"],
        "subject_forenames",
        "subject_surname",
        "subject_dob",
    ),
}


def _bad_lines(city: Path) -> frozenset[tuple[str, int]]:
    """(file, line) of every planted bad row; read once per written truth file."""
    path = city / "truth/bad_rows.parquet"
    return _read_bad_lines(path, path.stat().st_mtime_ns)


@cache
def _read_bad_lines(path: Path, _mtime_ns: int) -> frozenset[tuple[str, int]]:
    return frozenset((r["file"], r["line"]) for r in pq.read_table(path).to_pylist())


def _rows(path: Path) -> list[dict[str, str]]:
    """The good rows of an export (planted bad rows left out: they are listed in truth)."""
    bad = _bad_lines(path.parent.parent)
    first = 1 if path.name.endswith(".jsonl.gz") else 2
    return [r for i, r in enumerate(_all_rows(path)) if (path.name, i + first) not in bad]


def _all_rows(path: Path) -> list[dict[str, str]]:
    if path.name.endswith(".jsonl.gz"):
        out = []
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    out.append({})
        return out
    raw = path.read_bytes()
    text = (
        raw.decode("utf-8-sig", errors="replace")
        if not path.name.startswith("pnc-person")
        else raw.decode("latin-1")
    )
    # One record per physical line (no export has a line break inside a field), so a planted
    # unterminated quote spoils only its own line.
    lines = text.replace("\x00", "").splitlines()
    header = next(csv.reader([lines[0]]))
    out = []
    for line in lines[1:]:
        values = next(csv.reader([line]), [])
        out.append(dict(zip(header, values, strict=False)))
    return out


def _lev1_2(a: str, b: str) -> bool:
    """Edit distance of 1 or 2 (with transposition counted as one)."""
    if a == b or abs(len(a) - len(b)) > 2:
        return False
    prev = list(range(len(b) + 1))
    prev2: list[int] = []
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1] <= 2


def _dob(text: str) -> tuple[int, int, int] | None:
    text = (text or "").strip()
    try:
        if "-" in text:
            d = datetime.strptime(text, "%Y-%m-%d")
        else:
            d = datetime.strptime(text, "%d/%m/%Y")
    except ValueError:
        return None
    return d.day, d.month, d.year


def identity_noise(city: Path) -> dict[str, Any]:
    """Share of person-bearing records with each kind of difference from the true person."""
    person = pq.read_table(city / "truth/person.parquet").to_pydict()
    ident = pq.read_table(city / "truth/person_identity.parquet").to_pylist()
    who = {(r["source"], r["record_ref"]): r["person_id"] for r in ident}
    counts: Counter[str] = Counter()
    total = 0
    for source, (file, keys, fcol, scol, dcol) in PERSON_EXPORTS.items():
        for row in _rows(city / "exports" / file):
            ref = "|".join(str(row.get(k, "")) for k in keys)
            pid = who.get((source, ref))
            if pid is None:
                continue  # a planted bad row, or a company keeper
            total += 1
            tf = person["forename"][pid].lower()
            ts = person["surname"][pid].lower()
            f = str(row.get(fcol, "")).lower().split(" ")[0]
            s = str(row.get(scol, "")).lower()
            if f == ts and s.split(" ")[0] == tf:
                counts["name_swap"] += 1
            elif (f, s) == (
                person["alias_forename"][pid].lower(),
                person["alias_surname"][pid].lower(),
            ) and f:
                counts["alias"] += 1
            else:
                if (f != tf and f.title() in [n for n in NICKNAMES.get(tf.title(), [])]) or (
                    f != tf
                    and len(f) <= 4
                    and tf.startswith(f[:2])
                    and f.title() not in TRANSLIT_OF
                ):
                    counts["nickname"] += 1
                translit = (f != tf and f.title() in TRANSLIT_OF.get(tf.title(), [])) or (
                    s != ts and s.title() in TRANSLIT_OF.get(ts.title(), [])
                )
                if translit:
                    counts["transliteration"] += 1
                if (f != tf and _lev1_2(f, tf) and not translit) or (
                    s != ts and _lev1_2(s, ts) and not translit
                ):
                    counts["name_typo"] += 1
            if not str(row.get(dcol, "")).strip() or any(
                c in row and not str(row[c]).strip() for c in ("Address", "Postcode")
            ):
                counts["missing_field"] += 1
            rec = str(row.get(dcol, ""))
            true = person["date_of_birth"][pid]
            td, tm, ty = true.day, true.month, true.year
            got = _dob(rec)
            if not rec.strip():
                counts["missing_dob"] += 1
            elif got and got != (td, tm, ty):
                if got == (tm, td, ty):
                    counts["dob_day_month_swap"] += 1
                elif got[:2] == (1, 1):
                    counts["dob_placeholder"] += 1
                else:
                    counts["dob_other_error"] += 1
    shares = {k: round(v / total, 4) for k, v in sorted(counts.items())} if total else {}
    return {"records": total, "shares": shares}


def hard_negatives(city: Path) -> dict[str, Any]:
    con = duckdb.connect()
    try:
        p = str(city / "truth/person.parquet").replace("'", "''")
        row = con.sql(
            f"WITH t AS (SELECT lower(forename) f, lower(surname) s, year(date_of_birth) y, "
            f"count(*) OVER (PARTITION BY lower(forename), lower(surname), year(date_of_birth)) n, "
            f"hard_negative FROM read_parquet('{p}')) "
            "SELECT count(*), count(*) FILTER (WHERE n > 1), "
            "count(*) FILTER (WHERE hard_negative = 'father-son'), "
            "count(*) FILTER (WHERE hard_negative = 'twin') FROM t"
        ).fetchall()[0]
    finally:
        con.close()
    people, clash, fs, tw = (int(x) for x in row)
    return {
        "people": people,
        "share_name_and_birth_year_shared": round(clash / people, 4),
        "father_son_people": fs,
        "twin_people": tw,
    }


def names_and_identifiers(city: Path) -> dict[str, Any]:
    """Surname concentration, transliteration variants in use, and identifiers that cannot be
    real (drama-range phones, QQ National Insurance numbers, never-issued plates, postcode
    areas that do not exist)."""
    person = pq.read_table(city / "truth/person.parquet", columns=["surname"]).column(0)
    counts = Counter(person.to_pylist())
    top20 = sum(n for _, n in counts.most_common(20)) / max(1, sum(counts.values()))
    spellings: Counter[str] = Counter()
    phones: set[str] = set()
    ni: set[str] = set()
    postcodes: set[str] = set()
    mohammed = {"Mohammed", "Muhammad", "Mohamed", "Mohammad", "Muhammed", "Mohamad"}
    for source, (file, _keys, fcol, _s, _d) in PERSON_EXPORTS.items():
        for row in _rows(city / "exports" / file):
            first = str(row.get(fcol, "")).split(" ")[0]
            if first in mohammed:
                spellings[first] += 1
            for col in ("Phone", "subject_phone"):
                if row.get(col):
                    phones.add(str(row[col]))
            if row.get("NI Number"):
                ni.add(str(row["NI Number"]))
            for col in ("Postcode", "subject_postcode"):
                if row.get(col):
                    postcodes.add(str(row[col]))
        del source
    plates = [r["VRM"] for r in _rows(city / "exports/pnc-vehicle.csv") if r.get("VRM")]
    drama = re.compile(
        r"(07700 900\d{3}|020 7946 0\d{3}|01\d\d 49[68] 0\d{3}|01632 960\d{3}|029 2018 0\d{3})"
    )
    return {
        "top20_surname_share": round(top20, 4),
        "mohammed_spellings": dict(spellings.most_common()),
        "phones_outside_drama_ranges": sorted(p for p in phones if not drama.fullmatch(p))[:5],
        "ni_numbers_not_qq": sorted(x for x in ni if not x.startswith("QQ"))[:5],
        "plates_issuable": sorted(x for x in plates if x[1:2] not in ("I", "Q", "Z"))[:5],
        "postcodes_in_real_areas": sorted(x for x in postcodes if x[:2] not in ("LX", "LY"))[:5],
        "phones": len(phones),
        "plates": len(plates),
    }


def _scenes(city: Path) -> tuple[list[dict[str, Any]], dict[str, tuple[float, float]]]:
    crimes = {r["CRIS Number"]: r for r in _rows(city / "exports/cris.csv")}
    truth = pq.read_table(city / "truth/crime.parquet").to_pylist()
    scenes = []
    for t in truth:
        if t["series_id"] < 0:
            continue
        r = crimes.get(t["crime_ref"])
        if r is None:
            continue
        fr = datetime.strptime(r["Committed From"], "%d/%m/%Y %H:%M").replace(tzinfo=LONDON)
        to = datetime.strptime(r["Committed To"], "%d/%m/%Y %H:%M").replace(tzinfo=LONDON)
        scenes.append(
            dict(
                crime_ref=t["crime_ref"],
                series_id=t["series_id"],
                x=float(r["Easting"]),
                y=float(r["Northing"]),
                t0=int(fr.timestamp()) - 1800,
                t1=int(to.timestamp()) + 1800,
            )
        )
    cams = {}
    for r in _rows(city / "exports/anpr-camera.csv"):
        try:
            x, y = _BNG.transform(float(r["Longitude"]), float(r["Latitude"]))
        except ValueError:
            continue
        if r["Camera ID"]:
            cams[r["Camera ID"]] = (x, y)
    return scenes, cams


def series_figures(city: Path, radius: float = 500.0) -> dict[str, Any]:
    """Per series: share of its crimes with a read of the series plate near the scene in the
    window widened by 30 minutes, and the number of decoys (other plates read near two or more
    of its scenes in their windows)."""
    scenes, cams = _scenes(city)
    sv = {
        r["series_id"]: r for r in pq.read_table(city / "truth/series_vehicle.parquet").to_pylist()
    }
    series = pq.read_table(city / "truth/series.parquet").to_pylist()
    person = pq.read_table(city / "truth/person.parquet").to_pydict()
    con = duckdb.connect()
    try:
        con.execute(
            "CREATE TABLE scene (crime_ref VARCHAR, series_id BIGINT, "
            "x DOUBLE, y DOUBLE, t0 BIGINT, t1 BIGINT)"
        )
        con.executemany(
            "INSERT INTO scene VALUES (?, ?, ?, ?, ?, ?)",
            [(s["crime_ref"], s["series_id"], s["x"], s["y"], s["t0"], s["t1"]) for s in scenes],
        )
        con.execute("CREATE TABLE cam (camera_id VARCHAR, x DOUBLE, y DOUBLE)")
        con.executemany(
            "INSERT INTO cam VALUES (?, ?, ?)", [(k, v[0], v[1]) for k, v in cams.items()]
        )
        reads = str(city / "exports/anpr-reads-*.parquet").replace("'", "''")
        rows = con.sql(
            "WITH near AS (SELECT s.*, c.camera_id FROM scene s JOIN cam c "
            f"ON (s.x - c.x) * (s.x - c.x) + (s.y - c.y) * (s.y - c.y) <= {radius * radius}), "
            'r AS (SELECT "VRM" vrm, "Camera ID" camera_id, '
            "epoch(try_strptime(\"Read Time (UTC)\", '%Y-%m-%dT%H:%M:%SZ')) ts "
            f"FROM read_parquet('{reads}')) "
            "SELECT n.series_id, n.crime_ref, r.vrm "
            "FROM near n JOIN r ON r.camera_id = n.camera_id "
            "AND r.ts BETWEEN n.t0 AND n.t1 GROUP BY ALL"
        ).fetchall()
    finally:
        con.close()
    hits: dict[int, dict[str, set[str]]] = {}
    for s_id, crime, vrm in rows:
        hits.setdefault(int(s_id), {}).setdefault(vrm, set()).add(crime)
    per_series = []
    for s in series:
        sid = s["series_id"]
        n_crimes = sum(1 for x in scenes if x["series_id"] == sid)
        plate = sv[sid]["vrm_read"]
        by_plate = hits.get(sid, {})
        with_read = len(by_plate.get(plate, set()))
        decoys = sum(1 for v, c in by_plate.items() if v != plate and len(c) >= 2)
        off = s["offender_person_id"]
        hx, hy = person["x"][off], person["y"][off]
        near_home = any(
            np.hypot(x["x"] - hx, x["y"] - hy) <= 1000 for x in scenes if x["series_id"] == sid
        )
        per_series.append(
            dict(
                series_id=sid,
                crimes=n_crimes,
                with_read=with_read,
                share_without_read=round(1 - with_read / n_crimes, 3) if n_crimes else None,
                decoys=decoys,
                how=sv[sid]["how"],
                offender_within_1km=near_home,
            )
        )
    shares = [x["share_without_read"] for x in per_series if x["share_without_read"] is not None]
    return {
        "series": per_series,
        "share_without_read_min": min(shares) if shares else None,
        "share_without_read_max": max(shares) if shares else None,
        "decoys_min": min(x["decoys"] for x in per_series) if per_series else 0,
        "decoys_median": float(np.median([x["decoys"] for x in per_series])) if per_series else 0,
        "share_offenders_within_1km": round(
            float(np.mean([x["offender_within_1km"] for x in per_series])), 3
        )
        if per_series
        else 0,
    }


def crime_figures(city: Path) -> dict[str, Any]:
    """Dispersion of weekly counts, the crime-type mix, window lengths and flare-up sizes."""
    rows = _rows(city / "exports/cris.csv")
    truth = {r["crime_ref"]: r for r in pq.read_table(city / "truth/crime.parquet").to_pylist()}
    start = min(c["committed_from_local"] for c in truth.values())
    weekly: Counter[tuple[str, int]] = Counter()
    mix: Counter[str] = Counter()
    windows = []
    for r in rows:
        if r["CRIS Number"] not in truth:
            continue
        try:
            f = datetime.strptime(r["Committed From"], "%d/%m/%Y %H:%M")
            t = datetime.strptime(r["Committed To"], "%d/%m/%Y %H:%M")
        except ValueError:
            continue
        mix[r["Crime Category"]] += 1
        windows.append((t - f).total_seconds() / 3600)
        weekly[(r["Crime Category"], (f - start).days // 7)] += 1
    n_weeks = max(w for _, w in weekly) + 1
    disp = {}
    for ct in sorted(mix):
        c = np.array([weekly.get((ct, w), 0) for w in range(n_weeks - 1)], float)
        m, v = c.mean(), c.var(ddof=1)
        disp[ct] = {
            "mean": round(float(m), 2),
            "variance": round(float(v), 2),
            "variance_to_mean": round(float(v / m), 2) if m else None,
            "nb_shape_k": round(float(m * m / (v - m)), 2) if v > m else None,
        }
    total = sum(mix.values())
    flares = []
    em = pq.read_table(city / "truth/emerging.parquet").to_pylist()
    for f in em:
        crimes_in = [c for c in truth.values() if c["flare_id"] == f["flare_id"]]
        base = f["baseline_expected"]
        flares.append(
            dict(
                flare_id=f["flare_id"],
                crime_type=f["crime_type"],
                weeks=f["weeks"],
                multiplier=f["multiplier"],
                baseline_expected=base,
                planted_extra=len(crimes_in),
                measured_ratio=round((base + len(crimes_in)) / base, 2) if base else None,
            )
        )
    return {
        "crimes": total,
        "mix": {k: round(v / total, 4) for k, v in sorted(mix.items(), key=lambda kv: -kv[1])},
        "weekly_dispersion": disp,
        "window_hours_min": round(min(windows), 2),
        "window_hours_max": round(max(windows), 2),
        "flares": flares,
    }


def _convoys_seen(city: Path) -> tuple[int, int]:
    """(convoy days, convoy days on which the two plates were read at one camera within a
    minute of each other)."""
    conv = pq.read_table(city / "truth/convoys.parquet")
    if conv.num_rows == 0 or "vrm_a" not in conv.column_names or "day" not in conv.column_names:
        return 0, 0
    con = duckdb.connect()
    try:
        con.register("conv", conv)
        reads = str(city / "exports/anpr-reads-*.parquet").replace("'", "''")
        seen = con.sql(
            'WITH r AS (SELECT "VRM" vrm, "Camera ID" cam, '
            "try_strptime(\"Read Time (UTC)\", '%Y-%m-%dT%H:%M:%SZ') ts "
            f"FROM read_parquet('{reads}') WHERE \"VRM\" IN (SELECT vrm_a FROM conv) "
            'OR "VRM" IN (SELECT vrm_b FROM conv)) '
            "SELECT count(DISTINCT (c.vrm_a, c.vrm_b, c.day)) FROM conv c "
            "JOIN r a ON a.vrm = c.vrm_a AND CAST(a.ts AS DATE) = CAST(c.day AS DATE) "
            "JOIN r b ON b.vrm = c.vrm_b AND b.cam = a.cam "
            "AND abs(epoch(b.ts) - epoch(a.ts)) <= 60"
        ).fetchall()[0][0]
    finally:
        con.close()
    return conv.num_rows, int(seen)


def anpr_figures(city: Path) -> dict[str, Any]:
    mis = pq.read_metadata(city / "truth/anpr_misreads.parquet").num_rows
    reads = sum(
        pq.read_metadata(p).num_rows
        for p in sorted((city / "exports").glob("anpr-reads-*.parquet"))
    )
    conv_days, conv_seen = _convoys_seen(city)
    clones = pq.read_metadata(city / "truth/cloned_plates.parquet").num_rows
    return {
        "reads": reads,
        "misread_share": round(mis / reads, 4) if reads else 0,
        "convoy_days": conv_days,
        "convoy_days_seen_together": conv_seen,
        "cloned_plates": clones,
    }


def check(city: Path) -> dict[str, Any]:
    manifest = json.loads((city / "manifest.json").read_text())
    return {
        "scale": manifest["scale"],
        "profile": manifest["profile"],
        "seed": manifest["seed"],
        "identity_noise": identity_noise(city),
        "hard_negatives": hard_negatives(city),
        "names": names_and_identifiers(city),
        "series": series_figures(city),
        "crime": crime_figures(city),
        "anpr": anpr_figures(city),
    }


__all__ = ["check", "crime_figures", "hard_negatives", "identity_noise", "series_figures"]
