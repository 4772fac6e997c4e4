"""`peel evidence ingest --case C PATH...`: case material into the case's store, hashed,
deduplicated, threaded, indexed, recorded in the audit chain.

One call is one batch. For each file: its SHA-256 (a file already ingested is skipped), the
original kept under that hash, its items read (every bad line reported, every good item
kept), each item stored by the SHA-256 of its content, exact duplicates pointed at the first
copy. Then e-mails are threaded (Message-ID, In-Reply-To, References), the new items indexed,
the batch's manifest (files and every item's hash) written and fsynced, and finally the
manifest's hash recorded in the serving store and the audit chain in one transaction. Only
then are the items usable: a batch the serving store never recorded (the process died, the
audit write failed) is removed at the next ingest and its items are never shown.

Formats, by name and header: WhatsApp exports (.txt), SMS and call logs (.csv, told apart by
their header), the phone's contact list (.csv with name and phone or e-mail columns and no
message text: kept for redaction, not as items), e-mail (.mbox, .eml) and JSON Lines
(.jsonl, .ndjson). Anything else is refused by name.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from peel.errors import AccessDenied, InputRefused
from peel.evidence.chats import Problem, read_chat
from peel.evidence.items import Item, from_chat
from peel.evidence.search import CaseIndex
from peel.evidence.store import CaseStore, case_dir, sha256_file
from peel.governance import cases
from peel.governance.access import Caller, check, operation, record_denial
from peel.governance.policy import Policy
from peel.serving import Store
from peel.serving.tables import evidence_batches

PERMISSION = "evidence.review"
MAX_REPORTED = 200  # problems listed in the result; all of them are in the catalogue
_TEXT_COLUMNS = {"text", "body", "message", "content", "duration", "direction"}


@dataclass
class FileResult:
    name: str
    sha256: str
    format: str
    status: str  # ingested, already ingested, refused
    items: int = 0
    duplicates: int = 0
    contacts: int = 0
    problems: list[Problem] = field(default_factory=list)
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sha256": self.sha256,
            "format": self.format,
            "status": self.status,
            "items": self.items,
            "duplicates": self.duplicates,
            "contacts": self.contacts,
            "problems": len(self.problems),
            "message": self.message,
        }


def _header(path: Path) -> list[str]:
    with path.open("rb") as f:
        head = f.read(64 * 1024)
    text = head.decode("utf-8-sig", errors="replace")
    first = text.splitlines()[0] if text else ""
    try:
        row = next(csv.reader(io.StringIO(first)))
    except (StopIteration, csv.Error):
        return []
    return [c.strip().lower() for c in row]


def detect(path: Path) -> str:
    """The format of a file, by its name and (for CSV) its header; refused if unknown."""
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return "whatsapp"
    if suffix in (".mbox", ".mbx"):
        return "mbox"
    if suffix == ".eml":
        return "eml"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".csv":
        cols = set(_header(path))
        texty = bool(cols & {"text", "body", "message", "content", "message text", "sms"})
        if "name" in cols and ({"phone", "email"} & cols) and not (_TEXT_COLUMNS & cols):
            return "contacts"
        if texty:
            return "sms"
        if cols & {"duration", "duration_seconds", "duration (s)", "call duration", "call type"}:
            return "calls"
        if cols & {"direction", "type"}:  # a call log without durations (missed calls only)
            return "calls"
        return "sms"  # the SMS reader names the missing columns
    raise InputRefused(
        f"{path.name}: not a format Peel reads as case material (WhatsApp .txt, SMS or call "
        ".csv, contacts .csv, .mbox, .eml, .jsonl)"
    )


def read_items(path: Path, fmt: str, problems: list[Problem]) -> Iterator[Item]:
    if fmt == "whatsapp":
        chat = read_chat(path)
        problems.extend(chat.problems)
        if chat.date_order_ambiguous:
            problems.append(
                Problem(0, f"dates fit both day and month orders: read as {chat.date_order}")
            )
        name = path.stem
        for m in chat.messages:
            yield from_chat(m, name)
        return
    if fmt in ("mbox", "eml"):
        from peel.evidence import mail

        yield from (mail.read_mbox if fmt == "mbox" else mail.read_eml)(path, problems)
        return
    from peel.evidence import logs

    reader = {"sms": logs.read_sms_csv, "calls": logs.read_calls_csv, "jsonl": logs.read_jsonl}
    yield from reader[fmt](path, problems)


def read_contacts(path: Path, problems: list[Problem]) -> list[tuple[str, str, str]]:
    """(name, phone, email) rows of a contact list; a row without a name is reported."""
    out: list[tuple[str, str, str]] = []
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as f:
        reader = csv.reader(f)
        try:
            header = [c.strip().lower() for c in next(reader)]
        except (StopIteration, csv.Error):
            problems.append(Problem(1, "no header"))
            return out
        col = {c: i for i, c in enumerate(header)}
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as e:
                problems.append(Problem(start, f"not a CSV row: {e}"))
                continue
            line = start
            if not any(v.strip() for v in row):
                continue

            def get(name: str, row: list[str] = row) -> str:
                i = col.get(name)
                return row[i].strip() if i is not None and i < len(row) else ""

            if not get("name"):
                problems.append(Problem(line, "a contact without a name, left out"))
                continue
            out.append((get("name")[:200], get("phone")[:64], get("email")[:320]))
    return out


def _thread_key(item: Item, file_sha: str) -> str:
    if item.kind == "chat":
        return f"chat:{item.conversation}"
    if item.kind in ("sms", "call"):
        return f"phone:{item.conversation}"
    if item.kind == "email":
        return ""  # set by thread_emails
    return f"record:{item.conversation or file_sha[:16]}"


def thread_emails(cs: CaseStore) -> None:
    """Group the case's e-mails into threads: a message joins the thread of every message
    it names (In-Reply-To, References) or that names it. Union-find over Message-IDs; the
    thread is named after its first item."""
    db = cs.db()
    rows = db.execute(
        "SELECT i.id, o.body FROM items i JOIN objects o ON o.sha256 = i.sha256 "
        "WHERE i.kind = 'email' ORDER BY i.id"
    ).fetchall()
    if not rows:
        return
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    own: dict[int, str] = {}
    for iid, body in rows:
        meta = json.loads(bytes(body)).get("meta", {})
        me = (meta.get("message_id") or "").strip() or f"#item-{iid}"
        own[int(iid)] = me
        named = f"{meta.get('in_reply_to') or ''} {meta.get('references') or ''}".split()
        for other in named[:200]:
            union(me, other.strip())
        find(me)
    first: dict[str, int] = {}
    for iid, me in own.items():
        root = find(me)
        first[root] = min(first.get(root, iid), iid)
    db.executemany(
        "UPDATE items SET thread = ? WHERE id = ?",
        [(f"email:{first[find(me)]}", iid) for iid, me in own.items()],
    )


def authorise(
    store: Store,
    policy: Policy,
    caller: Caller,
    reference: str,
    *,
    operation: str,
    object_type: str,
    action: str,
) -> None:
    """The caller may review (evidence.review, for disclosure of this case) and is a member
    of the case; a refusal is audited as a denied `operation` on `object_type`. Every
    evidence command and page goes through this."""
    try:
        check(policy, caller, PERMISSION)
        if caller.case_reference != reference:
            raise AccessDenied(
                f"this work is for case {reference!r}: give it as the case reference"
            )
        with store.read() as conn:
            if cases.get_case(conn, reference) is None:
                raise AccessDenied(f"no case with reference {reference!r}")
            if not cases.is_member(conn, caller.username, reference):
                raise AccessDenied(f"{caller.username} is not a member of case {reference!r}")
    except AccessDenied:
        record_denial(
            store,
            caller,
            operation=operation,
            object_type=object_type,
            query={"case": reference, "action": action},
            clock=lambda: datetime.now(UTC),
        )
        raise


def recorded_batches(store: Store, reference: str) -> dict[int, str]:
    with store.read() as conn:
        return {
            int(b): str(h)
            for b, h in conn.execute(
                select(evidence_batches.c.batch, evidence_batches.c.manifest_sha256).where(
                    evidence_batches.c.case_reference == reference
                )
            )
        }


def open_case(store: Store, data_dir: Path, reference: str, *, create: bool = False) -> CaseStore:
    """The case's store with the recorded manifests loaded (every read checks against them)."""
    root = case_dir(data_dir, reference)
    with _open_lock:
        cs = _open.get(root)
        if cs is None or not (root / "items.sqlite").exists():
            cs = CaseStore(root, create=create)
            _open[root] = cs
    cs.set_recorded(recorded_batches(store, reference))
    return cs


# One CaseStore per case folder in a process, so the checked manifests are read once.
_open: dict[Path, CaseStore] = {}
_open_lock = threading.Lock()


def _drop_unrecorded(cs: CaseStore, recorded: dict[int, str]) -> list[int]:
    db = cs.db()
    batches = {int(b) for (b,) in db.execute("SELECT DISTINCT batch FROM files")}
    batches |= {int(b) for (b,) in db.execute("SELECT batch FROM batches")}
    gone = sorted(b for b in batches if b not in recorded)
    if not gone:
        return []
    ids = [
        int(i)
        for (i,) in db.execute(
            f"SELECT id FROM items WHERE batch IN ({','.join('?' * len(gone))})", gone
        )
    ]
    with db:
        for b in gone:
            shas = [s for (s,) in db.execute("SELECT sha256 FROM files WHERE batch = ?", (b,))]
            for s in shas:
                db.execute("DELETE FROM problems WHERE file_sha256 = ?", (s,))
                db.execute("DELETE FROM contacts WHERE file_sha256 = ?", (s,))
            db.execute("DELETE FROM items WHERE batch = ?", (b,))
            db.execute("DELETE FROM files WHERE batch = ?", (b,))
            db.execute("DELETE FROM batches WHERE batch = ?", (b,))
            (cs.root / "batches" / f"{b}.json").unlink(missing_ok=True)
        db.execute("DELETE FROM objects WHERE sha256 NOT IN (SELECT sha256 FROM items)")
    if ids:
        CaseIndex(cs.root).delete(ids)
    return gone


def ingest(
    store: Store,
    policy: Policy,
    caller: Caller,
    *,
    data_dir: Path,
    reference: str,
    paths: list[Path],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Any]:
    """Ingest `paths` as one batch of the case (see the module docstring)."""
    authorise(
        store,
        policy,
        caller,
        reference,
        operation="collection",
        object_type="evidence_batch",
        action="ingest",
    )
    if not paths:
        raise InputRefused("give at least one file of case material")
    for p in paths:
        if not p.is_file():
            raise InputRefused(f"{p.name}: no such file")
    recorded = recorded_batches(store, reference)
    cs = CaseStore(case_dir(data_dir, reference), create=True)
    dropped = _drop_unrecorded(cs, recorded)
    next_id, batch = cs.next_ids()
    db = cs.db()
    results: list[FileResult] = []
    new_items: list[tuple[int, Item]] = []
    manifest_items: list[list[Any]] = []
    seen_in_batch: set[str] = set()
    with db:
        for path in paths:
            sha, size = sha256_file(path)
            try:
                fmt = detect(path)
            except InputRefused as e:
                results.append(FileResult(path.name, sha, "", "refused", message=str(e)))
                continue
            if cs.has_file(sha) or sha in seen_in_batch:
                results.append(
                    FileResult(
                        path.name,
                        sha,
                        fmt,
                        "already ingested",
                        message="this exact file is in the case already",
                    )
                )
                continue
            seen_in_batch.add(sha)
            cs.keep_original(path, sha)
            fr = FileResult(path.name, sha, fmt, "ingested")
            if fmt == "contacts":
                rows = read_contacts(path, fr.problems)
                db.executemany(
                    "INSERT INTO contacts (name, phone, email, file_sha256) VALUES (?, ?, ?, ?)",
                    [(*r, sha) for r in rows],
                )
                fr.contacts = len(rows)
            else:
                for item in read_items(path, fmt, fr.problems):
                    body = item.canonical()
                    isha = item.sha256()
                    db.execute(
                        "INSERT OR IGNORE INTO objects (sha256, body) VALUES (?, ?)", (isha, body)
                    )
                    first = db.execute(
                        "SELECT min(id) FROM items WHERE sha256 = ?", (isha,)
                    ).fetchone()[0]
                    at = item.sent_at.isoformat() if item.sent_at is not None else None
                    db.execute(
                        "INSERT INTO items (id, sha256, batch, file_sha256, line, kind, "
                        "conversation, thread, sent_at, sender, attachments, duplicate_of) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            next_id,
                            isha,
                            batch,
                            sha,
                            item.line,
                            item.kind,
                            item.conversation,
                            _thread_key(item, sha),
                            at,
                            item.sender,
                            len(item.attachments),
                            first,
                        ),
                    )
                    if first is not None:
                        fr.duplicates += 1
                    new_items.append((next_id, item))
                    manifest_items.append([next_id, isha])
                    next_id += 1
                    fr.items += 1
            db.executemany(
                "INSERT INTO problems (file_sha256, file, line, reason) VALUES (?, ?, ?, ?)",
                [(sha, path.name, p.line, p.reason) for p in fr.problems],
            )
            db.execute(
                "INSERT INTO files (sha256, name, format, size, batch, items, problems) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (sha, path.name, fmt, size, batch, fr.items, len(fr.problems)),
            )
            results.append(fr)
        thread_emails(cs)
        files = [r.as_dict() for r in results if r.status == "ingested"]
        manifest = {"case": reference, "batch": batch, "files": files, "items": manifest_items}
        manifest_sha = cs.write_manifest(batch, manifest) if files else ""
        if files:
            db.execute(
                "INSERT INTO batches (batch, manifest_sha256, items) VALUES (?, ?, ?)",
                (batch, manifest_sha, len(manifest_items)),
            )
    if new_items:
        CaseIndex(cs.root).add(new_items)
    if files:
        with operation(
            store,
            policy,
            caller,
            permission=PERMISSION,
            operation="collection",
            object_type="evidence_batch",
            query={
                "case": reference,
                "batch": batch,
                "manifest_sha256": manifest_sha,
                "items": len(manifest_items),
                "files": [{"name": f["name"], "sha256": f["sha256"]} for f in files],
            },
            clock=clock,
        ) as op:
            op.conn.execute(
                insert(evidence_batches).values(
                    case_reference=reference,
                    batch=batch,
                    manifest_sha256=manifest_sha,
                    items=len(manifest_items),
                    files=files,
                    ingested_by=caller.username,
                    ingested_at=clock(),
                )
            )
            op.returned([f"{reference}#batch-{batch}"])
    cs.close()
    problems = [
        {"file": r.name, "line": p.line, "reason": p.reason} for r in results for p in r.problems
    ]
    return {
        "case": reference,
        "batch": batch if files else None,
        "manifest_sha256": manifest_sha or None,
        "files": [r.as_dict() for r in results],
        "items_stored": sum(r.items for r in results),
        "duplicates": sum(r.duplicates for r in results),
        "contacts": sum(r.contacts for r in results),
        "problems_total": len(problems),
        "problems": problems[:MAX_REPORTED],
        "batches_dropped": dropped,
    }


__all__ = [
    "FileResult",
    "authorise",
    "detect",
    "ingest",
    "open_case",
    "read_contacts",
    "read_items",
    "recorded_batches",
    "thread_emails",
]
