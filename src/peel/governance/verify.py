"""Verify the audit log: the hash chain from the first entry, the audit_subjects index, and
every signed checkpoint.

    report = verify(conn, settings)
    report.ok, report.first_bad_seq, report.reason

Entries are read a page at a time, so memory stays bounded. The report names the first bad
entry by its seq and says what is wrong with it, never what it contains.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection

from peel.governance import audit
from peel.governance.checkpoint import (
    Checkpoint,
    CheckpointError,
    check_signature,
    checkpoint_paths,
    read_checkpoint,
    trusted_keys,
)
from peel.settings import Settings

MAX_PROBLEMS = 20


@dataclass(frozen=True)
class VerifyReport:
    """ok: the chain and every checkpoint verify. entries: entries that verified, in order from
    the first. checkpoints_checked: checkpoints whose signature verified and whose entry still
    has the signed hash. first_bad_seq / reason: the first bad entry and what is wrong (None
    when ok, or when only a checkpoint file itself is bad). last_checkpoint: the newest
    checkpoint that matched; entries after it are protected by the chain alone. problems:
    everything found, the reason first."""

    ok: bool
    entries: int
    checkpoints_checked: int
    first_bad_seq: int | None = None
    reason: str | None = None
    last_checkpoint: int | None = None
    problems: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["problems"] = list(self.problems)
        return out


def verify(
    conn: Connection,
    settings: Settings,
    *,
    public_keys: Sequence[Path] = (),
    keys: dict[str, Ed25519PublicKey] | None = None,
    page_size: int = 1000,
) -> VerifyReport:
    """Check the whole log and every checkpoint in `settings.checkpoint_dir`.

    Checkpoints are checked with the keys in `public_keys` (PEM files) if given, else the `.pub`
    file next to the signing key (see checkpoint.trusted_keys); `keys` overrides both."""
    problems: list[tuple[int | None, str]] = []
    if keys is None:
        try:
            keys = trusted_keys(settings, public_keys)
        except CheckpointError as e:
            keys = {}
            problems.append((None, str(e)))

    by_count: dict[int, Checkpoint] = {}
    for _, path in checkpoint_paths(settings.checkpoint_dir):
        try:
            cp = read_checkpoint(path)
            check_signature(cp, keys)
        except CheckpointError as e:
            problems.append((None, str(e)))
            continue
        by_count[cp.count] = cp

    matched: list[int] = []

    def on_entry(seq: int, entry_hash: str) -> audit.ChainBreak | None:
        cp = by_count.get(seq)
        if cp is None:
            return None
        if cp.head_hash != entry_hash:
            start = (matched[-1] if matched else 0) + 1
            name = cp.path.name if cp.path else f"checkpoint {seq}"
            return audit.ChainBreak(
                start,
                f"entry {seq} differs from {name}: entries {start} to {seq} were rewritten "
                "after it was signed (the chain itself was recomputed)",
            )
        matched.append(seq)
        return None

    last, brk = audit.check_chain(conn, on_entry=on_entry, page_size=page_size)
    if brk is not None:
        problems.append((brk.seq, brk.reason))
    else:
        beyond = sorted(n for n in by_count if n > last)
        if beyond:
            n = beyond[-1]
            problems.append(
                (
                    last + 1,
                    f"the log ends at entry {last} but checkpoint {n} covers {n} entries: "
                    f"entries {last + 1} to {n} were removed",
                )
            )
    entries = last if brk is None else min(last, brk.seq - 1)
    with_seq = sorted((s, r) for s, r in problems if s is not None)
    first_seq, reason = with_seq[0] if with_seq else (None, problems[0][1] if problems else None)
    ordered = [reason] if reason else []
    ordered += [r for _, r in problems if r != reason]
    return VerifyReport(
        ok=not problems,
        entries=entries,
        checkpoints_checked=len(matched),
        first_bad_seq=first_seq,
        reason=reason,
        last_checkpoint=matched[-1] if matched else None,
        problems=tuple(ordered[:MAX_PROBLEMS]),
    )


__all__ = ["VerifyReport", "verify"]
