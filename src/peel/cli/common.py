"""Shared CLI plumbing: logging to stderr, one JSON document on stdout, exit codes.

Exit 0: the job ran. Exit 1: a check failed. Exit 2: usage error or input refused.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer
from rich.console import Console

from peel.errors import InputRefused, MappingError, PeelError, SchemaError

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


def run(fn: Callable[[], T]) -> T:
    with handled():
        return fn()


__all__ = ["JsonOption", "QuietOption", "emit_json", "err", "handled", "run", "setup_logging"]
