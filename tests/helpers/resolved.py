"""A tiny synthetic city, ingested and resolved once per test run (session scope), for the
tests of resolution, publishing and the checks. Tests treat its folder as read-only: copy it
(`copy_world`) before changing the lake or the resolution."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peel.governance import history, identity
from peel.ingest.city import ingest_city
from peel.lake import Lake
from peel.resolve.run import resolve_people
from peel.serving import Store
from peel.settings import Settings
from peel.synth import build_params, generate

DATASET = "city"


@dataclass(frozen=True)
class ResolvedWorld:
    city: Path  # the generated city (exports/, truth/)
    data_dir: Path  # PEEL_DATA_DIR with the lake and the current resolution run
    summary: dict[str, Any]  # what resolve_people returned

    @property
    def settings(self) -> Settings:
        return Settings(data_dir=self.data_dir, fsync=False, env="test")


def resolve_as_service(settings: Settings, **kwargs: Any) -> dict[str, Any]:
    """Run resolution as the service identity, with a SQLite store in the data dir."""
    store = Store(settings.model_copy(update={"database_url": None}))
    try:
        store.migrate()
        with store.begin() as conn:
            applied = history.ensure_installed(conn)
            policy = applied.loaded.policy
            caller = identity.caller_for(conn, policy, "peel-resolve", purpose="combination")
        return resolve_people(Lake(settings), store, policy, caller, **kwargs)
    finally:
        store.dispose()


def build_world(root: Path, scale: str = "tiny", seed: int = 3) -> ResolvedWorld:
    city = root / f"{scale}-{seed}"
    generate(build_params(scale), seed, city)
    data_dir = root / "peel-data"
    settings = Settings(data_dir=data_dir, fsync=False, env="test")
    ingest_city(Lake(settings), city, DATASET)
    summary = resolve_as_service(settings)
    return ResolvedWorld(city=city, data_dir=data_dir, summary=summary)


def copy_world(world: ResolvedWorld, target: Path) -> ResolvedWorld:
    shutil.copytree(world.data_dir, target)
    return ResolvedWorld(city=world.city, data_dir=target, summary=world.summary)
