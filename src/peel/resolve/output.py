"""Where a resolution run's results live and how they are read.

A run writes `PEEL_DATA_DIR/resolve/person/<run id>/` (files fsynced), then replaces
`resolve/person/CURRENT` (the run id) in one rename: a reader sees the whole previous run or
the whole new one. Files of a run:

- `records.parquet`: every person record resolved (record_id, source, lake_table, row_id,
  dataset, person_system, person_ref and the normalised identity columns);
- `clusters.parquet`: record_id, profile_id (one row per record);
- `pairs.parquet`: scored candidate pairs (record_id_l, record_id_r, match_weight,
  match_probability) at or above the prediction threshold;
- `model.json` (Splink's settings and trained parameters) and `card.json` (data
  fingerprint, settings, training, counts, evaluation when run).

The model is also copied to `PEEL_DATA_DIR/models/person-resolution/<run id>/` as INTERFACES
lays out.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from peel.errors import PeelError
from peel.lake.catalog import fsync_dir, fsync_file
from peel.settings import Settings


def resolve_dir(settings: Settings) -> Path:
    return settings.data_dir / "resolve" / "person"


@dataclass(frozen=True)
class ResolveRun:
    run_id: str
    path: Path

    def table(self, name: str) -> pa.Table:
        return pq.read_table(self.path / f"{name}.parquet")

    def clusters(self) -> pa.Table:
        return self.table("clusters")

    def records(self) -> pa.Table:
        return self.table("records")

    def pairs(self) -> pa.Table:
        return self.table("pairs")

    @property
    def model_json(self) -> Path:
        return self.path / "model.json"

    def card(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.path / "card.json").read_text(encoding="utf-8"))
        return data

    def write_card(self, card: dict[str, Any]) -> None:
        _write_json(self.path / "card.json", card)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=str), encoding="utf-8")
    fsync_file(tmp)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def current_run(settings: Settings) -> ResolveRun | None:
    """The run readers see, or None before the first."""
    pointer = resolve_dir(settings) / "CURRENT"
    if not pointer.exists():
        return None
    run_id = pointer.read_text(encoding="utf-8").strip()
    path = resolve_dir(settings) / run_id
    if not (path / "clusters.parquet").exists():
        raise PeelError(f"resolve: CURRENT names run {run_id!r}, which has no clusters file")
    return ResolveRun(run_id, path)


def require_run(settings: Settings) -> ResolveRun:
    run = current_run(settings)
    if run is None:
        raise PeelError("no resolution run yet: run `peel resolve run` first")
    return run


def write_run(settings: Settings, run_id: str, tables: dict[str, pa.Table]) -> ResolveRun:
    path = resolve_dir(settings) / run_id
    path.mkdir(parents=True, exist_ok=False)
    for name, table in tables.items():
        target = path / f"{name}.parquet"
        pq.write_table(table, target, compression="zstd")
        if settings.fsync:
            fsync_file(target)
    return ResolveRun(run_id, path)


def publish_run(settings: Settings, run: ResolveRun) -> None:
    """Make `run` the one readers see (one rename)."""
    if settings.fsync:
        fsync_dir(run.path)
    pointer = resolve_dir(settings) / "CURRENT"
    tmp = pointer.with_suffix(".tmp")
    tmp.write_text(run.run_id + "\n", encoding="utf-8")
    fsync_file(tmp)
    os.replace(tmp, pointer)
    fsync_dir(pointer.parent)


__all__ = [
    "ResolveRun",
    "current_run",
    "publish_run",
    "require_run",
    "resolve_dir",
    "write_run",
]
