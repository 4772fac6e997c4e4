from __future__ import annotations

from collections.abc import Iterator

import pytest

from leads.memlake import MemoryEngine


@pytest.fixture
def mem() -> Iterator[MemoryEngine]:
    e = MemoryEngine()
    yield e
    e.close()
