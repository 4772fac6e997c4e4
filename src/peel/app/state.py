"""What the app holds while it runs: settings, the serving store, the applied policy, the
accounts service and the clocks. Built once by `create_app`; checks that refuse to start
live here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from peel import clock as data_clock
from peel.errors import PolicyError
from peel.governance import history
from peel.governance.accounts import Accounts
from peel.governance.history import AppliedPolicy
from peel.governance.policy import Policy
from peel.serving import Store
from peel.settings import PLACEHOLDER_SECRET, Settings


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class AppState:
    settings: Settings
    store: Store
    applied: AppliedPolicy
    accounts: Accounts
    clock: Callable[[], datetime]

    @property
    def policy(self) -> Policy:
        return self.applied.loaded.policy

    def data_clock_label(self) -> str | None:
        """The reference time, when the data clock is not the wall clock (shown in headers)."""
        if data_clock.is_wall_clock():
            return None
        return data_clock.now().strftime("%Y-%m-%d %H:%M UTC")

    def synthetic(self) -> bool:
        """True when the lake holds a synthetic city (pages then carry a SYNTHETIC banner)."""
        cities = self.settings.lake_dir / "_cities"
        return cities.is_dir() and any(cities.glob("*.json"))

    def synthetic_datasets(self) -> list[str]:
        cities = self.settings.lake_dir / "_cities"
        if not cities.is_dir():
            return []
        return sorted(p.stem for p in cities.glob("*.json"))


def refuse_unsafe(settings: Settings) -> None:
    """Outside development mode the server refuses placeholder secrets."""
    if settings.development:
        return
    if settings.secret_key == PLACEHOLDER_SECRET or len(settings.secret_key) < 32:
        raise PolicyError(
            "PEEL_SECRET_KEY is the placeholder or shorter than 32 characters: set a random "
            "secret (outside development mode the server refuses placeholder secrets)"
        )
    if not settings.signing_key_file.exists():
        raise PolicyError(
            f"the audit signing key {settings.signing_key_file} does not exist: create it "
            "(peel audit checkpoint in development creates one) or set PEEL_AUDIT_KEY_FILE"
        )


def build_state(
    settings: Settings, *, clock: Callable[[], datetime] = wall_clock, migrate: bool = True
) -> AppState:
    refuse_unsafe(settings)
    store = Store(settings)
    try:
        if migrate:
            store.migrate()
        store.check()
        with store.begin() as conn:
            applied = history.running_policy(conn, settings.policy_file)
    except BaseException:
        store.dispose()
        raise
    return AppState(
        settings=settings,
        store=store,
        applied=applied,
        accounts=Accounts(store, applied.loaded.policy, clock=clock),
        clock=clock,
    )


__all__ = ["AppState", "build_state", "refuse_unsafe", "wall_clock"]
