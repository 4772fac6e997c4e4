"""Shared CLI plumbing: logging to stderr, one JSON document on stdout, exit codes.

Exit 0: the job ran. Exit 1: a check failed. Exit 2: usage error or input refused.
"""

from __future__ import annotations

import json
import logging
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import typer
from rich.console import Console

from peel.errors import InputRefused, MappingError, PeelError, SchemaError
from peel.governance import history, identity
from peel.governance.access import Caller
from peel.governance.policy import Policy
from peel.serving import Store

err = Console(stderr=True)
T = TypeVar("T")

JsonOption = typer.Option(False, "--json", help="Print one JSON document on stdout, nothing else.")
QuietOption = typer.Option(False, "--quiet", "-q", help="No progress or log output on stderr.")


def setup_logging(quiet: bool) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )


def emit_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n")


@contextmanager
def handled() -> Iterator[None]:
    """Turn Peel's errors into a message on stderr and the contract's exit code."""
    try:
        yield
    except (InputRefused, MappingError, SchemaError) as e:
        err.print(f"[red]refused:[/red] {e}", highlight=False, markup=True)
        raise typer.Exit(2) from e
    except PeelError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(2) from e


def AsOption(default: str) -> Any:
    return typer.Option(
        default,
        "--as",
        envvar="PEEL_AS",
        help="The named user or service identity this runs as (audited).",
    )


def PurposeOption(default: str) -> Any:
    return typer.Option(
        default, "--purpose", envvar="PEEL_PURPOSE", help="Lawful purpose (from the policy)."
    )


@dataclass(frozen=True)
class Acting:
    """The serving store, the applied policy and the Caller a CLI command runs as."""

    store: Store
    policy: Policy
    caller: Caller


@contextmanager
def acting(
    name: str,
    purpose: str | None,
    *,
    case_reference: str | None = None,
    justification: str | None = None,
) -> Iterator[Acting]:
    """Open (and migrate) the serving store and resolve `--as NAME` to a Caller; the store
    is closed when the block ends, however it ends."""
    store = Store()
    try:
        store.migrate()
        with store.begin() as conn:
            applied = history.ensure_installed(conn)
            caller = identity.caller_for(
                conn,
                applied.loaded.policy,
                name,
                purpose=purpose,
                case_reference=case_reference,
                justification=justification,
                request_id=f"cli-{uuid.uuid4().hex[:16]}",
            )
        yield Acting(store=store, policy=applied.loaded.policy, caller=caller)
    finally:
        store.dispose()


def run(fn: Callable[[], T]) -> T:
    with handled():
        return fn()


__all__ = [
    "Acting",
    "AsOption",
    "JsonOption",
    "PurposeOption",
    "QuietOption",
    "acting",
    "emit_json",
    "err",
    "handled",
    "run",
    "setup_logging",
]
