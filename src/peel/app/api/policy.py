"""The code of ethics as policy: the running policy and its history with diffs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from peel.app.deps import Permit, StateDep
from peel.errors import NotFound
from peel.governance import history
from peel.governance.access import Caller

router = APIRouter(prefix="/api/policy", tags=["policy"])
Reader = Annotated[Caller, Depends(Permit("policy.read"))]


@router.get("")
def current_policy(state: StateDep, _: Reader) -> dict[str, Any]:
    a = state.applied
    return {
        "version": a.version,
        "policy_version": a.loaded.policy.version,
        "sha256": a.loaded.sha256,
        "approved_by": a.approved_by,
        "applied_at": a.applied_at.isoformat(),
        "policy": a.loaded.policy.model_dump(mode="json"),
    }


@router.get("/history")
def policy_history(state: StateDep, _: Reader) -> list[dict[str, Any]]:
    with state.store.connect() as conn:
        rows = history.history(conn)
    return [
        {
            "version": r["version"],
            "policy_version": r["policy_version"],
            "sha256": r["sha256"],
            "approved_by": r["approved_by"],
            "applied_at": r["applied_at"].isoformat(),
            "running": r["version"] == state.applied.version,
        }
        for r in rows
    ]


@router.get("/history/{version}")
def policy_version(version: int, state: StateDep, _: Reader) -> dict[str, Any]:
    with state.store.connect() as conn:
        rows = [r for r in history.history(conn) if r["version"] == version]
    if not rows:
        raise NotFound(f"no applied policy version {version}")
    r = rows[0]
    return {
        "version": r["version"],
        "policy_version": r["policy_version"],
        "sha256": r["sha256"],
        "approved_by": r["approved_by"],
        "applied_at": r["applied_at"].isoformat(),
        "text": r["text"],
        "diff": r["diff"],
    }
