"""The per-plate background: how often each plate is read at each camera in each hour of the
week, over the whole lake. Built once (one GROUP BY over the reads) and cached under
`PEEL_DATA_DIR/leads/background/`, keyed by the committed files it was built from, so a new
ingest builds a new one and a lead search never scans the year.

Hours of the week are counted in UTC from the epoch (portable: EXTRACT(EPOCH ...) exists in
DuckDB, PostgreSQL and Spark); hour 0 is Monday 00:00 UTC.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from peel.lake import Lake
from peel.lake.engine import Engine
from peel.leads.window import PLATE

logger = logging.getLogger(__name__)
HOURS_PER_WEEK = 168
# 1970-01-01 was a Thursday: three days after a Monday.
EPOCH_HOUR_OF_WEEK = 72


@dataclass
class Background:
    """Counts per (plate, camera, hour of week) as arrays, with per-plate totals."""

    plates: np.ndarray  # plate text, index = plate code
    cameras: np.ndarray  # camera id, index = camera code
    plate: np.ndarray  # int32 per row
    camera: np.ndarray  # int32 per row
    how: np.ndarray  # int16 per row, hour of week
    n: np.ndarray  # float64 per row, reads
    weeks: float  # span of the reads, in weeks
    fingerprint: str
    build_seconds: float
    cached: bool
    # Every raw spelling of a plate in the reads counted (vrm as read, plate normalised):
    # lets a query find a plate's reads by the raw column, which costs a third of
    # normalising every read it scans (None: not known, the query normalises).
    spellings: pa.Table | None = None

    def __post_init__(self) -> None:
        # Rows grouped by camera (a stable sort: each camera's rows keep their order), so a
        # search reads the rows of the scenes' cameras as contiguous slices (`camera_starts`)
        # instead of gathering them from all over 80 million rows. Totals and shares are sums
        # of whole counts, so the order changes none of them.
        if len(self.camera) > 1 and bool(np.any(self.camera[1:] < self.camera[:-1])):
            order = np.argsort(self.camera, kind="stable")
            self.plate = self.plate[order]
            self.how = self.how[order]
            self.n = self.n[order]
            self.camera = self.camera[order]

    # Derived arrays, computed once per Background (a process keeps the last one loaded, so
    # a server or a benchmark pays for them once, not per search).
    @functools.cached_property
    def plate_total(self) -> np.ndarray:
        return np.bincount(self.plate, weights=self.n, minlength=len(self.plates))

    @functools.cached_property
    def total_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """(distinct plate totals, plates with each), sorted."""
        totals, counts = np.unique(self.plate_total, return_counts=True)
        return totals, counts

    @functools.cached_property
    def _cell_share(self) -> np.ndarray:
        cells = self.camera.astype(np.int64) * HOURS_PER_WEEK + self.how
        m = np.bincount(cells, weights=self.n, minlength=len(self.cameras) * HOURS_PER_WEEK)
        return (m / max(m.sum(), 1.0)).reshape(len(self.cameras), HOURS_PER_WEEK)

    def cell_share(self) -> np.ndarray:
        """Share of all reads at each (camera, hour of week): shape (cameras, 168)."""
        return self._cell_share

    @functools.cached_property
    def _index(self) -> dict[str, int]:
        return {str(p): i for i, p in enumerate(self.plates)}

    def index(self) -> dict[str, int]:
        return self._index

    def spellings_of(self, plates: Sequence[str]) -> pa.Table | None:
        """(vrm, plate): every raw spelling in the counted reads of these normalised plates,
        or None when the background does not know its spellings."""
        if self.spellings is None:
            return None
        wanted = pc.is_in(self.spellings["plate"], value_set=pa.array(list(plates), pa.string()))
        return self.spellings.filter(wanted)

    @functools.cached_property
    def camera_starts(self) -> np.ndarray:
        """The rows of camera c are starts[c]:starts[c + 1]."""
        return np.searchsorted(self.camera, np.arange(len(self.cameras) + 1))


_LAST: dict[str, Background] = {}  # the last background loaded in this process, by fingerprint


def fingerprint(lake: Lake) -> str:
    files = [str(p) for t in ("anpr_read", "anpr_camera") for p in lake.catalog.table_files(t)]
    return hashlib.sha256("\n".join(sorted(files)).encode()).hexdigest()[:20]


def _build(engine: Engine) -> tuple[pa.Table, float]:
    counts = engine.query(
        f"""
        SELECT plate, camera_id, CAST(MOD(h + {EPOCH_HOUR_OF_WEEK}, {HOURS_PER_WEEK}) AS SMALLINT)
                 AS how, COUNT(*) AS n
        FROM (SELECT {PLATE.format(c="vrm")} AS plate, camera_id,
                     CAST(FLOOR(EXTRACT(EPOCH FROM read_at) / 3600) AS BIGINT) AS h
              FROM {engine.table_sql("anpr_read")} WHERE vrm IS NOT NULL) r
        GROUP BY plate, camera_id, MOD(h + {EPOCH_HOUR_OF_WEEK}, {HOURS_PER_WEEK})
        ORDER BY plate, camera_id, how
        """
    )
    span = engine.query(
        "SELECT MIN(EXTRACT(EPOCH FROM read_at)) AS a, MAX(EXTRACT(EPOCH FROM read_at)) AS b "
        f"FROM {engine.table_sql('anpr_read')}"
    ).to_pylist()[0]
    weeks = max(((span["b"] or 0) - (span["a"] or 0)) / (7 * 86400.0), 1.0)
    return counts, float(weeks)


def _spellings(engine: Engine) -> pa.Table:
    """Every distinct vrm of the reads, with its normalised plate."""
    return engine.query(
        f"SELECT vrm, {PLATE.format(c='vrm')} AS plate FROM (SELECT DISTINCT vrm "
        f"FROM {engine.table_sql('anpr_read')} WHERE vrm IS NOT NULL) r ORDER BY plate, vrm"
    )


def load(lake: Lake, engine: Engine, *, rebuild: bool = False) -> Background:
    """The cached background for the lake's current reads, built if missing."""
    fp = fingerprint(lake)
    folder = lake.settings.data_dir / "leads" / "background"
    path = folder / f"{fp}.parquet"
    meta_path = folder / f"{fp}.json"
    spell_path = folder / f"{fp}.spellings.parquet"
    if not rebuild and fp in _LAST:
        return _LAST[fp]
    cached = path.exists() and meta_path.exists() and not rebuild
    spellings: pa.Table | None = None
    if cached:
        table = pq.read_table(path)
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        weeks, seconds = float(meta["weeks"]), float(meta["build_seconds"])
        if spell_path.exists():
            spellings = pq.read_table(spell_path)
    else:
        t0 = time.perf_counter()
        table, weeks = _build(engine)
        spellings = _spellings(engine)
        seconds = time.perf_counter() - t0
        folder.mkdir(parents=True, exist_ok=True)
        _atomic_parquet(table, path)
        _atomic_parquet(spellings, spell_path)
        _atomic_text(
            meta_path, json.dumps({"weeks": weeks, "build_seconds": seconds, "rows": len(table)})
        )
        logger.info("per-plate background built: %d rows in %.1fs", len(table), seconds)
    if spellings is None:
        # A background cached before spellings were kept: about 2 s at 100 million reads.
        spellings = _spellings(engine)
        _atomic_parquet(spellings, spell_path)
    bg = _arrays(table, weeks, fp, seconds, cached)
    bg.spellings = spellings
    _LAST.clear()
    _LAST[fp] = bg
    return bg


def _atomic_parquet(table: pa.Table, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _arrays(table: pa.Table, weeks: float, fp: str, seconds: float, cached: bool) -> Background:
    plate_enc = table["plate"].combine_chunks().dictionary_encode()
    cam_enc = table["camera_id"].combine_chunks().dictionary_encode()
    return Background(
        plates=np.asarray(plate_enc.dictionary.to_pylist(), dtype=object),
        cameras=np.asarray(cam_enc.dictionary.to_pylist(), dtype=object),
        plate=plate_enc.indices.to_numpy(zero_copy_only=False).astype(np.int32),
        camera=cam_enc.indices.to_numpy(zero_copy_only=False).astype(np.int32),
        how=table["how"].to_numpy().astype(np.int16),
        n=table["n"].to_numpy().astype(np.float64),
        weeks=weeks,
        fingerprint=fp,
        build_seconds=seconds,
        cached=cached,
    )


__all__ = ["HOURS_PER_WEEK", "Background", "fingerprint", "load"]
