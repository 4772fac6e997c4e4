"""The serving store: one engine, migrations by Alembic, and the transaction helper every
feature writes through.

`Store.migrate()` upgrades the schema to the newest revision using the admin URL (the schema
owner). On PostgreSQL it then grants the application role what it needs, and on the audit
tables only SELECT and INSERT: a compromised app cannot rewrite history.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from peel.errors import StoreError
from peel.serving.engine import make_engine
from peel.serving.tables import metadata
from peel.settings import Settings, get_settings

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
APPEND_ONLY = ("audit_log", "audit_subjects")


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


class Store:
    """The serving store of one settings object (SQLite file or PostgreSQL database)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.url = self.settings.serving_url
        self.engine: Engine = make_engine(self.url)
        self._group = _GroupCommit(self)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back on any error."""
        with self.engine.begin() as conn:
            yield conn

    def commit_grouped(self, work: Callable[[Connection], None]) -> None:
        """Run `work` in a write transaction and return once that transaction has committed,
        raising what it raised if it failed. Calls from several threads at once may share one
        transaction (group commit): one commit, one fsync, one turn of the write lock for many
        short writes, such as the audit entries of concurrent reads. `work` must only write
        through the connection it is given."""
        self._group.run(work)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reading; never write through it. On SQLite, a read-only
        transaction that takes no write lock, so reads do not queue behind writers (WAL gives
        it one consistent snapshot). On PostgreSQL, each statement in its own transaction
        (autocommit): under READ COMMITTED, the store's isolation level, a statement sees what
        was committed when it began whether or not a transaction is open, so one would only
        add a BEGIN and a COMMIT round trip (two of the eleven a roadside check made)."""
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="AUTOCOMMIT", peel_read_only=True)
            else:
                conn = conn.execution_options(peel_read_only=True)
            with conn.begin():
                yield conn

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    def revision(self) -> str | None:
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def migrate(self) -> None:
        """Upgrade to the newest schema (idempotent) and set the app role's privileges."""
        admin_url = self.settings.serving_admin_url
        admin = self.engine if admin_url == self.url else make_engine(admin_url)
        try:
            with admin.begin() as conn:
                cfg = _alembic_config()
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                if conn.dialect.name == "postgresql" and self.settings.database_app_role:
                    _grant(conn, self.settings.database_app_role)
        except SQLAlchemyError as e:
            raise StoreError(f"migrating the serving store failed: {type(e).__name__}") from e
        finally:
            if admin is not self.engine:
                admin.dispose()

    def check(self) -> None:
        """Refuse to run against a store whose schema is not the newest."""
        try:
            current = self.revision()
        except SQLAlchemyError as e:
            raise StoreError(f"the serving store is unreachable: {type(e).__name__}") from e
        if current != head_revision():
            raise StoreError(
                f"the serving store is at revision {current}, not {head_revision()}: "
                "run a peel command that migrates it (peel users ..., peel demo) first"
            )

    def dispose(self) -> None:
        self.engine.dispose()


@dataclass(eq=False)
class _Work:
    fn: Callable[[Connection], None]
    done: bool = False
    error: BaseException | None = None


class _GroupCommit:
    """Group commit without a thread of its own (leader and followers): each caller queues its
    work, then takes the leader lock; whoever holds it runs everything queued so far in one
    transaction and commits. Callers that arrive while a commit is under way queue behind it,
    and the next leader commits them together; one that finds its work done returns. An idle
    store pays nothing: a lone caller leads its own transaction at once.

    Written here because SQLAlchemy and the drivers commit per transaction and offer no group
    commit; PostgreSQL's commit_delay groups only at the WAL flush and SQLite has none."""

    MAX_BATCH = 256  # a bound on one transaction; the rest waits for the next leader

    def __init__(self, store: Store) -> None:
        self._store = store
        self._queue_lock = threading.Lock()
        self._leader = threading.Lock()
        self._pending: list[_Work] = []

    def pending(self) -> int:
        with self._queue_lock:
            return len(self._pending)

    def run(self, fn: Callable[[Connection], None]) -> None:
        item = _Work(fn)
        with self._queue_lock:
            self._pending.append(item)
        with self._leader:
            if not item.done:
                with self._queue_lock:
                    batch = self._pending[: self.MAX_BATCH]
                    del self._pending[: self.MAX_BATCH]
                self._commit(batch)
        if item.error is not None:
            raise item.error

    def _commit(self, batch: list[_Work]) -> None:
        try:
            with self._store.begin() as conn:
                for w in batch:
                    w.fn(conn)
        except BaseException as e:
            if len(batch) == 1:
                batch[0].error = e
            else:
                # One work's failure must not fail the others: each alone, in its own
                # transaction (the shared one rolled back, so nothing was written twice).
                for w in batch:
                    try:
                        with self._store.begin() as conn:
                            w.fn(conn)
                    except BaseException as one:
                        w.error = one
        finally:
            for w in batch:
                w.done = True


def _grant(conn: Connection, role: str) -> None:
    quoted = conn.dialect.identifier_preparer.quote(role)
    for table in metadata.sorted_tables:
        name = conn.dialect.identifier_preparer.quote(table.name)
        conn.execute(text(f"REVOKE ALL ON {name} FROM {quoted}"))
        if table.name in APPEND_ONLY:
            conn.execute(text(f"GRANT SELECT, INSERT ON {name} TO {quoted}"))
        else:
            conn.execute(text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {name} TO {quoted}"))
    conn.execute(text(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {quoted}"))
    # peel_audit_append (migration 0008); it runs with the caller's rights, so the grants above
    # still decide what it may write.
    conn.execute(text(f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {quoted}"))
    conn.execute(text(f"GRANT SELECT ON alembic_version TO {quoted}"))


__all__ = ["Store", "head_revision"]
