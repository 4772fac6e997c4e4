"""Generates docs/cli.md from the commands' own --help, so the reference cannot rot.

`python -m peel.cli.docgen` writes it; `--check` exits 1 if the file is out of date (run by
`make test`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

from peel.cli.main import app

DOC = Path("docs/cli.md")


def _commands(cmd: Any, path: list[str]) -> list[list[str]]:
    out = [path]
    if isinstance(getattr(cmd, "commands", None), dict):
        for name in sorted(cmd.commands):
            out.extend(_commands(cmd.commands[name], [*path, name]))
    return out


def render() -> str:
    runner = CliRunner()
    root = typer.main.get_command(app)
    parts = [
        "# Command reference\n",
        "Generated from each command's `--help` by `make docs` "
        "(`python -m peel.cli.docgen`); `make test` fails if it is out of date.\n",
    ]
    env = {"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb", "_TYPER_FORCE_DISABLE_TERMINAL": "1"}
    for path in _commands(root, []):
        result = runner.invoke(app, [*path, "--help"], env=env, prog_name="peel")
        text = "\n".join(line.rstrip() for line in result.output.splitlines()).strip("\n")
        title = " ".join(["peel", *path])
        parts.append(f"## `{title}`\n\n```\n{text}\n```\n")
    return "\n".join(parts)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not DOC.exists() or DOC.read_text(encoding="utf-8") != text:
            sys.stderr.write(f"{DOC} is out of date: run `make docs` and commit it\n")
            return 1
        return 0
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
