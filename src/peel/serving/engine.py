"""Opening the serving store: SQLite (WAL) by default, PostgreSQL in production.

On SQLite every transaction starts with BEGIN IMMEDIATE, so writers queue on the database
lock rather than failing half-way with "database is locked" at their first write; that is
also what serialises appends to the audit chain. pysqlite's own transaction handling is
switched off for this (SQLAlchemy's documented recipe for SQLite transactions).

Writers queue on a lock of Peel's own before they ask SQLite for its lock (`WriterLock`):
SQLite's busy handler waits by sleeping 1, 2, 5, 10 ... up to 100 ms between tries, so
under steady writes (every roadside check appends an audit entry, from every server
process) a waiter often slept long after the lock was free: up to 190 ms for a commit that
held it for 1 ms. The kernel wakes a waiter on Peel's lock as soon as it is released.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url

logger = logging.getLogger(__name__)

SQLITE_BUSY_MS = 30_000
# A pooled PostgreSQL connection idle this long is pinged before use (see _ping_after_idle).
PING_AFTER_IDLE_S = 5.0


class WriterLock:
    """One writer at a time on one SQLite file, across the threads of a process (a
    threading lock) and across processes (`flock` on a file beside the database, opened
    once per process). Waiting is bounded like SQLite's busy timeout: past it, TimeoutError.

    Hand-written: `filelock` and `fasteners` poll with sleeps of 10 ms or more, the very
    delay this removes; here a waiter polls every 0.1 to 1 ms, and only while another
    process holds the file lock (waits within one process block on the threading lock)."""

    def __init__(self, database: str) -> None:
        self.path = f"{database}-peel-writer.lock"
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    def _file(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    def acquire(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        if not self._threads.acquire(timeout=timeout_s):
            raise TimeoutError(f"no write lock on the serving store within {timeout_s:g} s")
        try:
            fd = self._file()
            pause = 1e-4
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise TimeoutError(
                            f"no write lock on the serving store within {timeout_s:g} s"
                        ) from None
                    time.sleep(pause)
                    pause = min(pause * 2, 1e-3)
        except BaseException:
            self._threads.release()
            raise

    def release(self) -> None:
        try:
            if self._fd is not None and self._pid == os.getpid():
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def close(self) -> None:
        """Close the lock file (reopened at the next write) unless a writer holds it: called
        when the engine is disposed, so that engines made and dropped leak no descriptors."""
        if not self._threads.acquire(blocking=False):
            return
        try:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None
        finally:
            self._threads.release()


class _Connection(sqlite3.Connection):
    """pysqlite's connection, holding Peel's writer lock (if any) from BEGIN IMMEDIATE until
    the transaction ends, however it ends."""

    writer_lock: WriterLock | None = None
    _holding = False

    def begin_write(self) -> None:
        if self.writer_lock is not None:
            self.writer_lock.acquire(SQLITE_BUSY_MS / 1000)
            self._holding = True
        try:
            self.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._let_go()
            raise

    def _let_go(self) -> None:
        if self._holding:
            self._holding = False
            assert self.writer_lock is not None
            self.writer_lock.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._let_go()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._let_go()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._let_go()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url` with Peel's connection settings."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={
                "timeout": SQLITE_BUSY_MS / 1000,
                "check_same_thread": False,
                "factory": _Connection,
            },
            **kwargs,
        )
        lock = WriterLock(database) if database and database != ":memory:" else None
        _sqlite_events(engine, lock)
        if lock is not None:
            event.listen(engine, "engine_disposed", lambda _engine: lock.close())
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        engine = create_engine(parsed, **kwargs)
        _ping_after_idle(engine)
        return engine
    raise ValueError(f"unsupported serving store {parsed.get_backend_name()!r}")


def _ping_after_idle(engine: Engine) -> None:
    """Check a pooled PostgreSQL connection is alive before use, but only one that has sat
    idle for PING_AFTER_IDLE_S (SQLAlchemy's recipe for custom pessimistic disconnect handling).

    `pool_pre_ping` pings at every checkout: three extra round trips per roadside check,
    and at 200 checks a second on two cores, with PostgreSQL on the same cores, that took p50
    from about 12 to 26 ms and p99 from about 90 to 240 ms. A connection in steady use is
    alive; one idle for a while may have been closed by a restart or a timeout, and is
    pinged. A connection that dies while in use fails that request (the check says it
    failed), and SQLAlchemy then discards every older connection in the pool."""

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["peel_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("peel_idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as e:  # whatever the driver raises for a dead connection
            raise exc.DisconnectionError("the pooled connection is closed") from e
        if not alive:
            raise exc.DisconnectionError("the pooled connection is closed")


def _sqlite_events(engine: Engine, lock: WriterLock | None) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        dbapi_connection.writer_lock = lock
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # A read (Store.read) takes no write lock: it sees one snapshot and never writes.
        if conn.get_execution_options().get("peel_read_only"):
            conn.exec_driver_sql("BEGIN DEFERRED")
        else:
            try:
                conn.connection.dbapi_connection.begin_write()
            except (TimeoutError, sqlite3.Error) as e:
                # As SQLAlchemy reports a failed statement (event hooks are not wrapped).
                raise exc.OperationalError("BEGIN IMMEDIATE", None, e) from e


__all__ = ["WriterLock", "make_engine"]
