"""The audit append's two implementations agree: on PostgreSQL the database hashes the entry
(`peel_audit_append`, one round trip) from the pieces `audit.hash_pieces` cuts, and Peel checks
that hash against its own `entry_hash`; hostile text cannot move the cut or the hash."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from peel.errors import AuditError
from peel.governance import audit
from peel.governance.verify import verify
from peel.serving import Store
from peel.serving.tables import AUDIT_COLUMNS, audit_log, audit_subjects
from peel.serving.types import canonical_json

# Text a cut by pattern could trip on: the keys' own spellings, quotes, escapes, non-ASCII.
HOSTILE = [
    ',"prev_hash":"',
    ',"seq":0,',
    '"seq":1',
    'a"b\\c',
    "Zoë Ó'Brien 😀",
    "\u2028line\u2029",
    "tab\tnew\nline",
]
texts = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=40))


def body(values: dict[str, Any]) -> dict[str, Any]:
    return {k: values[k] for k in AUDIT_COLUMNS if k != "hash"}


@given(
    values=st.fixed_dictionaries({k: texts for k in AUDIT_COLUMNS if k not in ("seq", "hash")}),
    seq=st.integers(min_value=1, max_value=10**15),
    prev=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
)
def test_the_pieces_rebuild_the_canonical_json_whatever_the_text(
    values: dict[str, Any], seq: int, prev: str
) -> None:
    row = {**values, "seq": seq, "prev_hash": prev, "hash": ""}
    a, b, c = audit.hash_pieces(row)
    assert a + prev + b + str(seq) + c == canonical_json(body(row))


def hostile_event(i: int) -> audit.AuditEvent:
    t = HOSTILE[i % len(HOSTILE)]
    return audit.AuditEvent(
        actor=f"user{i}",
        actor_role="investigator",
        operation="consultation",
        object_type="person",
        object_ids=[f"p{i}", t, t],  # a repeat: subjects are stored once
        query={"q": t, "n": i, "nested": {"prev_hash": t}},
        purpose="investigation",
        justification=t,
        case_reference=t[:60],
        recipient=t,
        request_id=f"r{i}",
    )


def test_hostile_entries_chain_and_verify_on_both_stores(store: Store) -> None:
    with store.begin() as conn:
        rows = [audit.append(conn, hostile_event(i)) for i in range(len(HOSTILE))]
    with store.connect() as conn:
        report = verify(conn, store.settings)
        stored = [
            dict(r) for r in conn.execute(select(audit_log).order_by(audit_log.c.seq)).mappings()
        ]
        subjects = conn.execute(select(func.count()).select_from(audit_subjects)).scalar_one()
    assert report.ok and report.entries == len(HOSTILE)
    assert [r["seq"] for r in rows] == list(range(1, len(HOSTILE) + 1))
    # What append returned is what was stored, and each hash is Peel's own.
    assert [r["hash"] for r in rows] == [r["hash"] for r in stored]
    assert all(audit.entry_hash(r) == r["hash"] for r in stored)
    assert stored[1]["prev_hash"] == stored[0]["hash"]
    assert subjects == sum(len(set(e.object_ids)) for e in map(hostile_event, range(len(HOSTILE))))


def test_a_database_hash_peel_disagrees_with_is_refused_and_nothing_is_kept(
    postgres_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    with postgres_store.begin() as conn:
        audit.append(conn, hostile_event(0))
    real = audit.hash_pieces

    def shifted(row: dict[str, Any]) -> tuple[str, str, str]:
        a, b, c = real(row)
        return a, b, c + " "  # the database now hashes other bytes than Peel does

    monkeypatch.setattr(audit, "hash_pieces", shifted)
    with pytest.raises(AuditError, match="disagrees"), postgres_store.begin() as conn:
        audit.append(conn, hostile_event(1))
    with postgres_store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(audit_log)).scalar_one() == 1
        assert verify(conn, postgres_store.settings).ok
