"""Small helpers for the account tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from peel.governance.accounts import Accounts


def user(acc: Accounts, username: str) -> dict[str, Any]:
    """The account's public fields; fails the test if there is no such account."""
    found = acc.get(username)
    assert found is not None, f"no account {username!r}"
    return found


class Clock:
    """A wall clock a test moves by hand (lockout, session expiry, TOTP steps)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.t = start or datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.t

    def advance(self, **delta: float) -> None:
        self.t += timedelta(**delta)
