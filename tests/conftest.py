"""Shared fixtures. Under CI=true a missing service or data folder fails a test instead of
skipping it (INTERFACES: Tests and CI)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from helpers import pg
from helpers.env import SHARED_DATA, require
from helpers.resolved import ResolvedWorld
from helpers.settings import small_settings
from peel.lake import Lake
from peel.serving import Store
from peel.settings import Settings, get_settings

settings.register_profile(
    "ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "dev")


@pytest.fixture
def shared_data() -> Path:
    require(SHARED_DATA.is_dir(), f"shared data folder {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh PEEL_DATA_DIR for one test; the settings cache is cleared around it."""
    d = tmp_path / "peel-data"
    monkeypatch.setenv("PEEL_DATA_DIR", str(d))
    monkeypatch.setenv("PEEL_ENV", "test")
    monkeypatch.setenv("PEEL_FSYNC", "false")
    get_settings.cache_clear()
    yield d
    get_settings.cache_clear()


@pytest.fixture
def lake(data_dir: Path) -> Lake:
    return Lake(Settings(data_dir=data_dir, fsync=False))


@pytest.fixture
def small_lake(data_dir: Path) -> Lake:
    """A lake whose limits are small enough to test hostile input quickly."""
    return Lake(small_settings(data_dir))


@pytest.fixture(scope="session")
def postgres_url() -> str | None:
    return pg.server_url()


@contextmanager
def _store(kind: str, monkeypatch: pytest.MonkeyPatch, postgres_url: str | None) -> Iterator[Store]:
    name = None
    if kind == "postgresql":
        require(postgres_url is not None, "PostgreSQL (server binaries or PEEL_TEST_POSTGRES_URL)")
        assert postgres_url is not None
        owner, app, name = pg.fresh_database(postgres_url)
        monkeypatch.setenv("PEEL_DATABASE_ADMIN_URL", owner)
        monkeypatch.setenv("PEEL_DATABASE_URL", app)
        monkeypatch.setenv("PEEL_DATABASE_APP_ROLE", pg.APP_ROLE)
    get_settings.cache_clear()
    s = Store(get_settings())
    s.migrate()
    try:
        yield s
    finally:
        s.dispose()
        get_settings.cache_clear()
        if name is not None and postgres_url is not None:
            pg.drop_database(postgres_url, name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(
    request: pytest.FixtureRequest,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    postgres_url: str | None,
) -> Iterator[Store]:
    """A migrated, empty serving store: every test that uses it runs on SQLite and on
    PostgreSQL (where the app connects as a role that may only INSERT and SELECT the audit)."""
    with _store(request.param, monkeypatch, postgres_url) as s:
        yield s


@pytest.fixture
def postgres_store(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str | None
) -> Iterator[Store]:
    """For the few tests about PostgreSQL alone (role privileges)."""
    with _store("postgresql", monkeypatch, postgres_url) as s:
        yield s


@pytest.fixture(scope="session")
def resolved_world(tmp_path_factory: pytest.TempPathFactory) -> ResolvedWorld:
    """A tiny city (seed 3), ingested and resolved once per run: read-only (see
    helpers.resolved.copy_world)."""
    from helpers.resolved import build_world

    return build_world(tmp_path_factory.mktemp("resolved"))
