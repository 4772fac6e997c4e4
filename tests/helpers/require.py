"""Skip a test when a service or file it needs is missing, except under CI=true, where that is
a failure. In its own module so test files can import it: `conftest` is not importable by
name from a folder that has its own conftest.py."""

from __future__ import annotations

import os

import pytest


def require(condition: bool, what: str) -> None:
    """Skip when `what` is missing, except under CI=true, where that is a failure."""
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {what} is missing")
    pytest.skip(f"{what} is missing")
