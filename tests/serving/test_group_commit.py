"""Group commit (issue 5): concurrent short writes, the audit entries of concurrent reads,
share one transaction; every caller returns only after its own write has committed, and one
failing write does not fail the others. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import Connection, event

from peel.errors import AuditError
from peel.governance import audit
from peel.serving import Store

WAITERS = 9


def _entry(name: str) -> Callable[[Connection], None]:
    def work(conn: Connection) -> None:
        audit.append(conn, audit.AuditEvent(name, "patrol", "consultation", "vehicle_check"))

    return work


def _commits(store: Store) -> list[int]:
    seen: list[int] = []
    event.listen(store.engine, "commit", lambda conn: seen.append(1))
    return seen


def _wait_for(cond: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def _start(
    store: Store, works: list[Callable[[Connection], None]]
) -> tuple[list[BaseException | None], list[threading.Thread]]:
    """Each work from its own thread: the outcome list (filled as they finish) and threads."""
    outcomes: list[BaseException | None] = [None] * len(works)
    threads = []

    def run(i: int, w: Callable[[Connection], None]) -> None:
        try:
            store.commit_grouped(w)
        except BaseException as e:
            outcomes[i] = e

    for i, w in enumerate(works):
        t = threading.Thread(target=run, args=(i, w))
        t.start()
        threads.append(t)
    return outcomes, threads


def _join(threads: list[threading.Thread]) -> None:
    for t in threads:
        t.join(timeout=30)
        assert not t.is_alive()


def test_writes_that_arrive_during_a_commit_share_the_next_one(store: Store) -> None:
    commits = _commits(store)
    go = threading.Event()
    holding = threading.Event()

    def first(conn: Connection) -> None:
        _entry("first")(conn)
        holding.set()
        assert go.wait(10)

    lead = threading.Thread(target=store.commit_grouped, args=(first,))
    lead.start()
    assert holding.wait(10)  # the first caller leads, inside its transaction
    outcomes, threads = _start(store, [_entry(f"user{i}") for i in range(WAITERS)])
    _wait_for(lambda: store._group.pending() == WAITERS)
    with store.read() as conn:
        assert audit.head(conn)[0] == 0  # nothing committed yet: nobody has returned
    before = len(commits)  # (a read transaction ends with a commit too)
    go.set()
    lead.join(timeout=30)
    _join(threads)
    assert outcomes == [None] * WAITERS
    assert len(commits) - before == 2  # the first alone, then the nine together
    with store.read() as conn:
        assert audit.head(conn)[0] == WAITERS + 1
        last, broken = audit.check_chain(conn)
    assert broken is None and last == WAITERS + 1


def test_a_failing_write_fails_alone(store: Store) -> None:
    go = threading.Event()
    holding = threading.Event()

    def first(conn: Connection) -> None:
        holding.set()
        assert go.wait(10)

    def bad(conn: Connection) -> None:
        audit.append(conn, audit.AuditEvent("mallory", "patrol", "no-such-operation", "x"))

    lead = threading.Thread(target=store.commit_grouped, args=(first,))
    lead.start()
    assert holding.wait(10)
    works = [_entry("a"), bad, _entry("b"), _entry("c")]
    outcomes, threads = _start(store, works)
    _wait_for(lambda: store._group.pending() == len(works))
    go.set()
    lead.join(timeout=30)
    _join(threads)
    assert isinstance(outcomes[1], AuditError)
    assert [outcomes[i] for i in (0, 2, 3)] == [None, None, None]
    with store.read() as conn:
        assert audit.head(conn)[0] == 3  # a, b and c; nothing of the bad one
        assert audit.check_chain(conn)[1] is None


def test_a_lone_write_commits_at_once_and_errors_reach_the_caller(store: Store) -> None:
    commits = _commits(store)
    store.commit_grouped(_entry("alone"))
    assert len(commits) == 1
    with pytest.raises(AuditError):
        store.commit_grouped(
            lambda conn: audit.append(conn, audit.AuditEvent("x", "y", "nope", "z"))
        )
    with store.read() as conn:
        assert audit.head(conn)[0] == 1
