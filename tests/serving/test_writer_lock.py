"""Peel's writer lock on SQLite (peel.serving.engine.WriterLock): writers queue on it before
SQLite's own lock, across threads and processes; it is held from BEGIN IMMEDIATE until the
transaction ends however it ends, and waiting for it is bounded like SQLite's busy timeout."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import os
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from peel.serving.engine import WriterLock, make_engine


def _hold(database: str, ready: multiprocessing.synchronize.Event, seconds: float) -> None:
    lock = WriterLock(database)
    lock.acquire(5)
    ready.set()
    time.sleep(seconds)
    lock.release()


def test_another_process_holding_the_lock_makes_a_writer_wait_then_time_out(
    tmp_path: Path,
) -> None:
    database = str(tmp_path / "serving.db")
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    holder = ctx.Process(target=_hold, args=(database, ready, 1.5))
    holder.start()
    try:
        assert ready.wait(60)
        mine = WriterLock(database)
        t0 = time.monotonic()
        with pytest.raises(TimeoutError, match=r"within 0\.2 s"):
            mine.acquire(0.2)
        assert time.monotonic() - t0 >= 0.2
        # The thread lock was given back on the way out: the next try can wait its turn.
        mine.acquire(30)
        waited = time.monotonic() - t0
        mine.release()
    finally:
        holder.join(30)
    assert holder.exitcode == 0
    # Woken soon after the holder let go (it held for 1.5 s from before t0), not by a
    # sleep of tens of milliseconds per try.
    assert 1.0 <= waited < 3.0


def _engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'serving.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    return engine


def test_a_write_transaction_holds_the_lock_until_commit_or_rollback(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    other = WriterLock(str(tmp_path / "serving.db"))  # as another process would see it
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
            with pytest.raises(TimeoutError):
                other.acquire(0.05)
        other.acquire(1)  # committed: free
        other.release()
        with pytest.raises(RuntimeError, match="boom"), engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (2)"))
            raise RuntimeError("boom")
        other.acquire(1)  # rolled back: free
        other.release()
        # A read takes no write lock.
        with engine.connect() as conn:
            conn = conn.execution_options(peel_read_only=True)
            with conn.begin():
                assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 1
                other.acquire(1)
                other.release()
    finally:
        engine.dispose()


def test_a_writer_that_cannot_get_the_lock_fails_as_a_store_error_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = _engine(tmp_path)
    monkeypatch.setattr("peel.serving.engine.SQLITE_BUSY_MS", 100)
    other = WriterLock(str(tmp_path / "serving.db"))
    other.acquire(1)
    try:
        with pytest.raises(OperationalError, match="no write lock"), engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (3)"))
    finally:
        other.release()
    with engine.begin() as conn:  # and the failed attempt left nothing held
        conn.execute(text("INSERT INTO t VALUES (4)"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM t")).scalars().all() == [4]
    engine.dispose()


def test_threads_writing_at_once_all_commit_in_turn(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    start = threading.Barrier(6)
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            start.wait()
            for _ in range(30):
                with engine.begin() as conn:
                    n = conn.execute(text("SELECT count(*) FROM t")).scalar_one()
                    conn.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
        except BaseException as e:  # reported below
            errors.append(e)

    pool = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for th in pool:
        th.start()
    for th in pool:
        th.join(60)
    assert errors == []
    with engine.connect() as conn:
        values = conn.execute(text("SELECT n FROM t ORDER BY n")).scalars().all()
    # Each writer read the count and inserted it inside its own transaction: serialised
    # writers leave 0..179 exactly once.
    assert values == list(range(180))
    engine.dispose()


def test_disposing_an_engine_closes_its_lock_file(tmp_path: Path) -> None:
    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    _engine(tmp_path).dispose()  # the first engine's one-time costs
    before = open_fds()
    for _ in range(20):
        engine = make_engine(f"sqlite:///{tmp_path / 'serving.db'}")
        with engine.begin() as conn:  # a write opens the lock file
            conn.execute(text("INSERT INTO t VALUES (1)"))
        engine.dispose()
    assert open_fds() <= before
