"""A small synthetic city, built once per test run, and the lake it ingests into."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from peel.synth import build_params, generate


@pytest.fixture(scope="session")
def small_city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("city") / "small-3"
    generate(build_params("small"), 3, out)
    return out


@pytest.fixture(scope="session")
def small_city_lake(small_city: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from peel.ingest.city import ingest_city
    from peel.lake import Lake
    from peel.settings import Settings

    lake = Lake(Settings(data_dir=tmp_path_factory.mktemp("city-lake"), fsync=False))
    yield ingest_city(lake, small_city, "city"), lake
