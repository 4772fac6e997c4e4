"""A case's material on disk: originals and items stored by SHA-256, checked on every read.

    evidence/<case>/originals/<sha256>   each file as ingested (written once, fsynced)
    evidence/<case>/items.sqlite         the catalogue: item bytes by hash, where each item
                                         was found, contacts, reading problems, batches
    evidence/<case>/batches/<n>.json     each batch's manifest: its files and its items' hashes
    evidence/<case>/index/               the case's search index (peel.evidence.search)

An item's bytes are its canonical content (`Item.canonical`); its id is its position in the
case (1, 2, ...). A batch's manifest lists every item's (id, sha256); the manifest's own
SHA-256 goes into the audit chain and the serving store when the batch is recorded
(`peel.evidence.ingest`). Reading an item recomputes the hash of its bytes and compares it
with the manifest's, and the manifest's with the recorded one: a changed byte anywhere blocks
the item's use (`EvidenceTampered`), and so does a batch the serving store never recorded.

The catalogue is SQLite whichever serving store is configured (INTERFACES: the evidence
search is files under `evidence/<case-id>/`): it is the case's file, copied and kept with it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from peel.errors import PeelError
from peel.evidence.items import Item, canonical_bytes, from_content

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (sha256 TEXT PRIMARY KEY, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    sha256 TEXT PRIMARY KEY, name TEXT NOT NULL, format TEXT NOT NULL, size INTEGER NOT NULL,
    batch INTEGER NOT NULL, items INTEGER NOT NULL, problems INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY, sha256 TEXT NOT NULL, batch INTEGER NOT NULL,
    file_sha256 TEXT NOT NULL, line INTEGER NOT NULL, kind TEXT NOT NULL,
    conversation TEXT NOT NULL, thread TEXT NOT NULL, sent_at TEXT, sender TEXT,
    attachments INTEGER NOT NULL, duplicate_of INTEGER);
CREATE INDEX IF NOT EXISTS items_sha ON items (sha256);
CREATE INDEX IF NOT EXISTS items_thread ON items (thread, coalesce(sent_at, ''), id);
CREATE TABLE IF NOT EXISTS contacts (
    name TEXT NOT NULL, phone TEXT NOT NULL, email TEXT NOT NULL, file_sha256 TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS problems (
    file_sha256 TEXT NOT NULL, file TEXT NOT NULL, line INTEGER NOT NULL, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    batch INTEGER PRIMARY KEY, manifest_sha256 TEXT NOT NULL, items INTEGER NOT NULL);
"""


class EvidenceError(PeelError):
    """No such case material, or material that cannot be read."""


class EvidenceTampered(PeelError):
    """Stored material whose bytes no longer match the hash recorded when it was ingested.
    Its use is blocked until the material is restored from the originals."""


def case_dir(data_dir: Path, reference: str) -> Path:
    """evidence/<case>/ with the reference made safe as one folder name (`/` and `:` are
    allowed in references)."""
    return data_dir / "evidence" / quote(reference, safe="-_.")


def sha256_file(path: Path) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durable(path: Path, data: bytes) -> None:
    """Write `data` to `path` under a temporary name, fsync, rename into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


@dataclass(frozen=True)
class StoredItem:
    """An item read back and checked: its id, where it was found, and its content."""

    id: int
    sha256: str
    batch: int
    file: str
    line: int
    thread: str
    duplicate_of: int | None
    item: Item


class CaseStore:
    """One case's material (see the module docstring). Thread-safe for readers; one writer
    (an ingest) at a time."""

    def __init__(self, root: Path, *, create: bool = False) -> None:
        self.root = root
        if not (root / "items.sqlite").exists():
            if not create:
                raise EvidenceError("no material has been ingested for this case")
            for sub in ("originals", "batches", "index"):
                (root / sub).mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._manifests: dict[int, dict[int, str]] = {}
        self._recorded: Mapping[int, str] | None = None
        with self.db() as db:
            db.executescript(_SCHEMA)

    # -- connections ---------------------------------------------------------------------------
    def db(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.root / "items.sqlite", timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- writing (the ingest) ------------------------------------------------------------------
    def keep_original(self, path: Path, sha256: str) -> None:
        target = self.root / "originals" / sha256
        if target.exists():
            return
        tmp = target.with_name(f".{sha256}.tmp")
        shutil.copyfile(path, tmp)
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
        fsync_dir(target.parent)

    def has_file(self, sha256: str) -> bool:
        return (
            self.db().execute("SELECT 1 FROM files WHERE sha256 = ?", (sha256,)).fetchone()
            is not None
        )

    def next_ids(self) -> tuple[int, int]:
        """(the next item id, the next batch number)."""
        db = self.db()
        item = db.execute("SELECT coalesce(max(id), 0) + 1 FROM items").fetchone()[0]
        batch = db.execute("SELECT coalesce(max(batch), 0) + 1 FROM batches").fetchone()[0]
        files_batch = db.execute("SELECT coalesce(max(batch), 0) + 1 FROM files").fetchone()[0]
        return int(item), int(max(batch, files_batch))

    def write_manifest(self, batch: int, manifest: dict[str, Any]) -> str:
        data = canonical_bytes(manifest)
        write_durable(self.root / "batches" / f"{batch}.json", data)
        return hashlib.sha256(data).hexdigest()

    # -- reading -------------------------------------------------------------------------------
    def set_recorded(self, recorded: Mapping[int, str]) -> None:
        """The manifest hashes the serving store recorded, batch by batch (each read checks
        its batch's manifest against them)."""
        new = dict(recorded)
        with self._lock:
            if self._recorded is not None:
                for b in list(self._manifests):
                    if new.get(b) != self._recorded.get(b):
                        del self._manifests[b]
            self._recorded = new

    @property
    def recorded(self) -> dict[int, str]:
        return dict(self._recorded or {})

    def _manifest(self, batch: int) -> dict[int, str]:
        with self._lock:
            got = self._manifests.get(batch)
        if got is not None:
            return got
        if self._recorded is None:
            raise EvidenceError("the case's recorded batches were not loaded")
        want = self._recorded.get(batch)
        if want is None:
            raise EvidenceTampered(f"batch {batch} was never recorded: its items are not usable")
        try:
            data = (self.root / "batches" / f"{batch}.json").read_bytes()
        except OSError as e:
            raise EvidenceTampered(f"the manifest of batch {batch} is missing") from e
        if hashlib.sha256(data).hexdigest() != want:
            raise EvidenceTampered(
                f"the manifest of batch {batch} does not match the hash in the audit record"
            )
        doc = json.loads(data)
        hashes = {int(i): str(h) for i, h in doc["items"]}
        with self._lock:
            self._manifests[batch] = hashes
        return hashes

    def recorded_only(self, ids: list[int]) -> list[int]:
        """`ids` without the items of batches the serving store has not recorded (a batch
        being ingested right now, or one whose process died): those are never shown, and a
        search must not fail on them."""
        if not ids or self._recorded is None:
            return ids
        marks = ",".join("?" * len(ids))
        batch = dict(
            self.db().execute(f"SELECT id, batch FROM items WHERE id IN ({marks})", ids).fetchall()
        )
        return [i for i in ids if batch.get(i) in self._recorded]

    def count(self) -> int:
        # Ids run 1..n without gaps (an ingest takes the next ones; a dropped batch is the
        # last), so the largest id is the count, read from the key's index.
        return int(self.db().execute("SELECT coalesce(max(id), 0) FROM items").fetchone()[0])

    def item(self, item_id: int) -> StoredItem:
        got = self.items([item_id])
        if not got:
            raise EvidenceError(f"no item {item_id} in this case")
        return got[0]

    def items(self, ids: Iterable[int]) -> list[StoredItem]:
        """The items with these ids (in the order given, unknown ids left out), each checked:
        raises EvidenceTampered on the first whose bytes or manifest do not match."""
        want = [int(i) for i in ids]
        if not want:
            return []
        out: dict[int, StoredItem] = {}
        db = self.db()
        for start in range(0, len(want), 500):
            chunk = want[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = db.execute(
                "SELECT i.id, i.sha256, i.batch, f.name, i.line, i.thread, i.duplicate_of, "
                "o.body, o.sha256 FROM items i JOIN files f ON f.sha256 = i.file_sha256 "
                f"LEFT JOIN objects o ON o.sha256 = i.sha256 WHERE i.id IN ({marks})",
                chunk,
            ).fetchall()
            for iid, sha, batch, fname, line, thread, dup, raw, osha in rows:
                # A value changed to another type (text for bytes) is a change too.
                body = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
                self._check(int(iid), str(sha), int(batch), body, osha)
                content = json.loads(bytes(body))
                out[int(iid)] = StoredItem(
                    int(iid),
                    sha,
                    int(batch),
                    fname,
                    int(line),
                    thread,
                    dup,
                    from_content(content, int(line)),
                )
        return [out[i] for i in want if i in out]

    def _check(self, iid: int, sha: str, batch: int, body: bytes | None, osha: str | None) -> None:
        if body is None or osha is None:
            raise EvidenceTampered(f"item {iid}: its stored bytes are missing")
        if hashlib.sha256(bytes(body)).hexdigest() != sha:
            raise EvidenceTampered(
                f"item {iid}: its stored bytes do not match their SHA-256; use is blocked"
            )
        if self._manifest(batch).get(iid) != sha:
            raise EvidenceTampered(f"item {iid}: its hash is not the one its batch recorded")

    def verify(self) -> list[str]:
        """Every item and original checked; the problems found (empty when all is well)."""
        bad: list[str] = []
        db = self.db()
        for (iid,) in db.execute("SELECT id FROM items ORDER BY id").fetchall():
            try:
                self.item(int(iid))
            except EvidenceTampered as e:
                bad.append(str(e))
        for sha, name in db.execute("SELECT sha256, name FROM files").fetchall():
            path = self.root / "originals" / sha
            if not path.exists() or sha256_file(path)[0] != sha:
                bad.append(f"original {name}: missing or changed")
        return bad

    def rows(self, where: str = "", params: Iterable[Any] = ()) -> Iterator[sqlite3.Row]:
        """Catalogue rows of items (no content; nothing to check), for counts and ordering."""
        cur = self.db().cursor()
        cur.row_factory = sqlite3.Row  # this cursor only: the connection is shared
        yield from cur.execute(
            "SELECT id, sha256, batch, kind, conversation, thread, sent_at, sender, "
            f"attachments, duplicate_of FROM items {where}",
            tuple(params),
        )

    def contacts(self) -> list[tuple[str, str, str]]:
        return [
            (str(n), str(p), str(e))
            for n, p, e in self.db().execute("SELECT name, phone, email FROM contacts")
        ]

    def context(self, item_id: int, k: int) -> list[int]:
        """The ids of at most k items either side of `item_id` in its thread, by time."""
        db = self.db()
        row = db.execute(
            "SELECT thread, coalesce(sent_at, '') FROM items WHERE id = ?", (item_id,)
        ).fetchone()
        if row is None:
            raise EvidenceError(f"no item {item_id} in this case")
        thread, at = row
        key = "coalesce(sent_at, '')"
        before = db.execute(
            f"SELECT id FROM items WHERE thread = ? AND ({key} < ? OR ({key} = ? AND id < ?)) "
            f"ORDER BY {key} DESC, id DESC LIMIT ?",
            (thread, at, at, item_id, k),
        ).fetchall()
        after = db.execute(
            f"SELECT id FROM items WHERE thread = ? AND ({key} > ? OR ({key} = ? AND id > ?)) "
            f"ORDER BY {key}, id LIMIT ?",
            (thread, at, at, item_id, k),
        ).fetchall()
        return [int(r[0]) for r in reversed(before)] + [item_id] + [int(r[0]) for r in after]


__all__ = [
    "CaseStore",
    "EvidenceError",
    "EvidenceTampered",
    "StoredItem",
    "case_dir",
    "sha256_file",
    "write_durable",
]
