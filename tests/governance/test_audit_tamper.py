"""Tampering with the audit log as the database owner could (append-only triggers and foreign
keys off): every kind of change, at the first, a middle, the last and a random position, is
caught by `verify`, which names the right first bad entry and none of the entry's contents."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from helpers.audit_chain import build_chain, read_rows, rehash, rewrite, subjects_of
from peel.governance import audit
from peel.governance.checkpoint import write_checkpoint
from peel.governance.verify import VerifyReport, verify
from peel.serving import Store
from peel.serving.tables import AUDIT_COLUMNS

N = 40
CHECKPOINTS = (20, 40)
Rows = list[dict[str, Any]]
# Contents of the chain that must never appear in a verify message.
SECRETS = ("mallory", "needle", "search", "reason", "CASE-", "user0", "user1", "user2")


@pytest.fixture
def chain(store: Store) -> Rows:
    """40 entries with signed checkpoints after entry 20 and entry 40; returns the rows."""
    build_chain(store, 20)
    with store.connect() as conn:
        write_checkpoint(conn, store.settings)
    build_chain(store, 20, start=21)
    with store.connect() as conn:
        write_checkpoint(conn, store.settings)
    rows = read_rows(store)
    assert len(rows) == N
    assert check(store).ok
    return rows


def check(store: Store) -> VerifyReport:
    with store.connect() as conn:
        # A small page size, so that page boundaries fall inside the chain too.
        return verify(conn, store.settings, page_size=7)


def positions(seed: int) -> list[int]:
    return [1, N // 2, N, random.Random(seed).randint(2, N - 1)]


def assert_caught(store: Store, expected: int, what: str) -> VerifyReport:
    report = check(store)
    assert not report.ok, what
    assert report.first_bad_seq == expected, (what, report)
    assert report.reason and str(expected) in report.reason
    for secret in SECRETS:
        assert secret not in " ".join(report.problems), (what, secret)
    return report


def run(store: Store, original: Rows, mutate: Callable[[Rows, int], tuple[Rows, int]]) -> None:
    for k in positions(len(original)):
        rows, expected = mutate([dict(r) for r in original], k)
        rewrite(store, rows)
        assert_caught(store, expected, f"{mutate.__name__} at {k}")
        rewrite(store, original)
    assert check(store).ok


def edit_value(rows: Rows, k: int) -> tuple[Rows, int]:
    rows[k - 1]["actor"] = "mallory"
    return rows, k


def delete_row(rows: Rows, k: int) -> tuple[Rows, int]:
    del rows[k - 1]
    # Deleting the last entry leaves a sound chain: the checkpoint over entry 40 catches it.
    return rows, k


def insert_row(rows: Rows, k: int) -> tuple[Rows, int]:
    """A forged entry at position k, well formed and linked to entry k-1; the entries after
    it are renumbered. Entry k+1 (the old entry k) no longer links to its predecessor, but
    where a checkpoint signed entry k, that checkpoint fails first: verify then names the
    first entry after the previous checkpoint, as for any rewrite it cannot pin down."""
    forged = dict(rows[k - 1], actor="mallory", request_id="forged", seq=k)
    forged["prev_hash"] = rows[k - 2]["hash"] if k > 1 else audit.GENESIS
    forged["hash"] = audit.entry_hash(forged)
    shifted = [dict(r, seq=r["seq"] + 1) for r in rows[k - 1 :]]
    return [*rows[: k - 1], forged, *shifted], after_good_checkpoint(
        k
    ) if k in CHECKPOINTS else k + 1


def swap_rows(rows: Rows, k: int) -> tuple[Rows, int]:
    a = min(k, N - 1)
    b = a + 1 if k in (1, N) else min(N, a + 7)
    rows[a - 1], rows[b - 1] = dict(rows[b - 1], seq=a), dict(rows[a - 1], seq=b)
    return rows, a


def truncate_tail(rows: Rows, k: int) -> tuple[Rows, int]:
    return rows[: k - 1], k


def consistent_rewrite(rows: Rows, k: int) -> tuple[Rows, int]:
    """Change entry k and recompute every hash from there: the chain is sound again, only a
    checkpoint shows it. verify names the first entry after the last checkpoint that holds."""
    rows[k - 1]["actor"] = "mallory"
    return rehash(rows, start=k), after_good_checkpoint(k)


def after_good_checkpoint(k: int) -> int:
    """The first entry after the newest checkpoint that signed only entries before k."""
    return max(c for c in (0, *CHECKPOINTS) if c < k) + 1


@pytest.mark.parametrize(
    "mutate",
    [edit_value, delete_row, insert_row, swap_rows, truncate_tail, consistent_rewrite],
)
def test_each_kind_of_tampering_is_caught_at_the_right_entry(
    store: Store, chain: Rows, mutate: Callable[[Rows, int], tuple[Rows, int]]
) -> None:
    run(store, chain, mutate)


def test_a_consistent_rewrite_passes_the_chain_and_fails_the_checkpoint(
    store: Store, chain: Rows
) -> None:
    rows, _ = consistent_rewrite([dict(r) for r in chain], 30)
    rewrite(store, rows)
    report = assert_caught(store, 21, "consistent rewrite at 30")
    # Everything up to the checkpoint that still holds is vouched for.
    assert report.checkpoints_checked == 1 and report.last_checkpoint == 20
    assert "rewritten" in (report.reason or "")


def test_a_cut_tail_names_the_first_missing_entry(store: Store, chain: Rows) -> None:
    rewrite(store, chain[:33])
    report = assert_caught(store, 34, "truncation")
    assert "removed" in (report.reason or "") and report.entries == 33


def flip(value: Any) -> Any:
    """One bit of one byte changed: the middle character of a text, a high bit of a number."""
    if isinstance(value, int):
        return value ^ 64
    i = len(value) // 2
    return value[:i] + chr(ord(value[i]) ^ 1) + value[i + 1 :]


def test_a_byte_flipped_in_any_column_is_caught(store: Store, chain: Rows) -> None:
    for column in AUDIT_COLUMNS:
        for k in (1, N // 2, N):
            rows = [dict(r) for r in chain]
            rows[k - 1][column] = flip(rows[k - 1][column])
            assert rows[k - 1][column] != chain[k - 1][column]
            rewrite(store, rows)
            assert_caught(store, k, f"{column} flipped at {k}")
    rewrite(store, chain)
    assert check(store).ok


def test_the_subjects_index_must_match_the_entries(store: Store, chain: Rows) -> None:
    honest = subjects_of(chain)
    for k in (1, N // 2, N):
        ids = [s for s in honest if s["seq"] == k]
        # One subject of entry k removed from the index.
        rewrite(store, chain, [s for s in honest if s != ids[0]])
        report = assert_caught(store, k, f"subject removed at {k}")
        assert "audit_subjects" in (report.reason or "")
        # One subject added to entry k.
        rewrite(store, chain, [*honest, {"seq": k, "object_id": "p-extra"}])
        assert_caught(store, k, f"subject added at {k}")
    # An index row for an entry that does not exist.
    rewrite(store, chain, [*honest, {"seq": N + 5, "object_id": "p-extra"}])
    assert_caught(store, N + 5, "orphan subject")
    rewrite(store, chain)
    assert check(store).ok
