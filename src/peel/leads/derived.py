"""What is derived from ANPR reads outside the lake, brought back in line with the reads the lake
still holds (after retention removed some).

Each step looks at the lake as it is and at the derived store, not at a list of removed reads,
so it can run again after a crash and finish the job:

- the per-plate background caches (`leads/background/`) and the calibration factors cached per
  background (`leads/calibration.json`) built from other files than the lake's current reads
  are deleted (the next lead search builds a new background);
- resolution's possible-clone flags (`plate_clones.parquet` of each run) that cite a read the
  lake no longer holds: the current run's flags are computed again from the reads that remain,
  an older run's rows citing a missing read are dropped;
- published vehicle profiles: the ANPR summary (number of sightings, last seen) and the
  possible-clone flag are recomputed from the lake and the current run, and a document that
  changes is written again with its new content hash.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import Connection, select, update

from peel.lake import Lake
from peel.lake.catalog import fsync_dir, fsync_file
from peel.leads import background
from peel.resolve.output import current_run, resolve_dir
from peel.resolve.profiles import content_hash, plain
from peel.resolve.vehicles import clone_flags
from peel.serving.tables import vehicle_profiles

log = logging.getLogger(__name__)
READ = "anpr_read:"


@dataclass
class CacheCounts:
    background_files: int = 0
    calibration_entries: int = 0


def stale_caches(lake: Lake, *, remove: bool) -> CacheCounts:
    """Background and calibration caches of other reads than the lake's current ones (deleted
    when `remove`)."""
    out = CacheCounts()
    fp = background.fingerprint(lake)
    folder = lake.settings.data_dir / "leads" / "background"
    if folder.exists():
        for p in sorted(folder.iterdir()):
            if p.is_file() and p.name.split(".")[0] != fp:
                out.background_files += 1
                if remove:
                    p.unlink()
    path = lake.settings.data_dir / "leads" / "calibration.json"
    if path.exists():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            data = None
        if not isinstance(data, dict):
            out.calibration_entries += 1
            if remove:
                path.unlink()
            return out
        keep = {}
        for key, value in data.items():
            try:
                bg = json.loads(key).get("bg")
            except (ValueError, AttributeError):
                bg = None
            if bg == fp:
                keep[key] = value
        out.calibration_entries += len(data) - len(keep)
        if remove and len(keep) < len(data):
            _atomic_write(path, json.dumps(keep, indent=1, sort_keys=True).encode(), lake)
    return out


def _atomic_write(path: Path, body: bytes, lake: Lake) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(body)
    if lake.settings.fsync:
        fsync_file(tmp)
    os.replace(tmp, path)
    if lake.settings.fsync:
        fsync_dir(path.parent)


def _atomic_parquet(path: Path, table: pa.Table, lake: Lake) -> None:
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd")
    if lake.settings.fsync:
        fsync_file(tmp)
    os.replace(tmp, path)
    if lake.settings.fsync:
        fsync_dir(path.parent)


def reads_missing(lake: Lake, ids: set[str]) -> set[str]:
    """Which of the read ids (UUID text) the lake does not hold."""
    if not ids:
        return set()
    engine = lake.engine()
    try:
        wanted = pa.table({"id": pa.array(sorted(ids), pa.string())})
        with engine.temp_table("peel_cited_reads", wanted):
            rows = engine.query(
                "SELECT DISTINCT CAST(row_id AS VARCHAR) AS id "
                f"FROM {engine.table_sql('anpr_read')} WHERE CAST(row_id AS VARCHAR) IN "
                "(SELECT id FROM peel_cited_reads)"
            )
    finally:
        engine.close()
    return ids - set(rows["id"].to_pylist())


def _clone_files(lake: Lake) -> list[Path]:
    root = resolve_dir(lake.settings)
    if not root.exists():
        return []
    return sorted(p / "plate_clones.parquet" for p in root.iterdir() if p.is_dir())


def _cited_by_clones(table: pa.Table) -> list[list[str]]:
    return [[str(r) for r in (rs or [])] for rs in table["example_reads"].to_pylist()]


def _doc_reads(doc: dict[str, Any]) -> list[str]:
    clone = (doc.get("flags") or {}).get("possible_clone") or {}
    return [e[len(READ) :] for e in clone.get("evidence", []) if str(e).startswith(READ)]


def sync_clone_flags(lake: Lake, docs: dict[str, dict[str, Any]]) -> int:
    """Bring every run's possible-clone flags in line with the lake; returns the rows removed
    (net, over all runs). `docs` are the published vehicle documents, whose cited reads are
    checked in the same lake query."""
    files = [p for p in _clone_files(lake) if p.exists()]
    tables = {p: pq.read_table(p) for p in files}
    cited = {r for t in tables.values() for rs in _cited_by_clones(t) for r in rs}
    cited |= {r for d in docs.values() for r in _doc_reads(d)}
    missing = reads_missing(lake, cited)
    if not missing:
        return 0
    run = current_run(lake.settings)
    removed = 0
    for path, t in tables.items():
        bad = [any(r in missing for r in rs) for rs in _cited_by_clones(t)]
        if not any(bad):
            continue
        if run is not None and path.parent == run.path:
            engine = lake.engine()
            try:
                fresh = clone_flags(engine)
            finally:
                engine.close()
        else:
            fresh = t.filter(pc.invert(pa.array(bad)))
        removed += t.num_rows - fresh.num_rows
        _atomic_parquet(path, fresh, lake)
    return removed


def _anpr_summary(lake: Lake, plates: list[str]) -> dict[str, dict[str, Any]]:
    """Sightings and last sighting per published plate, as `peel publish` computes them."""
    if not plates:
        return {}
    engine = lake.engine()
    try:
        engine.create_views()
        with engine.temp_table("peel_plates", pa.table({"k": sorted(plates)})):
            rows = engine.query(
                "SELECT p.k, count(*) AS n, max(r.read_at) AS last FROM anpr_read r "
                "JOIN peel_plates p ON p.k = upper(regexp_replace(r.vrm, '\\s', '', 'g')) "
                "GROUP BY p.k"
            ).to_pylist()
    finally:
        engine.close()
    return {r["k"]: {"sightings": int(r["n"]), "last_seen": plain(r["last"])} for r in rows}


def _clone_flag_of(lake: Lake) -> dict[str, dict[str, Any]] | None:
    """The current run's possible-clone flag per plate, as published (None: no run)."""
    run = current_run(lake.settings)
    if run is None:
        return None
    if not (run.path / "plate_clones.parquet").exists():
        return {}
    return {
        row["plate"]: {
            "impossible_pairs": int(row["impossible_pairs"]),
            "fastest_kmh": round(float(row["fastest_kmh"])),
            "evidence": [f"{READ}{r}" for r in row["example_reads"]],
        }
        for row in run.table("plate_clones").to_pylist()
    }


def vehicle_documents(conn: Connection) -> dict[str, dict[str, Any]]:
    rows = conn.execute(select(vehicle_profiles.c.vrm, vehicle_profiles.c.document)).all()
    return {str(r[0]): dict(r[1]) for r in rows}


def refreshed_documents(lake: Lake, docs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The documents whose ANPR parts differ from what the lake and the current run now say,
    as they should read."""
    summary = _anpr_summary(lake, list(docs))
    clones = _clone_flag_of(lake)
    out = {}
    for vrm, doc in docs.items():
        new = dict(doc)
        if "anpr" in doc:
            new["anpr"] = summary.get(vrm, {"sightings": 0, "last_seen": None})
        if clones is not None and isinstance(doc.get("flags"), dict):
            new["flags"] = {**doc["flags"], "possible_clone": clones.get(vrm)}
        if new != doc:
            out[vrm] = new
    return out


def write_documents(conn: Connection, docs: dict[str, dict[str, Any]]) -> None:
    for vrm, doc in docs.items():
        conn.execute(
            update(vehicle_profiles)
            .where(vehicle_profiles.c.vrm == vrm)
            .values(document=doc, content_hash=content_hash(doc))
        )


__all__ = [
    "CacheCounts",
    "reads_missing",
    "refreshed_documents",
    "stale_caches",
    "sync_clone_flags",
    "vehicle_documents",
    "write_documents",
]
