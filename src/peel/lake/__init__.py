"""The lake: canonical tables as Parquet under `PEEL_DATA_DIR/lake`, listed by committed
manifests, queried in process through the engine seam (DuckDB; Spark later)."""

from __future__ import annotations

from pathlib import Path

from peel.lake.catalog import Catalog, FileEntry, Manifest
from peel.lake.engine import PROVENANCE, DuckDBEngine, Engine
from peel.schema import Registry, get_registry
from peel.settings import Settings, get_settings


class Lake:
    """The lake of one data directory: its catalog, its engine, its schema."""

    def __init__(self, settings: Settings | None = None, registry: Registry | None = None) -> None:
        self.settings = settings or get_settings()
        self.registry = registry or get_registry()
        self.catalog = Catalog(self.settings.data_dir, fsync=self.settings.fsync)

    @property
    def lake_dir(self) -> Path:
        return self.settings.lake_dir

    def engine(self) -> DuckDBEngine:
        """A new DuckDB engine over the committed files (close it when done)."""
        return DuckDBEngine(self.settings, self.catalog, self.registry)

    def recover(self) -> int:
        """Remove files an interrupted batch left behind (takes the writer lock)."""
        with self.catalog.writer_lock():
            return self.catalog.recover()


__all__ = ["PROVENANCE", "Catalog", "DuckDBEngine", "Engine", "FileEntry", "Lake", "Manifest"]
