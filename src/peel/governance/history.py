"""Policy history in the serving store: which policy is applied, by whom, when, and what
changed. The server runs only the newest applied policy."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select

from peel.errors import PolicyError
from peel.governance.policy import LoadedPolicy, default_policy_text, load_policy, load_policy_file
from peel.serving.tables import policies

INSTALLER = "system:install"


@dataclass(frozen=True)
class AppliedPolicy:
    version: int
    loaded: LoadedPolicy
    approved_by: str
    applied_at: datetime


def diff_text(old: str, new: str, old_name: str, new_name: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=old_name,
            tofile=new_name,
        )
    )


def current(conn: Connection) -> AppliedPolicy | None:
    row = conn.execute(select(policies).order_by(policies.c.version.desc()).limit(1)).first()
    if row is None:
        return None
    loaded = load_policy(row.text, source=f"applied policy v{row.version}")
    return AppliedPolicy(row.version, loaded, row.approved_by, row.applied_at)


def record(
    conn: Connection,
    loaded: LoadedPolicy,
    *,
    approved_by: str,
    now: datetime | None = None,
) -> int:
    """Record `loaded` as the applied policy; returns its history version. The caller has
    already checked the approver's role and second factor and writes the audit entry."""
    previous = conn.execute(
        select(policies.c.version, policies.c.text).order_by(policies.c.version.desc()).limit(1)
    ).first()
    version = 1 if previous is None else previous.version + 1
    old_text, old_name = (
        ("", "(none)") if previous is None else (previous.text, f"v{previous.version}")
    )
    conn.execute(
        insert(policies),
        [
            {
                "version": version,
                "policy_version": loaded.policy.version,
                "sha256": loaded.sha256,
                "text": loaded.text,
                "diff": diff_text(old_text, loaded.text, old_name, f"v{version}"),
                "approved_by": approved_by,
                "applied_at": now or datetime.now(UTC),
                "source": loaded.source[:500],
            }
        ],
    )
    return version


def ensure_installed(conn: Connection) -> AppliedPolicy:
    """On a new store, record the shipped default as version 1 (approved by the installer);
    otherwise return the applied policy."""
    applied = current(conn)
    if applied is None:
        record(
            conn,
            load_policy(default_policy_text(), source="peel default policy"),
            approved_by=INSTALLER,
        )
        applied = current(conn)
    assert applied is not None
    return applied


def running_policy(conn: Connection, policy_file: Path | None) -> AppliedPolicy:
    """The policy the server runs: the newest applied one. A configured policy file must be
    valid and be that policy, or the server refuses to start, saying why."""
    applied = ensure_installed(conn)
    if policy_file is not None:
        wanted = load_policy_file(policy_file)  # raises PolicyError naming the problem
        if wanted.sha256 != applied.loaded.sha256:
            raise PolicyError(
                f"{policy_file} is not the applied policy (applied: v{applied.version}, "
                f"sha256 {applied.loaded.sha256[:12]}; file: {wanted.sha256[:12]}): "
                "an oversight-panel member must run `peel policy apply` first"
            )
    return applied


def history(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(policies).order_by(policies.c.version.desc())).mappings()
    return [dict(r) for r in rows]


__all__ = [
    "INSTALLER",
    "AppliedPolicy",
    "current",
    "diff_text",
    "ensure_installed",
    "history",
    "record",
    "running_policy",
]
