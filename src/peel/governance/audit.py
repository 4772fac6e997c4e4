"""The tamper-evident audit log: one entry per personal-data operation (DPA 2018 s.62), per
login and per admin action, hash-chained.

Each entry's hash is SHA-256 over the canonical serialisation of every other column, the
previous entry's hash among them, so changing, removing, inserting or reordering entries
breaks the chain from that point. Appends are serialised so that concurrent requests never
fork the chain: SQLite transactions start with BEGIN IMMEDIATE (peel.serving.engine), and on
PostgreSQL the append is one call of the function `peel_audit_append` (migration 0008), which
takes an advisory lock, reads the head, hashes and inserts in one round trip; the hash it
computes is checked here against `entry_hash` before the caller's transaction can commit.

`append` writes in the caller's transaction: if it fails, the operation it records fails too.
`check_chain` walks the entries in seq order, a page at a time, and names the first one that
breaks the chain; `peel.governance.verify` adds the signed checkpoints to it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, text
from sqlalchemy.exc import SQLAlchemyError

from peel.errors import AuditError
from peel.serving.tables import AUDIT_COLUMNS, audit_log, audit_subjects
from peel.serving.types import canonical_json

GENESIS = "0" * 64
# One advisory lock id for the chain (PostgreSQL): any constant unique to Peel.
CHAIN_LOCK_ID = 0x5EE1_A0D1

# DPA 2018 s.62 operations, plus the security events the issue asks for.
OPERATIONS = (
    "collection",
    "alteration",
    "consultation",
    "disclosure",
    "combination",
    "erasure",
    "login",
    "logout",
    "admin",
)
OUTCOMES = ("ok", "denied", "failed")
MAX_SUBJECTS = 100_000


@dataclass(frozen=True)
class AuditEvent:
    """What happened. object_ids lists every subject and record the operation returned or
    changed; query holds its parameters (no free text that could carry personal data beyond
    what the caller typed: search terms are kept, as the law asks)."""

    actor: str
    actor_role: str
    operation: str
    object_type: str
    object_ids: Sequence[str] = ()
    query: Mapping[str, Any] = field(default_factory=dict)
    purpose: str = ""
    justification: str = ""
    case_reference: str = ""
    recipient: str = ""
    outcome: str = "ok"
    request_id: str = ""


def utc_ms(moment: datetime) -> str:
    """UTC with milliseconds, the audit's one time format: 2026-11-27T15:04:05.123Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.astimezone(UTC).microsecond // 1000:03d}Z"
    )


def entry_hash(row: Mapping[str, Any]) -> str:
    """SHA-256 over every column but `hash`, in a canonical serialisation (sorted keys,
    no whitespace, UTF-8)."""
    body = {k: row[k] for k in AUDIT_COLUMNS if k != "hash"}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


# Built once (its cache key is memoised): read by every append.
_HEAD = select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
_INSERT = insert(audit_log)
_INSERT_SUBJECTS = insert(audit_subjects)


def head(conn: Connection) -> tuple[int, str]:
    """(count of entries, hash of the last one) as stored."""
    row = conn.execute(_HEAD).first()
    return (0, GENESIS) if row is None else (int(row.seq), str(row.hash))


# The highest seq this process has appended, per database (whether or not its transaction
# committed): lets the app skip asking the database whether a checkpoint is due after
# requests that could not have made one due (see checkpoint.might_be_due).
_appended: dict[str, int] = {}


def last_appended(engine_url: str) -> int:
    """The highest seq this process appended to the database at `engine_url` (0: none)."""
    return _appended.get(engine_url, 0)


def append(
    conn: Connection,
    event: AuditEvent,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Any]:
    """Append one entry in the caller's transaction and return it. Raises AuditError, and the
    caller's transaction must then roll back (it does, when used inside `Store.begin()`)."""
    if event.operation not in OPERATIONS:
        raise AuditError(f"unknown audit operation {event.operation!r}")
    if event.outcome not in OUTCOMES:
        raise AuditError(f"unknown audit outcome {event.outcome!r}")
    ids = [str(i) for i in event.object_ids]
    if len(ids) > MAX_SUBJECTS:
        raise AuditError(f"{len(ids)} objects in one entry; the most is {MAX_SUBJECTS}")
    row: dict[str, Any] = {
        "ts": utc_ms(clock()),
        "actor": event.actor,
        "actor_role": event.actor_role,
        "operation": event.operation,
        "object_type": event.object_type,
        "object_ids": canonical_json(ids),
        "query": canonical_json(dict(event.query)),
        "purpose": event.purpose,
        "justification": event.justification,
        "case_reference": event.case_reference,
        "recipient": event.recipient,
        "outcome": event.outcome,
        "request_id": event.request_id or uuid.uuid4().hex,
    }
    unique = sorted(set(ids))
    try:
        if conn.dialect.name == "postgresql":
            _append_postgresql(conn, row, unique)
        else:
            # SQLite: the transaction already holds the write lock (BEGIN IMMEDIATE), so the
            # head cannot move until it commits.
            seq, prev = head(conn)
            row["seq"] = seq + 1
            row["prev_hash"] = prev
            row["hash"] = entry_hash(row)
            conn.execute(_INSERT, [row])
            if unique:
                conn.execute(
                    _INSERT_SUBJECTS, [{"seq": row["seq"], "object_id": i} for i in unique]
                )
    except SQLAlchemyError as e:
        # No detail from the driver: it can quote the row, and the row names people.
        raise AuditError(f"the audit entry could not be written ({type(e).__name__})") from e
    url = str(conn.engine.url)
    _appended[url] = max(_appended.get(url, 0), row["seq"])
    return row


# PostgreSQL: lock, head, hash and both INSERTs in one round trip (migration 0008).
_APPEND_PG = text(
    "SELECT out_seq, out_prev, out_hash FROM peel_audit_append("
    ":lock_id, :hash_pre, :hash_mid, :hash_post, :ts, :actor, :actor_role, :operation, "
    ":object_type, :object_ids, :query, :purpose, :justification, :case_reference, "
    ":recipient, :outcome, :request_id, CAST(:subjects AS text[]))"
)


def hash_pieces(row: Mapping[str, Any]) -> tuple[str, str, str]:
    """The canonical JSON that `entry_hash` hashes, split around the values of prev_hash and
    seq, which only the chain's head gives: pieces (a, b, c) such that
    a + prev_hash + b + str(seq) + c is that JSON. Every value of the body is a string or
    an integer, so a quote inside a value is escaped and the two keys' patterns below can
    only match the keys themselves."""
    body = {k: row[k] for k in AUDIT_COLUMNS if k not in ("hash", "prev_hash", "seq")}
    body["prev_hash"] = GENESIS
    body["seq"] = 0
    whole = canonical_json(body)
    p = whole.index(',"prev_hash":"') + len(',"prev_hash":"')
    s = whole.index(',"seq":', p) + len(',"seq":')
    return whole[:p], whole[p + len(GENESIS) : s], whole[s + 1 :]


def _append_postgresql(conn: Connection, row: dict[str, Any], subjects: list[str]) -> None:
    pre, mid, post = hash_pieces(row)
    seq, prev, digest = conn.execute(
        _APPEND_PG,
        {
            **row,
            "lock_id": CHAIN_LOCK_ID,
            "hash_pre": pre,
            "hash_mid": mid,
            "hash_post": post,
            "subjects": subjects,
        },
    ).one()
    row["seq"], row["prev_hash"], row["hash"] = int(seq), str(prev), str(digest)
    # The database computed the hash; the chain's definition is this module's. A
    # disagreement (an encoding, a changed column) must never reach the log: the caller's
    # transaction rolls back on AuditError.
    if entry_hash(row) != row["hash"]:
        raise AuditError("the database's hash of the audit entry disagrees with Peel's")


def count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())


@dataclass(frozen=True)
class ChainBreak:
    """The first entry at which the chain is broken, and what is wrong with it (never its
    contents: the entries name people)."""

    seq: int
    reason: str


def pages(
    conn: Connection, *, after: int = 0, upto: int | None = None, page_size: int = 1000
) -> Iterator[list[dict[str, Any]]]:
    """Entries with seq > after (and <= upto), in seq order, `page_size` at a time: memory
    stays bounded however long the log is."""
    last = after
    while True:
        q = select(audit_log).where(audit_log.c.seq > last)
        if upto is not None:
            q = q.where(audit_log.c.seq <= upto)
        rows = [
            dict(r) for r in conn.execute(q.order_by(audit_log.c.seq).limit(page_size)).mappings()
        ]
        if not rows:
            return
        yield rows
        last = int(rows[-1]["seq"])
        if len(rows) < page_size:
            return


def _subjects_between(conn: Connection, lo: int, hi: int) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    rows = conn.execute(
        select(audit_subjects.c.seq, audit_subjects.c.object_id).where(
            audit_subjects.c.seq > lo, audit_subjects.c.seq <= hi
        )
    )
    for seq, object_id in rows:
        out.setdefault(int(seq), set()).add(str(object_id))
    return out


def _object_ids(text_value: str) -> set[str] | None:
    try:
        ids = json.loads(text_value)
    except (TypeError, ValueError):
        return None
    if not isinstance(ids, list):
        return None
    return {str(i) for i in ids}


def check_chain(
    conn: Connection,
    *,
    after_seq: int = 0,
    after_hash: str = GENESIS,
    upto: int | None = None,
    page_size: int = 1000,
    on_entry: Callable[[int, str], ChainBreak | None] | None = None,
) -> tuple[int, ChainBreak | None]:
    """Walk the entries after `after_seq` (whose hash is `after_hash`) in seq order and check
    that seqs follow on, each entry links to the one before, its stored hash is the hash of its
    columns, and its audit_subjects rows are exactly its object_ids. `on_entry(seq, hash)` is
    called for each good entry and may stop the walk by returning a ChainBreak.

    Returns (seq of the last good entry, the first break or None)."""
    expected, prev = after_seq + 1, after_hash
    lo = after_seq
    for page in pages(conn, after=after_seq, upto=upto, page_size=page_size):
        hi = int(page[-1]["seq"])
        subjects = _subjects_between(conn, lo, hi)
        for row in page:
            seq = int(row["seq"])
            if seq != expected:
                # Ordered by seq and unique, so a stored seq can only be past the expected one.
                return expected - 1, ChainBreak(
                    expected, f"entry {expected} is missing (the next stored entry is {seq})"
                )
            if row["prev_hash"] != prev:
                return seq - 1, ChainBreak(
                    seq, f"entry {seq} does not link to entry {seq - 1} (prev_hash differs)"
                )
            if entry_hash(row) != row["hash"]:
                return seq - 1, ChainBreak(
                    seq, f"entry {seq} was changed: its hash does not match its contents"
                )
            if _object_ids(row["object_ids"]) != subjects.get(seq, set()):
                return seq - 1, ChainBreak(
                    seq, f"entry {seq}: the audit_subjects index differs from its object_ids"
                )
            if on_entry is not None:
                stop = on_entry(seq, row["hash"])
                if stop is not None:
                    return seq - 1, stop
            expected, prev = seq + 1, row["hash"]
        lo = hi
    last = expected - 1
    orphan = conn.execute(
        select(func.min(audit_subjects.c.seq)).where(audit_subjects.c.seq > last)
    ).scalar_one()
    if orphan is not None and (upto is None or int(orphan) <= upto):
        return last, ChainBreak(
            int(orphan), f"audit_subjects names entry {int(orphan)}, which is not in the log"
        )
    return last, None


def decode(row: Mapping[str, Any]) -> dict[str, Any]:
    """An entry for display: object_ids and query parsed back from their canonical text."""
    out = dict(row)
    out["object_ids"] = json.loads(out["object_ids"])
    out["query"] = json.loads(out["query"])
    return out


__all__ = [
    "GENESIS",
    "OPERATIONS",
    "AuditEvent",
    "ChainBreak",
    "append",
    "check_chain",
    "count",
    "decode",
    "entry_hash",
    "head",
    "pages",
    "utc_ms",
]
