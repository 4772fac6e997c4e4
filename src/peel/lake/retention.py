"""Retention of a day-partitioned table (ANPR reads): find the rows older than a cutoff, and
rewrite the lake without them through the lake's own commit path.

`plan` reads only the partitions that can hold old rows (days up to the cutoff's day) and
returns, per data file, how many rows go and how many old rows stay because they are held
(cited by a lead someone accepted or actioned); it also plans the quarantine files of the
table's sources, since a rejected read is personal data with the same retention. `apply` then
writes each affected file's remaining rows to a new file (fsynced), and commits one manifest per
dataset that lists the new files and `supersedes` the old ones: a reader sees the lake as before
or as after, never between, and a crash leaves files no manifest lists, which `recover` deletes
(`peel.lake.catalog`). The superseded files are deleted after the commit.

Call both while holding the catalog's writer lock (`Catalog.writer_lock`), one after the other:
the plan is only good for the files it read.

The manifest records counts, the cutoff and a SHA-256 over the removed row ids (sorted 16-byte
values, concatenated): an auditor holding the ids can check them against it; the ids are not
kept anywhere.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from peel.errors import LakeError
from peel.lake import Lake
from peel.lake.catalog import FileEntry, Manifest, crash_point, fsync_dir, fsync_file
from peel.lake.writer import TableWriter
from peel.sources.mapping import FieldRule, Mapping, all_mappings

log = logging.getLogger(__name__)

UNKNOWN_DAY = "unknown"  # the partition of rows with no time: never aged
ID_BYTES = "S16"  # row ids as numpy fixed-width bytes: sort and compare as UUIDs do


def id_bytes(col: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A UUID (or 16-byte binary) column as a numpy array of 16-byte values (a copy)."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if isinstance(col, pa.ExtensionArray):
        col = col.storage
    if col.null_count:
        raise LakeError("retention: a row id is null")
    buf = col.buffers()[1]
    if buf is None:
        return np.empty(0, dtype=ID_BYTES)
    return np.frombuffer(buf, dtype=ID_BYTES)[col.offset : col.offset + len(col)].copy()


def ids_array(ids: list[str] | set[str]) -> np.ndarray:
    """Row ids given as UUID text, as a sorted numpy array of 16-byte values (bad text is
    skipped: evidence ids come from other stores)."""
    out = []
    for text in ids:
        try:
            out.append(uuid.UUID(text).bytes)
        except ValueError:
            continue
    return np.sort(np.array(out, dtype=ID_BYTES)) if out else np.empty(0, dtype=ID_BYTES)


def id_texts(ids: np.ndarray) -> list[str]:
    """16-byte values back to UUID text (numpy drops trailing zero bytes of an element: read
    them from the array's buffer)."""
    raw = np.ascontiguousarray(ids).tobytes()
    return [str(uuid.UUID(bytes=raw[i : i + 16])) for i in range(0, len(raw), 16)]


def ids_sha256(ids: np.ndarray) -> str:
    """SHA-256 over the ids, sorted, as concatenated 16-byte values: what the manifest and the
    audit entry record instead of the ids. `hashlib.sha256(b"".join(sorted(u.bytes for u in
    ids)))` gives the same."""
    return hashlib.sha256(np.ascontiguousarray(np.sort(ids)).tobytes()).hexdigest()


@dataclass
class FilePlan:
    entry: FileEntry
    dataset: str
    synthetic: bool
    purge: int  # rows that go
    held: int  # old rows that stay because they are held


@dataclass
class QuarantinePlan:
    entry: FileEntry
    dataset: str
    synthetic: bool
    purge: int


@dataclass
class RetentionPlan:
    table: str
    cutoff: datetime
    examined: int = 0  # rows in the partitions that could hold old rows
    files: list[FilePlan] = field(default_factory=list)  # files losing rows
    quarantine: list[QuarantinePlan] = field(default_factory=list)  # quarantine files losing rows
    quarantine_examined: int = 0
    held: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=ID_BYTES))
    purged: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=ID_BYTES))
    held_found: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=ID_BYTES))

    @property
    def reads_deleted(self) -> int:
        return len(self.purged)

    @property
    def quarantine_deleted(self) -> int:
        return sum(q.purge for q in self.quarantine)

    @property
    def empty(self) -> bool:
        return not self.files and not self.quarantine

    def sha256(self) -> str:
        return ids_sha256(self.purged)


@dataclass
class ApplyResult:
    files_rewritten: int = 0  # files replaced by a smaller one
    files_deleted: int = 0  # files with nothing left
    quarantine_files_rewritten: int = 0
    manifests: list[int] = field(default_factory=list)


def _old_mask(table: pa.Table, time_field: str, cutoff: datetime) -> pa.Array:
    col = table[time_field]
    scalar = pa.scalar(cutoff, type=col.type)
    return pc.fill_null(pc.less(col, scalar), False).combine_chunks()


def _candidate_day(partition: str | None, cutoff: datetime) -> bool:
    if partition is None or partition == UNKNOWN_DAY:
        return False
    try:
        return date.fromisoformat(partition) <= cutoff.date()
    except ValueError:
        return False


def plan(
    lake: Lake, cutoff: datetime, held: np.ndarray, *, table: str = "anpr_read"
) -> RetentionPlan:
    """What retention at `cutoff` removes from `table` and its quarantine; `held` (sorted
    16-byte ids) are kept whatever their age."""
    if cutoff.tzinfo is None:
        raise LakeError("retention: the cutoff needs a time zone")
    spec = lake.registry.by_table(table)
    time_field = spec.layout.partition_field
    if time_field is None:
        raise LakeError(f"retention: table {table} is not partitioned by a time")
    held = np.sort(held)
    out = RetentionPlan(table=table, cutoff=cutoff.astimezone(UTC), held=held)
    purged: list[np.ndarray] = []
    found: list[np.ndarray] = []
    for m in lake.catalog.manifests():
        for entry in m.tables.get(table, []):
            if not _candidate_day(entry.partition, out.cutoff):
                continue
            t = pq.read_table(lake.settings.data_dir / entry.path, columns=["row_id", time_field])
            out.examined += t.num_rows
            old = _old_mask(t, time_field, out.cutoff).to_numpy(zero_copy_only=False)
            if not old.any():
                continue
            ids = id_bytes(t["row_id"])
            is_held = np.isin(ids, held) if len(held) else np.zeros(len(ids), dtype=bool)
            go = old & ~is_held
            found.append(ids[old & is_held])
            if go.any():
                purged.append(ids[go])
                out.files.append(
                    FilePlan(
                        entry, m.dataset, m.synthetic, int(go.sum()), int((old & is_held).sum())
                    )
                )
    if purged:
        out.purged = np.sort(np.concatenate(purged))
    if found:
        out.held_found = np.unique(np.concatenate(found))
    _plan_quarantine(lake, out, table)
    return out


# --- quarantine ------------------------------------------------------------------------------


def _sources_of(table: str) -> dict[str, Mapping]:
    return {name: m for name, m in all_mappings().items() if m.entity.table == table}


def _parse_time(text: str | None, rule: FieldRule, tz: ZoneInfo) -> datetime | None:
    if not text:
        return None
    text = text.strip()
    for fmt in rule.formats or ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"):
        try:
            value = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC if rule.timezone != "local" else tz)
        return value.astimezone(UTC)
    return None


def _batch_day_end(batch: str) -> datetime | None:
    """The end of the day a batch was ingested (its id starts YYYYMMDD): a bound on the time of
    any row it read."""
    try:
        day = datetime.strptime(batch[:8], "%Y%m%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    return day + timedelta(days=1)


class _QuarantineAges:
    """The time of each quarantined row of the table's sources: its own time field when the
    raw values give one that parses, else the end of its batch's ingest day (a row is never
    younger than that). Rows of other sources get None (not aged here)."""

    def __init__(self, lake: Lake, table: str) -> None:
        self.sources = _sources_of(table)
        time_field = lake.registry.by_table(table).layout.partition_field
        assert time_field is not None
        self.rules = {name: m.rule(time_field) for name, m in self.sources.items()}
        self.headers = {
            m.batch: list(m.details.get("header") or []) for m in lake.catalog.manifests()
        }
        self.tz = ZoneInfo(lake.settings.timezone)

    def _text(self, r: dict[str, Any], column: str) -> str | None:
        raw = r["raw"] or ""
        if r["raw_kind"] == "fields":
            try:
                values = json.loads(raw)
            except ValueError:
                return None
            got = values.get(column) if isinstance(values, dict) else None
            return got if isinstance(got, str) else None
        header = self.headers.get(str(r["batch"])) or list(self.sources[r["source"]].columns)
        if column not in header:
            return None
        try:
            fields = next(csv.reader([raw]))
        except (csv.Error, StopIteration):
            return None
        i = header.index(column)
        return fields[i] if i < len(fields) else None

    def keep(self, t: pa.Table, cutoff: datetime) -> np.ndarray:
        rows = t.select(["source", "raw", "raw_kind", "batch"]).to_pylist()
        keep = np.ones(len(rows), dtype=bool)
        for i, r in enumerate(rows):
            rule = self.rules.get(r["source"])
            if rule is None:
                continue
            when = _parse_time(self._text(r, rule.column), rule, self.tz) if rule.column else None
            if when is None:
                when = _batch_day_end(str(r["batch"]))
            keep[i] = when is None or when >= cutoff
        return keep


def _plan_quarantine(lake: Lake, out: RetentionPlan, table: str) -> None:
    ages = _QuarantineAges(lake, table)
    if not ages.sources:
        return
    for m in lake.catalog.manifests():
        for entry in m.quarantine:
            t = pq.read_table(
                lake.settings.data_dir / entry.path, columns=["source", "raw", "raw_kind", "batch"]
            )
            keep = ages.keep(t, out.cutoff)
            out.quarantine_examined += t.num_rows
            if not keep.all():
                out.quarantine.append(
                    QuarantinePlan(entry, m.dataset, m.synthetic, int((~keep).sum()))
                )


# --- applying ---------------------------------------------------------------------------------


def _batch_id() -> str:
    return time.strftime("%Y%m%d") + "-r" + uuid.uuid4().hex[:11]


def apply(lake: Lake, p: RetentionPlan, *, details: dict[str, Any]) -> ApplyResult:
    """Rewrite the planned files and commit, one manifest per dataset (each one step: a crash
    between two leaves the first dataset done, and a rerun does the rest)."""
    result = ApplyResult()
    if p.empty:
        return result
    settings = lake.settings
    catalog = lake.catalog
    spec = lake.registry.by_table(p.table)
    time_field = spec.layout.partition_field
    assert time_field is not None
    ages = _QuarantineAges(lake, p.table)
    datasets = sorted(
        {(f.dataset, f.synthetic) for f in p.files}
        | {(q.dataset, q.synthetic) for q in p.quarantine}
    )
    for dataset, synthetic in datasets:
        files = [f for f in p.files if f.dataset == dataset]
        quarantine = [q for q in p.quarantine if q.dataset == dataset]
        batch = _batch_id()
        writer = TableWriter(settings.data_dir, p.table, batch, fsync=settings.fsync)
        removed = 0
        for f in files:
            path = settings.data_dir / f.entry.path
            t = pq.read_table(path)
            old = _old_mask(t, time_field, p.cutoff).to_numpy(zero_copy_only=False)
            ids = id_bytes(t["row_id"])
            is_held = np.isin(ids, p.held) if len(p.held) else np.zeros(len(ids), dtype=bool)
            keep = ~(old & ~is_held)
            removed += int((~keep).sum())
            if keep.any():
                writer.write_file(t.filter(pa.array(keep)), f.entry.partition)
                result.files_rewritten += 1
            else:
                result.files_deleted += 1
        entries = writer.close()
        q_entries: list[FileEntry] = []
        q_removed = 0
        for i, q in enumerate(quarantine, 1):
            path = settings.data_dir / q.entry.path
            t = pq.read_table(path)
            keep = ages.keep(t, p.cutoff)
            q_removed += int((~keep).sum())
            if keep.any():
                settings.quarantine_dir.mkdir(parents=True, exist_ok=True)
                target = settings.quarantine_dir / f"{batch}-{i:05d}.parquet"
                pq.write_table(t.filter(pa.array(keep)), target, compression="zstd")
                crash_point("data-written")
                if settings.fsync:
                    fsync_file(target)
                q_entries.append(
                    FileEntry(
                        path=str(target.relative_to(settings.data_dir)),
                        rows=int(keep.sum()),
                        bytes=target.stat().st_size,
                    )
                )
                result.quarantine_files_rewritten += 1
        if q_entries and settings.fsync:
            fsync_dir(settings.quarantine_dir)
        supersedes = [f.entry.path for f in files] + [q.entry.path for q in quarantine]
        manifest = Manifest(
            seq=catalog.next_seq(),
            batch=batch,
            kind="retention",
            source="retention",
            dataset=dataset,
            synthetic=synthetic,
            input_file="",
            input_sha256="",
            counts={
                "rows_removed": removed,
                "quarantine_removed": q_removed,
                "files_rewritten": len(entries),
                "files_superseded": len(supersedes),
            },
            tables={p.table: entries} if entries else {},
            quarantine=q_entries,
            details=details,
            supersedes=supersedes,
        )
        crash_point("before-commit")
        catalog.commit(manifest)
        result.manifests.append(manifest.seq)
        for rel in supersedes:
            old_path = settings.data_dir / rel
            crash_point("cleanup")
            old_path.unlink(missing_ok=True)
            _remove_empty(old_path.parent, settings.data_dir / "lake" / p.table)
        log.info(
            "retention: dataset batch %s removed %d rows and %d quarantined rows, %d files "
            "superseded",
            batch,
            removed,
            q_removed,
            len(supersedes),
        )
    return result


def _remove_empty(folder: Path, stop: Path) -> None:
    """Remove a day folder left empty (never the table's own folder)."""
    if folder == stop or stop not in folder.parents:
        return
    with contextlib.suppress(OSError):  # not empty
        folder.rmdir()


__all__ = [
    "ApplyResult",
    "FilePlan",
    "QuarantinePlan",
    "RetentionPlan",
    "apply",
    "id_bytes",
    "id_texts",
    "ids_array",
    "ids_sha256",
    "plan",
]
