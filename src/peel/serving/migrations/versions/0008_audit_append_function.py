"""peel_audit_append: the audit append in one statement on PostgreSQL (issue 5: fewer round
trips per roadside check)

Before, an append was four statements after BEGIN (advisory lock, chain head, INSERT of the
entry, INSERT of its subjects), each a round trip to a server that shares the cores with the
app. The function does the same four steps inside the database. The entry's hash is
SHA-256 over the canonical JSON of the entry, which the caller sends in three pieces around
the two values only the chain's head gives (prev_hash and seq); the caller recomputes the
hash from the returned values and refuses a disagreement (`peel.governance.audit.append`),
so the chain's definition stays the Python one that `peel audit verify` checks.

Under READ COMMITTED (the store's isolation level) each statement of a VOLATILE PL/pgSQL
function takes a new snapshot, so the head is read after the lock is granted and sees every
entry committed by the previous holder. (One plain SQL statement could not do this: its
snapshot is taken before the lock is waited for.)

SQLite: nothing (the append there runs in-process and the transaction holds the write lock).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SIGNATURE = (
    "peel_audit_append(bigint, text, text, text, varchar, varchar, varchar, varchar, varchar,"
    " text, text, varchar, text, varchar, varchar, varchar, varchar, text[])"
)

FUNCTION = """
CREATE FUNCTION peel_audit_append(
    lock_id bigint,
    hash_pre text,
    hash_mid text,
    hash_post text,
    e_ts varchar,
    e_actor varchar,
    e_actor_role varchar,
    e_operation varchar,
    e_object_type varchar,
    e_object_ids text,
    e_query text,
    e_purpose varchar,
    e_justification text,
    e_case_reference varchar,
    e_recipient varchar,
    e_outcome varchar,
    e_request_id varchar,
    e_subjects text[]
) RETURNS TABLE (out_seq bigint, out_prev varchar, out_hash varchar)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $fn$
DECLARE
    h_seq bigint;
    h_hash varchar;
BEGIN
    PERFORM pg_advisory_xact_lock(lock_id);
    SELECT a.seq, a.hash INTO h_seq, h_hash FROM audit_log AS a ORDER BY a.seq DESC LIMIT 1;
    IF NOT FOUND THEN
        h_seq := 0;
        h_hash := repeat('0', 64);
    END IF;
    out_seq := h_seq + 1;
    out_prev := h_hash;
    out_hash := encode(
        sha256(convert_to(hash_pre || h_hash || hash_mid || out_seq::text || hash_post, 'UTF8')),
        'hex'
    );
    INSERT INTO audit_log (
        seq, ts, actor, actor_role, operation, object_type, object_ids, query, purpose,
        justification, case_reference, recipient, outcome, request_id, prev_hash, hash
    ) VALUES (
        out_seq, e_ts, e_actor, e_actor_role, e_operation, e_object_type, e_object_ids,
        e_query, e_purpose, e_justification, e_case_reference, e_recipient, e_outcome,
        e_request_id, h_hash, out_hash
    );
    INSERT INTO audit_subjects (seq, object_id)
    SELECT out_seq, s FROM unnest(e_subjects) AS s;
    RETURN NEXT;
END
$fn$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION {SIGNATURE}")
