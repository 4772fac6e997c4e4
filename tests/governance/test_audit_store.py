"""The audit chain under failure and load: an audit write that fails inside the database
takes the operation down with it, concurrent appends never fork the chain, and a random mix
of allowed, denied and failing operations leaves exactly one entry per allowed or denied one."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from hypothesis import settings as hsettings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import create_engine, func, insert, select, text

from helpers.audit_chain import count, default_policy, event
from peel.errors import AccessDenied, AuditError
from peel.governance import access, audit
from peel.governance.access import Caller
from peel.governance.verify import verify
from peel.serving import Store
from peel.serving.tables import audit_log, audit_subjects, teams

ANALYST = Caller("alice", ("analyst",), purpose="safeguarding")


def teams_count(store: Store) -> int:
    with store.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(teams)).scalar_one())


def break_audit_inserts(store: Store) -> None:
    """Make every INSERT into audit_log fail inside the database."""
    if store.dialect == "sqlite":
        with store.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TRIGGER audit_log_broken BEFORE INSERT ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'x'); END"
            )
    else:
        owner = create_engine(store.settings.serving_admin_url)
        with owner.begin() as conn:
            role = store.settings.database_app_role
            assert role
            conn.execute(text(f"REVOKE INSERT ON audit_log FROM {role}"))
        owner.dispose()


def test_a_failed_audit_write_rolls_the_operation_back(store: Store) -> None:
    policy = default_policy()
    with store.begin() as conn:
        audit.append(conn, event(1))
    break_audit_inserts(store)
    with (
        pytest.raises(AuditError, match="could not be written") as info,
        access.operation(
            store,
            policy,
            ANALYST,
            permission="records.read",
            operation="alteration",
            object_type="team",
        ) as op,
    ):
        op.conn.execute(insert(teams), [{"code": "T1", "name": "Burglary", "crime_types": []}])
        op.returned(["T1"])
    assert "Burglary" not in str(info.value)  # the driver's message (with the row) is dropped
    assert teams_count(store) == 0
    assert count(store) == 1
    with store.connect() as conn:
        assert verify(conn, store.settings).ok


def test_a_bulk_operation_names_every_object_across_entries(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit, "MAX_SUBJECTS", 4)
    ids = [f"P-{i:03d}" for i in range(10)]
    with access.operation(
        store,
        default_policy(),
        ANALYST,
        permission="records.read",
        operation="consultation",
        object_type="person_profile",
        query={"run": "r1"},
    ) as op:
        op.returned(ids)
    with store.connect() as conn:
        rows = conn.execute(select(audit_log).order_by(audit_log.c.seq)).all()
        named = conn.execute(select(audit_subjects.c.object_id)).scalars().all()
        assert verify(conn, store.settings).ok
    assert [r.query for r in rows] == [f'{{"part":{k},"parts":3,"run":"r1"}}' for k in (1, 2, 3)]
    assert sorted(named) == ids
    # A single entry past the limit is still refused.
    with pytest.raises(AuditError, match="objects in one entry"), store.begin() as conn:
        audit.append(conn, event(1, ids=ids[:5]))


def test_a_consultation_reads_beside_a_writer_and_is_audited_before_it_returns(
    store: Store,
) -> None:
    policy = default_policy()
    with store.begin() as conn:
        conn.execute(insert(teams), [{"code": "T1", "name": "Burglary", "crime_types": []}])
    writer = store.engine.connect()
    tx = writer.begin()  # on SQLite: BEGIN IMMEDIATE, the database's write lock
    writer.execute(insert(teams), [{"code": "T2", "name": "Robbery", "crime_types": []}])
    with access.consultation(
        store, policy, ANALYST, permission="records.read", object_type="team"
    ) as op:
        # The read takes no write lock: it neither waits for the writer nor sees its rows.
        names = op.conn.execute(select(teams.c.name)).scalars().all()
        op.returned(["T1"])
        tx.commit()
    writer.close()
    assert names == ["Burglary"]
    with store.connect() as conn:
        rows = conn.execute(select(audit_log)).mappings().all()
    assert [(r["operation"], r["object_type"], r["object_ids"]) for r in rows] == [
        ("consultation", "team", '["T1"]')
    ]
    # If the entry cannot be written, the consultation fails: nothing is returned.
    break_audit_inserts(store)
    got = None
    with pytest.raises(AuditError):
        with access.consultation(
            store, policy, ANALYST, permission="records.read", object_type="team"
        ) as op:
            got = op.conn.execute(select(teams.c.name)).scalars().all()
            op.returned(["T1"])
        names = got
    assert names == ["Burglary"]  # unchanged: the assignment after the block never ran


def test_concurrent_appends_make_one_contiguous_chain(store: Store) -> None:
    threads, per_thread = 8, 25
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work(t: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                with store.begin() as conn:
                    audit.append(conn, event(t * 100 + i, actor=f"worker{t}"))
        except BaseException as e:  # reported below, in the test's thread
            errors.append(e)

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join(timeout=60)
    assert errors == []
    with store.connect() as conn:
        report = verify(conn, store.settings)
        seqs = [r[0] for r in conn.execute(text("SELECT seq FROM audit_log ORDER BY seq"))]
    assert report.ok and report.entries == threads * per_thread
    assert seqs == list(range(1, threads * per_thread + 1))


def test_random_operations_leave_one_entry_per_allowed_or_denied_one(store: Store) -> None:
    policy = default_policy()

    class Operations(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.expected = count(store)
            self.teams = teams_count(store)

        def _run(self, caller: Caller, *, fail: bool) -> None:
            with access.operation(
                store,
                policy,
                caller,
                permission="records.read",
                operation="consultation",
                object_type="crime",
                query={"q": "x"},
                clock=lambda: datetime(2026, 1, 1, tzinfo=UTC),
            ) as op:
                op.conn.execute(
                    insert(teams), [{"code": f"T{self.teams}", "name": "n", "crime_types": []}]
                )
                op.returned([f"c{self.expected}"])
                if fail:
                    raise RuntimeError("the body failed")

        @rule()
        def allowed(self) -> None:
            self._run(ANALYST, fail=False)
            self.expected += 1
            self.teams += 1

        @rule()
        def denied(self) -> None:
            with pytest.raises(AccessDenied):
                self._run(ANALYST.with_purpose(None, None, None), fail=False)
            self.expected += 1

        @rule()
        def body_raises(self) -> None:
            with pytest.raises(RuntimeError):
                self._run(ANALYST, fail=True)

        @invariant()
        def one_entry_each_and_the_chain_verifies(self) -> None:
            assert count(store) == self.expected
            assert teams_count(store) == self.teams
            with store.connect() as conn:
                assert verify(conn, store.settings).ok

    run_state_machine_as_test(
        Operations,
        settings=hsettings(max_examples=20, stateful_step_count=15, deadline=None),
    )
    with store.connect() as conn:
        outcomes = {r[0] for r in conn.execute(text("SELECT DISTINCT outcome FROM audit_log"))}
    assert outcomes <= {"ok", "denied"}
