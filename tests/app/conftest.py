"""Fixtures for the app tests: an app per role (helpers.appenv) and the tiny resolved city
published into its store."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.appenv import AppEnv, app_env
from helpers.published import copy_into, publish
from helpers.resolved import ResolvedWorld
from peel.settings import get_settings


@pytest.fixture
def published(
    app_env: AppEnv, resolved_world: ResolvedWorld, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AppEnv]:
    """`app_env` with the tiny city's profiles published; the data clock inside the synthetic
    year, so its hotlist entries are current."""
    copy_into(resolved_world, data_dir)
    publish(app_env.store)
    monkeypatch.setenv("PEEL_REFERENCE_TIME", "2024-12-01T12:00:00+00:00")
    get_settings.cache_clear()
    yield app_env
    get_settings.cache_clear()


__all__ = ["app_env", "published"]
