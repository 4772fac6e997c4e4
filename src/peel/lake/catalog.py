"""The lake's catalog: which data files exist, as listed by committed batch manifests.

Commit protocol (one writer at a time, under an exclusive lock on `_catalog/.lock`):
1. data and quarantine files are written under new unique names and fsynced;
2. the manifest is written to `_catalog/.pending-<batch>.json` and fsynced;
3. it is renamed to `_catalog/<seq>.json` (atomic on POSIX) and the directory fsynced.
A reader lists `_catalog/*.json` and sees only the files those manifests name, so a batch is
visible completely or not at all. A crash before step 3 leaves files no manifest lists: the next
writer removes them (`recover`) before it starts.

Files are never changed in place. A rewrite (retention, erasure) writes the rows that stay to new
files and commits a manifest that lists them and names the old files in `supersedes`: from that
commit on, the old files are listed by no manifest (`manifests()` leaves superseded entries out),
so readers stop seeing them in the same one step, and the writer deletes them after the commit
(or `recover` does, after a crash).

Written by hand rather than with Delta Lake or Iceberg: `deltalake` and `pyiceberg` would add a
second table engine beside DuckDB (and Spark later) for what is one atomic rename; the manifests
here are plain JSON a reviewer can read, and the Spark engine reads the same file lists.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peel.errors import LakeError

log = logging.getLogger(__name__)

CATALOG = "_catalog"
STAGING = "_staging"
_MANIFEST = re.compile(r"^(\d{10})\.json$")


def crash_point(step: str) -> None:
    """Fault injection for the crash test: the process dies here, as under `kill -9`, when
    `PEEL_TEST_CRASH_AT` names this step. Read from the environment at call time, never set
    outside tests."""
    if os.environ.get("PEEL_TEST_CRASH_AT") == step:
        os._exit(137)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class FileEntry:
    path: str  # relative to the data directory
    rows: int
    bytes: int
    partition: str | None = None  # e.g. "2024-03-01" for day-partitioned tables


@dataclass
class Manifest:
    seq: int
    batch: str
    kind: str  # "ingest", "retry" or "retention"
    source: str
    dataset: str
    synthetic: bool
    input_file: str
    input_sha256: str
    counts: dict[str, int]
    tables: dict[str, list[FileEntry]] = field(default_factory=dict)
    quarantine: list[FileEntry] = field(default_factory=list)
    resolves: list[str] = field(default_factory=list)  # quarantine ids a retry dealt with
    details: dict[str, Any] = field(default_factory=dict)
    # Files of earlier manifests this one replaces (paths relative to the data directory).
    supersedes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "batch": self.batch,
            "kind": self.kind,
            "source": self.source,
            "dataset": self.dataset,
            "synthetic": self.synthetic,
            "input_file": self.input_file,
            "input_sha256": self.input_sha256,
            "counts": self.counts,
            "tables": {t: [vars(f) for f in fs] for t, fs in self.tables.items()},
            "quarantine": [vars(f) for f in self.quarantine],
            "resolves": self.resolves,
            "details": self.details,
            "supersedes": self.supersedes,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        return cls(
            seq=int(data["seq"]),
            batch=data["batch"],
            kind=data["kind"],
            source=data["source"],
            dataset=data["dataset"],
            synthetic=bool(data["synthetic"]),
            input_file=data["input_file"],
            input_sha256=data["input_sha256"],
            counts=data["counts"],
            tables={t: [FileEntry(**f) for f in fs] for t, fs in data["tables"].items()},
            quarantine=[FileEntry(**f) for f in data["quarantine"]],
            resolves=list(data.get("resolves", [])),
            details=dict(data.get("details", {})),
            supersedes=list(data.get("supersedes", [])),
        )


class Catalog:
    """Reads and commits manifests under `<data_dir>/lake/_catalog`."""

    def __init__(self, data_dir: Path, *, fsync: bool = True) -> None:
        self.data_dir = data_dir
        self.lake_dir = data_dir / "lake"
        self.quarantine_dir = data_dir / "quarantine"
        self.dir = self.lake_dir / CATALOG
        self.fsync = fsync

    # --- reading ---------------------------------------------------------------------------

    def manifests(self) -> list[Manifest]:
        """Committed manifests in commit order, each listing only its files that no later
        manifest supersedes (the files a reader may see)."""
        if not self.dir.exists():
            return []
        out = []
        for p in sorted(self.dir.iterdir()):
            if not _MANIFEST.match(p.name):
                continue
            try:
                out.append(Manifest.from_json(json.loads(p.read_text(encoding="utf-8"))))
            except (ValueError, KeyError, TypeError) as e:
                raise LakeError(f"lake catalog: manifest {p.name} is unreadable ({e})") from e
        gone = {s for m in out for s in m.supersedes}
        if gone:
            for m in out:
                m.tables = {t: [f for f in fs if f.path not in gone] for t, fs in m.tables.items()}
                m.tables = {t: fs for t, fs in m.tables.items() if fs}
                m.quarantine = [f for f in m.quarantine if f.path not in gone]
        return out

    def table_files(self, table: str, partitions: set[str] | None = None) -> list[Path]:
        files = []
        for m in self.manifests():
            for f in m.tables.get(table, []):
                if partitions is None or f.partition in partitions:
                    files.append(self.data_dir / f.path)
        return files

    def tables(self) -> list[str]:
        return sorted({t for m in self.manifests() for t in m.tables})

    def listed_paths(self) -> set[Path]:
        listed: set[Path] = set()
        for m in self.manifests():
            for fs in m.tables.values():
                listed.update(self.data_dir / f.path for f in fs)
            listed.update(self.data_dir / f.path for f in m.quarantine)
        return listed

    # --- writing ---------------------------------------------------------------------------

    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        """Exclusive lock for one writer; readers never take it."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with (self.dir / ".lock").open("a+") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def recover(self) -> int:
        """Remove what an interrupted batch left behind: files no manifest lists, pending
        manifests and staging folders. Call only while holding the writer lock."""
        listed = self.listed_paths()
        removed = 0
        for p in self.dir.glob(".pending-*.json"):
            p.unlink()
            removed += 1
        staging = self.lake_dir / STAGING
        if staging.exists():
            shutil.rmtree(staging)
        for root in (self.lake_dir, self.quarantine_dir):
            if not root.exists():
                continue
            for p in root.rglob("*.parquet"):
                if CATALOG in p.parts or STAGING in p.parts:
                    continue
                if p not in listed:
                    crash_point("cleanup")
                    p.unlink()
                    removed += 1
        if removed:
            log.info("lake recovery removed %d unlisted files", removed)
        return removed

    def next_seq(self) -> int:
        seqs = [int(m.group(1)) for p in self.dir.glob("*.json") if (m := _MANIFEST.match(p.name))]
        return max(seqs, default=0) + 1

    def commit(self, manifest: Manifest) -> Path:
        """Make a batch visible in one step. Call while holding the writer lock."""
        self.dir.mkdir(parents=True, exist_ok=True)
        pending = self.dir / f".pending-{manifest.batch}.json"
        body = json.dumps(manifest.to_json(), indent=1, sort_keys=True)
        with pending.open("w", encoding="utf-8") as fh:
            fh.write(body)
            fh.flush()
            if self.fsync:
                os.fsync(fh.fileno())
        crash_point("manifest-written")
        final = self.dir / f"{manifest.seq:010d}.json"
        if final.exists():
            raise LakeError(f"lake catalog: manifest {final.name} already exists")
        os.rename(pending, final)
        crash_point("manifest-renamed")
        if self.fsync:
            fsync_dir(self.dir)
        return final


__all__ = [
    "CATALOG",
    "STAGING",
    "Catalog",
    "FileEntry",
    "Manifest",
    "crash_point",
    "fsync_dir",
    "fsync_file",
]
