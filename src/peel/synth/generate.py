"""`peel synth`: build a city and write its exports, truth and manifest.

Each component draws from its own random stream, derived from the seed and the component's
name (`SeedSequence(seed, spawn_key=(crc32(name),))`, the same mechanism as
`SeedSequence(seed).spawn`, keyed by name so adding a component changes no other stream).
Nothing depends on the wall clock, the host or the output path, so the same seed and
parameters give the same bytes anywhere.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import resource
import shutil
import zlib
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from peel.errors import PeelError
from peel.synth import anpr, exports
from peel.synth.crime import build_crimes
from peel.synth.geo import BOROUGH, build_borough, to_wgs84
from peel.synth.params import GENERATOR_VERSION, Params
from peel.synth.phone import write_phone_case
from peel.synth.population import build_people
from peel.synth.records import build_officers, write_book
from peel.synth.vehicles import KIND, build_vehicles

# Disk needed per million ANPR reads (Parquet export plus truth), with a margin.
_BYTES_PER_READ = 60


def stream(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng(
        np.random.SeedSequence(seed, spawn_key=(zlib.crc32(name.encode()),))
    )


def expected_reads(p: Params) -> int:
    return p.reads


def generate(
    p: Params, seed: int, out: Path, log: Callable[[str], None] = lambda s: None
) -> dict[str, Any]:
    """Build the city for (p, seed) into `out`; returns the manifest, disk use and peak
    memory. Python's cyclic garbage collector is paused meanwhile: the generator makes
    millions of small objects and no cycles, and every collection would walk them all."""
    was = gc.isenabled()
    gc.disable()
    try:
        return _generate(p, seed, out, log)
    finally:
        if was:
            gc.enable()


def _generate(
    p: Params, seed: int, out: Path, log: Callable[[str], None] = lambda s: None
) -> dict[str, Any]:
    need = expected_reads(p) * _BYTES_PER_READ + 50_000_000
    out.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(out).free
    if free < need:
        raise PeelError(
            f"not enough free disk under {out}: {free / 1e9:.1f} GB free, "
            f"{need / 1e9:.1f} GB needed for scale {p.scale}"
        )
    ex = out / "exports"
    tr = out / "truth"
    for d in (ex, tr):
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)

    log("geography")
    b = build_borough(p, stream(seed, "geography"))
    log("people")
    people, addr = build_people(p, b, stream(seed, "people"))
    log("vehicles")
    veh = build_vehicles(p, people, stream(seed, "vehicles"))
    log("crime")
    crimes, series, flares, planted = build_crimes(p, b, people, addr, veh, stream(seed, "crime"))
    officers = build_officers(p, b, people, stream(seed, "officers"))
    log("phone case")
    phone_case = write_phone_case(
        out, stream(seed, "phone"), p=p, people=people, addr=addr, crimes=crimes, series=series
    )
    global _REC
    _REC = (p, seed, b, people, addr, veh, crimes, series, officers, ex, tr)
    log("records and anpr")
    try:
        (counts, bad_rows), (n_reads, anpr_bad, misreads, convoys) = _write_reads(
            p, seed, b, people, addr, veh, planted, ex
        )
    finally:
        _REC = None
    bad_rows += anpr_bad
    counts["anpr-read"] = n_reads

    log("truth")
    _write_truth(
        p,
        tr,
        b,
        people,
        addr,
        veh,
        crimes,
        series,
        flares,
        bad_rows,
        misreads,
        convoys,
        planted,
    )
    _write_geojson(b, out / "neighbourhoods.geojson")
    demo_accounts = [
        dict(
            officer_ref=officers.ref[i],
            collar=officers.collar[i],
            team=officers.team[i],
            rank=officers.rank[i],
        )
        for i in range(8)
    ]
    (out / "officers-for-demo.json").write_text(json.dumps(demo_accounts, indent=1) + "\n")
    files = sorted(
        str(f.relative_to(out)) for f in out.rglob("*") if f.is_file() and f.name != "manifest.json"
    )
    manifest = {
        "generator": "peel.synth",
        "generator_version": GENERATOR_VERSION,
        "scale": p.scale,
        "profile": p.profile,
        "seed": seed,
        "params_sha256": p.digest(),
        "params": p.model_dump(mode="json"),
        "start": str(p.start),
        "end": str(np.datetime64(p.start, "M") + np.timedelta64(p.months, "M")),
        "borough": BOROUGH,
        "rows": dict(sorted(counts.items())),
        "bad_rows": len(bad_rows),
        "files": files,
        "exports": _export_sources(out),
        "phone_case": phone_case,
        "synthetic": True,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    disk = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return {
        "manifest": manifest,
        "disk_bytes": disk,
        "peak_rss_bytes": peak,
        # The two ANPR worker processes (forked: they share the parent's pages until written).
        "peak_rss_worker_bytes": child,
    }


def _export_sources(out: Path) -> dict[str, str]:
    """Each export file and the source mapping that reads it."""
    by_name = {spec["file"]: source for source, spec in exports.FILES.items()}
    found = {}
    for f in sorted((out / "exports").iterdir()):
        if f.name.startswith("anpr-reads-"):
            found[f.name] = "anpr-read"
        elif f.name in by_name:
            found[f.name] = by_name[f.name]
    return found


_REC: tuple[Any, ...] | None = None


def _records_task() -> tuple[dict[str, int], list[dict[str, Any]]]:
    """The force's systems write the city down: every export but the ANPR reads, and the
    identity truth. Runs beside the ANPR months (in a worker process for big cities)."""
    assert _REC is not None
    p, seed, b, people, addr, veh, crimes, series, officers, ex, tr = _REC
    book = write_book(p, b, people, addr, veh, crimes, series, officers, stream(seed, "records"))
    bad_rows: list[dict[str, Any]] = []
    rng_bad = stream(seed, "bad-rows")
    counts: dict[str, int] = {}
    for source in sorted(book.tables):
        table = book.tables[source]
        spec = exports.FILES[source]
        planted_rows = exports.plant(source, table, rng_bad)
        path = ex / spec["file"]
        if spec.get("format") == "jsonl":
            rows = exports.write_jsonl_gz(path, table, planted_rows)
        else:
            rows = exports.write_csv(path, table, planted_rows, spec.get("encoding", "utf-8"))
        for r in rows:
            r["source"] = source
        bad_rows += rows
        counts[source] = len(next(iter(table.values())))
        table.clear()  # written: free its strings
    pq.write_table(pa.table(book.identity), tr / "person_identity.parquet", compression="zstd")
    return counts, bad_rows


@dataclass
class _AnprContext:
    """What every month of ANPR reads needs; inherited by forked worker processes."""

    p: Params
    seed: int
    veh: Any
    routes: Any
    days: list[np.datetime64]
    factor: float
    pairs: np.ndarray
    convoy_days: dict[int, set[int]]
    plate_idx: np.ndarray
    plate_dict: pa.Array
    cam_dict: pa.Array
    p_t: np.ndarray
    p_cam: np.ndarray
    p_plate: np.ndarray
    ex: Path
    tmp: Path


_CTX: _AnprContext | None = None
# Cities with at least this many reads are written by two processes.
POOL_READS = 5_000_000


def _write_reads(
    p: Params, seed: int, b: Any, people: Any, addr: Any, veh: Any, planted: Any, ex: Path
) -> tuple[
    tuple[dict[str, int], list[dict[str, Any]]],
    tuple[int, list[dict[str, Any]], pa.Table, pa.Table],
]:
    """Write the ANPR reads month by month, and the other exports (`_records_task`) beside
    them: (records result, (reads, bad rows, misreads, convoys))."""
    global _CTX
    rng = stream(seed, "anpr")
    routes = anpr.build_routes(p, b, people, addr, veh, rng)
    days = list(anpr.days(p))
    # Calibrate the trip rate on a sample week so the year lands near the scale's read count.
    probe = 0
    for d in days[:7]:
        v, r, t = anpr.day_trips(p, veh, d, stream(seed, "anpr-probe"), 1.0)
        probe += len(anpr.expand(routes, v, r, t, p.anpr.speed_ms, rng)[0])
    per_day = max(1.0, probe / 7 * p.anpr.detect)
    factor = float(np.clip(expected_reads(p) / len(days) / per_day, 0.05, 50))
    # Convoys: pairs that drive together on some days.
    cars = np.flatnonzero((veh.kind == KIND["car"]) & np.isnat(veh.stolen_on))
    pairs = rng.choice(cars, size=(min(p.anpr.convoys, len(cars) // 2), 2), replace=False)
    convoy_days = {
        int(i): set(rng.choice(len(days), size=int(rng.integers(4, 12)), replace=False).tolist())
        for i in range(len(pairs))
    }
    # Cloned plates outside series: another vehicle drives with a copy of the plate.
    clone_src = rng.choice(cars, size=min(p.anpr.clones, len(cars)), replace=False)
    thr = np.flatnonzero(veh.kind == KIND["through"])
    clone_dst = (
        rng.choice(thr, size=len(clone_src), replace=False)
        if len(thr) >= len(clone_src)
        else clone_src
    )
    # Plates are handled as indices into one Arrow string array (and the day's misreads
    # appended to it), so no per-read Python string is ever made.
    plate_idx = np.arange(len(veh))
    plate_idx[clone_dst] = clone_src
    index_of = {str(v): i for i, v in enumerate(veh.vrm)}
    tmp = ex.parent / "truth" / "_anpr_parts"
    tmp.mkdir(parents=True, exist_ok=True)
    _CTX = _AnprContext(
        p=p,
        seed=seed,
        veh=veh,
        routes=routes,
        days=days,
        factor=factor,
        pairs=pairs,
        convoy_days=convoy_days,
        plate_idx=plate_idx,
        plate_dict=pa.array(veh.vrm.astype(str), pa.string()),
        cam_dict=pa.array([f"CAM-SM-{i + 1:03d}" for i in range(len(b.cam_x))], pa.string()),
        p_t=np.array(planted.t_utc, dtype=np.int64),
        p_cam=np.array(planted.camera, dtype=np.int32),
        p_plate=np.array([index_of[x] for x in planted.plate], dtype=np.int64),
        ex=ex,
        tmp=tmp,
    )
    months = sorted({str(d)[:7] for d in days})
    try:
        if expected_reads(p) >= POOL_READS and (os.cpu_count() or 1) > 1:
            # Months are independent (each day has its own random stream), so big cities are
            # written by two forked processes; small ones in this process (same bytes).
            # The other exports go first, in one of the two workers, beside the months.
            ctx = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
                rec_future = pool.submit(_records_task)
                results = list(pool.map(_anpr_month, months))
                records = rec_future.result()
        else:
            records = _records_task()
            results = [_anpr_month(m) for m in months]
    finally:
        _CTX = None
    total = sum(r[0] for r in results)
    bad = [row for r in results for row in r[1]]
    conv_rows = [row for r in results for row in r[2]]
    parts = sorted(tmp.glob("*.parquet"))
    mis = (
        pa.concat_tables([pq.read_table(x) for x in parts])
        if parts
        else pa.table({"read_id": pa.array([], pa.string())})
    )
    shutil.rmtree(tmp)
    conv = (
        pa.Table.from_pylist(conv_rows)
        if conv_rows
        else pa.table({"vrm_a": pa.array([], pa.string())})
    )
    # Plates carried by a second vehicle outside any series (series clones: series_vehicle).
    cloned = pa.table(
        {
            "vrm": pa.array([str(veh.vrm[x]) for x in clone_src], pa.string()),
            "vehicle_id": pa.array(clone_src.astype(np.int64)),
            "clone_vehicle_id": pa.array(np.asarray(clone_dst, dtype=np.int64)),
        }
    )
    pq.write_table(cloned, ex.parent / "truth" / "cloned_plates.parquet", compression="zstd")
    return records, (total, bad, mis, conv)


def _anpr_month(month: str) -> tuple[int, list[dict[str, Any]], list[dict[str, Any]]]:
    """Write one month of reads: (reads written, planted bad rows, convoy rows)."""
    c = _CTX
    assert c is not None
    p, veh = c.p, c.veh
    name = f"anpr-reads-{month}.parquet"
    bad: list[dict[str, Any]] = []
    conv_rows: list[dict[str, Any]] = []
    mis_parts: list[pa.Table] = []
    total = 0
    writer: pq.ParquetWriter | None = None
    try:
        for di, d in enumerate(c.days):
            if str(d)[:7] != month:
                continue
            rng = stream(c.seed, f"anpr-day-{di}")
            v, r, t = anpr.day_trips(p, veh, d, rng, c.factor)
            rv, rc, rt = anpr.expand(c.routes, v, r, t, p.anpr.speed_ms, rng)
            # Convoys: on its convoy days the second vehicle follows the first through every
            # camera of its trips, a few seconds behind (each camera may still miss either).
            for k, (a, b2) in enumerate(c.pairs):
                if di in c.convoy_days[k]:
                    lead = np.flatnonzero(rv == a)
                    if len(lead):
                        gap = int(rng.integers(3, 40))
                        rv = np.concatenate([rv, np.full(len(lead), b2)])
                        rc = np.concatenate([rc, rc[lead]])
                        rt = np.concatenate([rt, rt[lead] + gap])
                        conv_rows.append(
                            dict(
                                vrm_a=str(veh.vrm[a]),
                                vrm_b=str(veh.vrm[b2]),
                                day=str(d),
                                passes=len(lead),
                                gap_seconds=gap,
                            )
                        )
            keep = rng.random(len(rv)) < p.anpr.detect
            rv, rc, rt = rv[keep], rc[keep], rt[keep]
            off = anpr.utc_offset_seconds(d)
            base = anpr.epoch(d)
            t_utc = base + rt - off
            pidx = c.plate_idx[rv]
            # Series and decoy reads planted near scenes today (local seconds since 1970).
            sel = (c.p_t >= base) & (c.p_t < base + 86400)
            if sel.any():
                pidx = np.concatenate([pidx, c.p_plate[sel]])
                rc = np.concatenate([rc, c.p_cam[sel]])
                t_utc = np.concatenate([t_utc, c.p_t[sel] - off])
            order = np.argsort(t_utc, kind="stable")
            pidx, rc, t_utc = pidx[order], rc[order], t_utc[order]
            n = len(pidx)
            if n == 0:
                continue
            conf = np.clip(rng.beta(30, 1.5, n), 0.5, 0.999)
            bad_ocr = np.flatnonzero(rng.random(n) < p.anpr.misread)
            true_idx = pidx[bad_ocr]
            wrong = [anpr.misread(rng, str(veh.vrm[i])) for i in true_idx]
            read_idx = pidx.copy()
            read_idx[bad_ocr] = len(c.plate_dict) + np.arange(len(bad_ocr))
            conf[bad_ocr] = np.clip(rng.beta(8, 3, len(bad_ocr)), 0.3, 0.99)
            lanes = rng.integers(1, 3, n)
            tbl, mis = _day_table(
                d,
                read_idx,
                rc,
                t_utc,
                conf,
                lanes,
                bad_ocr,
                true_idx,
                wrong,
                c.plate_dict,
                c.cam_dict,
            )
            if mis is not None:
                mis_parts.append(mis)
            if di == 0:
                # Bad rows go among the first reads of the city's first day (as Python values:
                # a few thousand rows, not the month).
                head_n = min(5000, tbl.num_rows)
                cols = {k: tbl.column(k).slice(0, head_n).to_pylist() for k in tbl.column_names}
                rows = exports.plant(
                    "anpr-read", cols, stream(c.seed, "bad-rows-anpr"), extra_per=10**9
                )
                head = pa.table({k: pa.array(vals, pa.string()) for k, vals in cols.items()})
                tbl = pa.concat_tables([head, tbl.slice(head_n)])
                bad.extend(
                    dict(file=name, line=r_ + 1, column=col, bad_class=cls, source="anpr-read")
                    for r_, cls, col in rows
                )
            if writer is None:
                # Dictionary encoding only where values repeat (plates, cameras, lanes,
                # confidences): trying it on unique ids and times only costs time.
                writer = pq.ParquetWriter(
                    c.ex / name,
                    tbl.schema,
                    compression="zstd",
                    use_dictionary=["VRM", "Camera ID", "Confidence", "Lane"],
                )
            writer.write_table(tbl, row_group_size=1 << 20)
            total += tbl.num_rows
    finally:
        if writer is not None:
            writer.close()
    if mis_parts:
        pq.write_table(pa.concat_tables(mis_parts), c.tmp / f"misreads-{month}.parquet")
    return total, bad, conv_rows


def _day_table(
    d: np.datetime64,
    read_idx: np.ndarray,
    rc: np.ndarray,
    t_utc: np.ndarray,
    conf: np.ndarray,
    lanes: np.ndarray,
    bad_ocr: np.ndarray,
    true_idx: np.ndarray,
    wrong: list[str],
    plate_dict: pa.Array,
    cam_dict: pa.Array,
) -> tuple[pa.Table, pa.Table | None]:
    """One day's reads in the anpr-read layout, and its misreads for truth."""
    n = len(read_idx)
    day_dict = pa.concat_arrays([plate_dict, pa.array(wrong, pa.string())])
    ds = str(d).replace("-", "")
    seq = pa.array(np.arange(1, n + 1))
    ids = pc.binary_join_element_wise(
        f"RD-{ds}-", pc.utf8_lpad(pc.cast(seq, pa.string()), 7, "0"), ""
    )
    # "2024-01-01 00:00:00" -> "2024-01-01T00:00:00Z" (Arrow's strftime is much slower).
    ts = pc.cast(pa.array(t_utc.astype("datetime64[s]"), pa.timestamp("s")), pa.string())
    iso_ts = pc.binary_join_element_wise(pc.replace_substring(ts, " ", "T"), "Z", "")
    tbl = pa.table(
        {
            "Read ID": ids,
            "VRM": pc.take(day_dict, pa.array(read_idx)),
            "Camera ID": pc.take(cam_dict, pa.array(rc)),
            "Read Time (UTC)": iso_ts,
            "Confidence": pc.cast(pa.array(np.round(conf, 3)), pa.string()),
            "Image Ref": pc.binary_join_element_wise(f"anpr-img/{d}/", ids, ".jpg", ""),
            "Lane": pc.cast(pa.array(lanes), pa.string()),
        }
    )
    mis = None
    if len(bad_ocr):
        mis = pa.table(
            {
                "read_id": pc.take(ids, pa.array(bad_ocr)),
                "vrm_read": pa.array(wrong, pa.string()),
                "vrm_true": pc.take(plate_dict, pa.array(true_idx)),
            }
        )
    return tbl, mis


def _write_truth(
    p: Params,
    tr: Path,
    b: Any,
    people: Any,
    addr: Any,
    veh: Any,
    crimes: Any,
    series: Any,
    flares: list[dict[str, Any]],
    bad_rows: list[dict[str, Any]],
    misreads: pa.Table,
    convoys: pa.Table,
    planted: Any,
) -> None:
    def write(name: str, table: pa.Table) -> None:
        pq.write_table(table, tr / f"{name}.parquet", compression="zstd")

    ax = addr.x[people.address]
    ay = addr.y[people.address]
    write(
        "person",
        pa.table(
            {
                "person_id": np.arange(len(people)),
                "forename": people.forename.astype(str),
                "middle_name": people.middle.astype(str),
                "surname": people.surname.astype(str),
                "sex": people.sex.astype(str),
                "date_of_birth": people.dob,
                "self_defined_ethnicity": people.eth.astype(str),
                "household": people.household,
                "resident": people.resident,
                "address": addr.text(people.address).astype(str),
                "postcode": addr.postcode[people.address].astype(str),
                "x": ax,
                "y": ay,
                "offender": people.offender,
                "pnc_id": people.pnc_id.astype(str),
                "hard_negative": people.hard_negative.astype(str),
                "alias_forename": people.alias_fore.astype(str),
                "alias_surname": people.alias_sur.astype(str),
            }
        ),
    )
    kp = veh.keeping
    write(
        "vehicle",
        pa.table(
            {
                "vehicle_id": np.arange(len(veh)),
                "vrm": veh.vrm.astype(str),
                "kind": np.array(list(KIND))[veh.kind],
                "driver_person_id": veh.home_person,
                "stolen_on": veh.stolen_on,
            }
        ),
    )
    write(
        "keeper",
        pa.table(
            {
                "vehicle_id": kp.vehicle,
                "vrm": veh.vrm[kp.vehicle].astype(str),
                "person_id": kp.person,
                "company": kp.company.astype(str),
                "start": kp.start,
                "end": kp.end,
            }
        ),
    )
    write(
        "crime",
        pa.table(
            {
                "crime_ref": crimes.ref.astype(str),
                "crime_type": crimes.ctype.astype(str),
                "x": crimes.x,
                "y": crimes.y,
                "committed_from_local": crimes.t_from.astype("datetime64[s]"),
                "committed_to_local": crimes.t_to.astype("datetime64[s]"),
                "series_id": crimes.series,
                "offender_person_id": crimes.offender,
                "flare_id": crimes.flare,
                "incident": crimes.incident,
            }
        ),
    )
    write(
        "series",
        pa.table(
            {
                "series_id": np.arange(len(series.ctype)),
                "crime_type": series.ctype,
                "offender_person_id": series.offender,
                "co_offender_person_id": series.co_offender,
                "near_home": series.near_home,
                "mo_core": series.mo_core,
                "crimes": [int((crimes.series == s).sum()) for s in range(len(series.ctype))],
            }
        ),
    )
    keeper_at = []
    for s in range(len(series.ctype)):
        v = series.vehicle[s]
        kept = [int(k) for k in np.flatnonzero(kp.vehicle == v)]
        keeper_at.append(int(kp.person[kept[-1]]) if kept else -1)
    write(
        "series_vehicle",
        pa.table(
            {
                "series_id": np.arange(len(series.ctype)),
                "vrm_read": series.plate,
                "vehicle_id": series.vehicle,
                "true_vrm": [str(veh.vrm[v]) for v in series.vehicle],
                "how": series.how,
                "keeper_person_id": keeper_at,
                "driver_person_id": series.offender,
            }
        ),
    )
    write(
        "series_reads",
        pa.table(
            {
                "crime_ref": [str(crimes.ref[c]) for c in planted.crime],
                "vrm": planted.plate,
                "camera_id": [f"CAM-SM-{c + 1:03d}" for c in planted.camera],
                "kind": planted.kind,
            }
        ),
    )
    write(
        "emerging",
        pa.Table.from_pylist(flares)
        if flares
        else pa.table({"flare_id": pa.array([], pa.int64())}),
    )
    write("bad_rows", pa.Table.from_pylist(sorted(bad_rows, key=lambda r: (r["file"], r["line"]))))
    write("anpr_misreads", misreads)
    write("convoys", convoys)


def _write_geojson(b: Any, path: Path) -> None:
    feats = []
    for i, (name, ring) in enumerate(zip(b.hood_names, b.hood_polygons_wgs84(), strict=False)):
        feats.append(
            {
                "type": "Feature",
                "properties": {
                    "id": f"SM-N{i + 1:02d}",
                    "name": name,
                    "team_ref": f"SM-NHT-{i + 1:02d}",
                },
                "geometry": {"type": "Polygon", "coordinates": [[list(pt) for pt in ring]]},
            }
        )
    lon, lat = to_wgs84(
        np.asarray([b.x0, b.x0 + b.width], float), np.asarray([b.y0, b.y0 + b.height], float)
    )
    doc = {
        "type": "FeatureCollection",
        "name": f"{BOROUGH} neighbourhoods",
        "bbox": [
            round(float(lon[0]), 6),
            round(float(lat[0]), 6),
            round(float(lon[1]), 6),
            round(float(lat[1]), 6),
        ],
        "features": feats,
    }
    path.write_text(json.dumps(doc, indent=1) + "\n")


__all__ = ["expected_reads", "generate", "stream"]
