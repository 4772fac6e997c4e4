"""A throwaway PostgreSQL for the tests: the one `.ci/run` started (PEEL_TEST_POSTGRES_URL),
or, on a developer's machine with the server binaries, one this module starts and stops."""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
APP_ROLE = "peel_app"
_started: dict[str, str] = {}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_url() -> str | None:
    """The owner URL of a running cluster, starting one if we can; None if there is none."""
    url = os.environ.get("PEEL_TEST_POSTGRES_URL")
    if url:
        return url
    if "url" in _started:
        return _started["url"]
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        return None
    # Not under pytest's private temp folder: the server runs as `postgres` when we are root
    # and must be able to reach its data folder.
    folder = Path(tempfile.mkdtemp(prefix="peel-pg-"))
    folder.chmod(0o755)
    done = subprocess.run(
        [str(ROOT / ".ci" / "pg-start"), str(folder), str(_free_port())],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return None
    _started["url"] = done.stdout.strip()
    atexit.register(subprocess.run, [str(ROOT / ".ci" / "pg-stop"), str(folder)], check=False)
    return _started["url"]


def fresh_database(owner_url: str) -> tuple[str, str, str]:
    """Create an empty database; return (owner URL, app-role URL, name)."""
    name = f"peel_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(
        make_url(owner_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": APP_ROLE}
        ).first()
        if not exists:
            conn.execute(text(f"CREATE ROLE {APP_ROLE} LOGIN"))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    owner = make_url(owner_url).set(drivername="postgresql+psycopg", database=name)
    app = owner.set(username=APP_ROLE)
    return (
        owner.render_as_string(hide_password=False),
        app.render_as_string(hide_password=False),
        name,
    )


def drop_database(owner_url: str, name: str) -> None:
    admin = create_engine(
        make_url(owner_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
