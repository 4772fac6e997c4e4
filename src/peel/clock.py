"""The data clock: the one clock for the age of data (INTERFACES: "The data clock").

`PEEL_REFERENCE_TIME` fixes it (the demo sets it to the end of the synthetic year); otherwise it
is the wall clock. Security timers must not use it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from peel.errors import PeelError
from peel.settings import get_settings


def now() -> datetime:
    """The reference time as an aware UTC datetime."""
    text = get_settings().reference_time
    if not text:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text)
    except ValueError as e:
        raise PeelError(f"PEEL_REFERENCE_TIME is not an ISO 8601 time: {text!r}") from e
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def is_wall_clock() -> bool:
    return not get_settings().reference_time


__all__ = ["is_wall_clock", "now"]
