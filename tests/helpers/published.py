"""The resolved tiny city copied into a test's data dir and published into its serving store
(SQLite or PostgreSQL), run as the service identity like `peel publish`."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from helpers.resolved import ResolvedWorld
from peel.governance import history, identity
from peel.governance.access import Caller
from peel.governance.policy import Policy
from peel.lake import Lake
from peel.resolve.publish import publish_profiles
from peel.resolve.run import resolve_people
from peel.serving import Store


def copy_into(world: ResolvedWorld, data_dir: Path) -> None:
    """The world's lake and resolution run into `data_dir` (its own serving store stays)."""
    shutil.copytree(
        world.data_dir, data_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns("serving.db*")
    )


def service(store: Store) -> tuple[Policy, Caller]:
    with store.begin() as conn:
        policy = history.ensure_installed(conn).loaded.policy
        caller = identity.caller_for(conn, policy, "peel-resolve", purpose="combination")
    return policy, caller


def publish(store: Store) -> dict[str, Any]:
    policy, caller = service(store)
    return publish_profiles(Lake(store.settings), store, policy, caller)


def resolve(store: Store) -> dict[str, Any]:
    policy, caller = service(store)
    return resolve_people(Lake(store.settings), store, policy, caller)
