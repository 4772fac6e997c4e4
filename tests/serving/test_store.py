"""The serving store: migrations match the tables, both stores behave alike, and the audit
tables are append-only inside the database."""

from __future__ import annotations

import time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, insert, select, text, update
from sqlalchemy.exc import DBAPIError

from peel.governance import audit
from peel.serving import Store, head_revision, tables


def test_migrations_match_the_tables(store: Store) -> None:
    assert store.revision() == head_revision()
    engine = create_engine(store.settings.serving_admin_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), tables.metadata)
    engine.dispose()
    assert diff == []


def test_migrate_twice_is_a_no_op(store: Store) -> None:
    store.migrate()
    store.check()


def test_audit_rows_cannot_be_updated_or_deleted(store: Store) -> None:
    with store.begin() as conn:
        audit.append(conn, audit.AuditEvent("alice", "analyst", "consultation", "crime", ["c1"]))
    for statement in (
        update(tables.audit_log).values(actor="mallory"),
        tables.audit_log.delete(),
        tables.audit_subjects.delete(),
    ):
        with pytest.raises(DBAPIError), store.begin() as conn:
            conn.execute(statement)
    with store.connect() as conn:
        assert conn.execute(select(tables.audit_log.c.actor)).scalar_one() == "alice"


@pytest.mark.postgres
def test_postgres_app_role_may_only_insert_and_select_the_audit(postgres_store: Store) -> None:
    store = postgres_store
    with store.begin() as conn:
        who = conn.execute(text("SELECT current_user")).scalar_one()
        assert who == store.settings.database_app_role
        privileges = {
            r[0]
            for r in conn.execute(
                text(
                    "SELECT privilege_type FROM information_schema.role_table_grants "
                    "WHERE table_name = 'audit_log' AND grantee = current_user"
                )
            )
        }
    assert privileges == {"SELECT", "INSERT"}
    with pytest.raises(DBAPIError), store.begin() as conn:
        conn.execute(text("TRUNCATE audit_log CASCADE"))
    with store.begin() as conn:  # other tables stay writable
        conn.execute(
            insert(tables.teams), [{"code": "T1", "name": "Burglary", "crime_types": ["x"]}]
        )


@pytest.mark.postgres
def test_a_pooled_connection_closed_by_the_server_is_replaced(
    postgres_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ping at every checkout (three round trips per roadside check): a connection idle
    past PING_AFTER_IDLE_S is pinged and replaced if dead; one in steady use that dies fails
    its one request, and the pool then discards it."""
    admin = create_engine(postgres_store.settings.serving_admin_url)

    def kill_pooled() -> int:
        with postgres_store.connect() as conn:
            pid = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        return pid

    def backend() -> int:
        with postgres_store.connect() as conn:
            return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())

    try:
        # Idle past the threshold (0 s here): pinged, found dead, replaced before use.
        monkeypatch.setattr("peel.serving.engine.PING_AFTER_IDLE_S", 0.0)
        dead = kill_pooled()
        time.sleep(0.2)
        assert backend() != dead
        # In steady use (a threshold of an hour): not pinged, so the one request on a dead
        # connection fails as a store error, and the next gets a new connection.
        monkeypatch.setattr("peel.serving.engine.PING_AFTER_IDLE_S", 3600.0)
        dead = kill_pooled()
        time.sleep(0.2)
        with pytest.raises(DBAPIError):
            backend()
        assert backend() != dead
    finally:
        admin.dispose()


def test_a_read_on_postgresql_opens_no_transaction_and_leaks_no_autocommit(store: Store) -> None:
    # Store.read on PostgreSQL runs each statement on its own (autocommit): no BEGIN and
    # COMMIT round trips, and the same view of committed data as READ COMMITTED gave. The
    # setting must not outlive the read: a write transaction on the same pooled connection
    # must be one transaction again (the audit's appends rely on it).
    for _ in range(2):  # the second time, the pool hands back the connection the read used
        with store.read() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
            raw = conn.connection.dbapi_connection
            if store.dialect == "postgresql":
                from psycopg import pq

                assert raw.info.transaction_status == pq.TransactionStatus.IDLE
            else:  # SQLite: BEGIN DEFERRED holds one snapshot for the whole read
                assert raw.in_transaction
        with store.begin() as conn:
            conn.execute(text("SELECT 1"))
            raw = conn.connection.dbapi_connection
            if store.dialect == "postgresql":
                from psycopg import pq

                assert raw.info.transaction_status == pq.TransactionStatus.INTRANS
            else:
                assert raw.in_transaction
