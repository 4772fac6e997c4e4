"""Test helpers for the audit log: build a chain, read it back, and rewrite it the way someone
with the database owner's access could (append-only triggers and foreign keys bypassed)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, delete, insert, select, text
from sqlalchemy.engine import Connection, make_url

from peel.governance import audit
from peel.governance.access import Caller
from peel.governance.policy import Policy, default_policy_text, load_policy
from peel.serving import Store
from peel.serving.tables import AUDIT_COLUMNS, audit_log, audit_subjects, user_roles, users

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
OVERSIGHT = Caller("olive", ("oversight_panel",), purpose="oversight")


def default_policy() -> Policy:
    return load_policy(default_policy_text()).policy


def event(i: int, *, actor: str | None = None, ids: list[str] | None = None) -> audit.AuditEvent:
    """An entry with every column non-empty, so that any column can have a byte flipped."""
    return audit.AuditEvent(
        actor=actor or f"user{i % 3}",
        actor_role="investigator",
        operation="consultation" if i % 4 else "disclosure",
        object_type="person",
        object_ids=ids if ids is not None else [f"p{i}", f"p{i % 5}"],
        query={"q": f"search {i}"},
        purpose="investigation",
        justification=f"reason {i}",
        case_reference=f"CASE-{i % 2}",
        recipient="CPS" if i % 4 == 0 else "none",
        outcome="ok",
        request_id=f"needle-{i:010d}",
    )


def build_chain(store: Store, n: int, *, start: int = 1) -> None:
    """Append n entries, each in its own transaction, one minute apart from T0."""
    for i in range(start, start + n):
        with store.begin() as conn:
            audit.append(conn, event(i), clock=lambda i=i: T0 + timedelta(minutes=i))


def add_user(store: Store, username: str, roles: tuple[str, ...]) -> None:
    now = datetime.now(UTC)
    with store.begin() as conn:
        uid = conn.execute(
            insert(users).values(
                username=username,
                display_name=username.title(),
                kind="person",
                totp_enabled=False,
                disabled=False,
                failed_logins=0,
                created_at=now,
                updated_at=now,
            )
        ).inserted_primary_key
        assert uid is not None
        for role in roles:
            conn.execute(
                insert(user_roles).values(
                    user_id=uid[0], role=role, granted_by="test", granted_at=now
                )
            )


def count(store: Store) -> int:
    with store.connect() as conn:
        return audit.count(conn)


def last_entry(store: Store) -> dict[str, Any]:
    with store.connect() as conn:
        row = conn.execute(select(audit_log).order_by(audit_log.c.seq.desc()).limit(1)).mappings()
        return audit.decode(dict(row.one()))


def read_rows(store: Store) -> list[dict[str, Any]]:
    with store.connect() as conn:
        return [
            dict(r) for r in conn.execute(select(audit_log).order_by(audit_log.c.seq)).mappings()
        ]


def subjects_of(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The audit_subjects rows an honest append would write for `rows` (an unparsable
    object_ids gives none)."""
    out = []
    for r in rows:
        try:
            ids = json.loads(r["object_ids"])
        except ValueError:
            continue
        out.extend({"seq": r["seq"], "object_id": str(i)} for i in sorted(set(ids)))
    return out


def rehash(rows: list[dict[str, Any]], start: int = 1) -> list[dict[str, Any]]:
    """Renumber from `start` (1-based position) on and recompute every link and hash from
    there: a consistent rewrite that the chain alone cannot tell from the original."""
    out = [dict(r) for r in rows]
    for pos in range(start - 1, len(out)):
        out[pos]["seq"] = pos + 1
        out[pos]["prev_hash"] = out[pos - 1]["hash"] if pos else audit.GENESIS
        out[pos]["hash"] = audit.entry_hash(out[pos])
    return out


@contextmanager
def owner(store: Store) -> Iterator[Connection]:
    """A transaction as the schema owner with the append-only protection off: on SQLite a
    plain connection to the file without Peel's settings (foreign keys off) after dropping the
    triggers; on PostgreSQL the owner with triggers and foreign keys disabled for the session."""
    if store.dialect == "sqlite":
        path = make_url(store.url).database
        assert path
        raw = sqlite3.connect(path)
        try:
            names = [
                r[0]
                for r in raw.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'trigger' "
                    "AND tbl_name IN ('audit_log', 'audit_subjects')"
                )
            ]
            for name in names:
                raw.execute(f'DROP TRIGGER "{name}"')
            raw.commit()
        finally:
            raw.close()
        engine = create_engine(f"sqlite:///{path}")
    else:
        engine = create_engine(store.settings.serving_admin_url)
    try:
        with engine.begin() as conn:
            if store.dialect == "postgresql":
                conn.execute(text("SET LOCAL session_replication_role = replica"))
            yield conn
    finally:
        engine.dispose()


def rewrite(
    store: Store,
    rows: list[dict[str, Any]],
    subjects: list[dict[str, Any]] | None = None,
) -> None:
    """Replace the whole audit log with `rows` (and its index with `subjects`, by default
    what an honest append would have written for them)."""
    with owner(store) as conn:
        conn.execute(delete(audit_subjects))
        conn.execute(delete(audit_log))
        if rows:
            conn.execute(insert(audit_log), [{c: r[c] for c in AUDIT_COLUMNS} for r in rows])
        subs = subjects_of(rows) if subjects is None else subjects
        if subs:
            conn.execute(insert(audit_subjects), subs)


__all__ = [
    "OVERSIGHT",
    "T0",
    "add_user",
    "build_chain",
    "count",
    "default_policy",
    "event",
    "last_entry",
    "owner",
    "read_rows",
    "rehash",
    "rewrite",
    "subjects_of",
]
