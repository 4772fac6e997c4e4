"""A serving store with a disclosure case and its reviewers, and made-up case material, for
the evidence tests (all synthetic)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from peel.governance import history
from peel.governance.access import Caller
from peel.governance.accounts import Accounts
from peel.governance.cases import add_member, create_case
from peel.governance.policy import Policy
from peel.serving import Store

REF = "OP/DISC/7"
PASSWORD = "correct horse battery staple"
ROOT = Caller(username="root", roles=("admin",))
IVY = Caller(username="ivy", roles=("investigator",))


def clock() -> datetime:
    return datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def reviewer(name: str, reference: str = REF) -> Caller:
    return Caller(
        username=name,
        roles=("disclosure_officer",),
        purpose="disclosure",
        case_reference=reference,
    )


@dataclass
class World:
    store: Store
    policy: Policy
    data_dir: Path


def make_world(store: Store, data_dir: Path) -> World:
    with store.begin() as conn:
        p = history.ensure_installed(conn).loaded.policy
    acc = Accounts(store, p, clock=clock)
    acc.bootstrap(username="root", display_name="Root", password=PASSWORD)
    acc.add_user(ROOT, username="ivy", display_name="Ivy", roles=["investigator"], password=None)
    for name in ("dora", "dan", "olly"):
        acc.add_user(
            ROOT,
            username=name,
            display_name=name.title(),
            roles=["disclosure_officer"],
            password=None,
        )
    create_case(store, p, IVY, reference=REF, title="Disclosure test case", clock=clock)
    for name in ("dora", "dan"):
        add_member(store, p, IVY, reference=REF, username=name, clock=clock)
    return World(store, p, data_dir)


def chat_file(path: Path, messages: list[tuple[str, str]], start: datetime | None = None) -> Path:
    """An Android WhatsApp export of (sender, text) messages, one minute apart."""
    t = start or datetime(2025, 3, 1, 18, 0)
    lines = [
        f"{t:%d/%m/%Y}, {t:%H:%M} - Messages and calls are end-to-end encrypted. No one "
        "outside of this chat can read them."
    ]
    for n, (who, text) in enumerate(messages, start=1):
        at = t + timedelta(minutes=n)
        lines.append(f"{at:%d/%m/%Y}, {at:%H:%M} - {who}: {text}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
