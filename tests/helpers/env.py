"""Where the tests are, where the shared data is, and `require`: skip when something is
missing, except under CI=true, where that is a failure (INTERFACES: Tests and CI)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = ROOT.parent / "shared" / "data"


def require(condition: bool, what: str) -> None:
    """Skip when `what` is missing, except under CI=true, where that is a failure."""
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {what} is missing")
    pytest.skip(f"{what} is missing")
