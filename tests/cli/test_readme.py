"""The README's commands run as written, from the project root, by bash (BATCH is filled in
with the batch id the JSON ingest before it printed)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from helpers.env import ROOT, SHARED_DATA, require


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [
        line.split("#")[0].strip()
        for line in text.splitlines()
        if line.startswith(".venv/bin/peel ")
    ]


@pytest.mark.slow
@pytest.mark.timeout(400)  # the README builds, resolves and publishes a tiny city: ~100 s
def test_readme_commands_run(tmp_path: Path) -> None:
    require(SHARED_DATA.is_dir(), f"shared data folder {SHARED_DATA}")
    require((ROOT / ".venv" / "bin" / "peel").exists(), "the project's .venv (make install)")
    env = dict(os.environ, PEEL_DATA_DIR=str(tmp_path / "data"), PEEL_FSYNC="false")
    commands = readme_commands()
    assert len(commands) >= 5
    batch = None
    for command in commands:
        if "BATCH" in command:
            assert batch is not None, "a batch id is needed before `quarantine show`"
            command = command.replace("BATCH", batch)
        out = subprocess.run(
            ["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert out.returncode == 0, f"{command}: exit {out.returncode}\n{out.stderr[-2000:]}"
        if "--json" in command and " ingest " in command:
            batch = json.loads(out.stdout)["batches"][0]["batch"]
