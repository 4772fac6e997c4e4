"""Crash test of the lake's commit protocol (issue 2, section 6).

An ingest of a police.uk file (a few hundred rows, some of them bad, some already stored) into a
lake that already holds one committed batch runs in a subprocess, with fsync on, and is killed:
at each named step of the commit protocol (`PEEL_TEST_CRASH_AT`, where the process exits with
137 as under `kill -9`), and at 20 seeded random moments (SIGKILL). After every kill a reader
opening the lake must see exactly the rows and quarantine of before the batch or exactly those
of after it (taken from an uncrashed reference run into a copy of the same starting lake; row
ids are deterministic), never a mix. The ingest then runs again to completion: the lake must
equal the after-batch state and no file that no manifest lists may remain.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from peel.ingest import ingest_file, quarantine_rows
from peel.lake import Lake
from peel.lake.catalog import CATALOG, STAGING
from peel.settings import Settings
from peel.sources import get_mapping

HEADER = (
    "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,"
    "LSOA name,Crime type,Last outcome category,Context"
)
CRIME_TYPES = ["Burglary", "Robbery", "Vehicle crime", "Shoplifting", "Drugs", "Other theft"]
OUTCOMES = ["Under investigation", "Investigation complete; no suspect identified", ""]
STREETS = ["Quillon Row", "Marsh Lantern Lane", "Tobbet Yard", "Kestle Walk", "Ferrow Close"]

# The child: everything imported and loaded before it says "ready", so the random kills land
# in the ingest itself rather than in interpreter start-up.
CHILD = """
import json, sys
from pathlib import Path
from peel.ingest import ingest_file
from peel.lake import Lake
from peel.sources import get_mapping
lake = Lake()
mapping = get_mapping("police-uk")
sys.stdout.write("ready\\n")
sys.stdout.flush()
report = ingest_file(lake, Path(sys.argv[1]), mapping)
sys.stdout.write(json.dumps(report.to_json()) + "\\n")
"""

STEPS_BEFORE = ["data-written", "data-fsynced", "before-commit", "manifest-written"]
STEPS_AFTER = ["manifest-renamed"]
RANDOM_KILLS = 20


# --- invented police.uk rows -------------------------------------------------------------------


def _field(value: str) -> str:
    if any(c in value for c in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _line(fields: list[str]) -> str:
    return ",".join(_field(f) for f in fields) + "\n"


def _row(rng: random.Random, i: int, *, keyed: bool = True) -> list[str]:
    crime_id = hashlib.sha256(f"crash-test-{i}".encode()).hexdigest() if keyed else ""
    ctype = rng.choice(CRIME_TYPES) if keyed else "Anti-social behaviour"
    return [
        crime_id,
        f"2023-{rng.randint(1, 12):02d}",
        "Testshire Constabulary",
        "Testshire Constabulary",
        f"{rng.uniform(-0.2, 0.1):.6f}",
        f"{rng.uniform(51.4, 51.6):.6f}",
        f"On or near {rng.choice(STREETS)}",
        f"E0100{rng.randint(1000, 9999)}",
        f"Testshire {rng.randint(1, 99):03d}{rng.choice('ABCD')}",
        ctype,
        rng.choice(OUTCOMES) if keyed else "",
        "",
    ]


@dataclass(frozen=True)
class Files:
    earlier: Path  # the batch already committed in the starting lake
    batch: Path  # the batch the crash test interrupts
    batch_valid: int
    batch_duplicates: int
    batch_bad: int


def _write_files(folder: Path) -> Files:
    rng = random.Random(20240229)
    earlier_rows = [_row(rng, i) for i in range(40)]
    earlier_rows += [_row(rng, 1000 + i, keyed=False) for i in range(5)]
    earlier_text = HEADER + "\n" + "".join(_line(r) for r in earlier_rows)
    earlier_text += _line(_row(rng, 90)[:-2])  # one ragged row, quarantined in the first batch
    earlier = folder / "earlier.csv"
    earlier.write_text(earlier_text, encoding="utf-8")

    lines: list[str] = []
    valid = duplicates = bad = 0
    for i in range(300):
        r = _row(rng, 100 + i, keyed=i % 9 != 0)
        if i % 25 == 3:  # an earlier row again, identical: a duplicate
            lines.append(_line(earlier_rows[i // 25]))
            valid += 1
            duplicates += 1
            continue
        if i % 25 == 7:  # an earlier record with new content: a new version, kept
            r = list(earlier_rows[i // 25 + 20])
            r[10] = "Awaiting court outcome"
        if i % 40 == 11:  # a quoted newline inside Location: one record on two lines
            r[6] = "On or near Kestle Walk\nby the lock-up garages"
        lines.append(_line(r))
        valid += 1
        if i % 60 == 20:  # the same anti-social behaviour row twice: both kept
            lines.append(_line(_row(random.Random(i), 5000, keyed=False)))
            lines.append(_line(_row(random.Random(i), 5000, keyed=False)))
            valid += 2
    bad_rows = [
        _row(rng, 900)[:11],  # ragged
        [*_row(rng, 901)[:9], "Jaywalking", *_row(rng, 901)[10:]],  # unknown crime type
        [_row(rng, 902)[0], "2023-13", *_row(rng, 902)[2:]],  # bad month
        [*_row(rng, 903)[:4], "-999.5", *_row(rng, 903)[5:]],  # longitude out of range
        [*_row(rng, 904)[:6], "On or near Nul\x00 Lane", *_row(rng, 904)[7:]],  # NUL byte
    ]
    for k, r in enumerate(bad_rows):
        lines.insert(37 + 50 * k, _line(r))
        bad += 1
    batch = folder / "batch.csv"
    batch.write_text(HEADER + "\n" + "".join(lines), encoding="utf-8")
    return Files(earlier, batch, valid, duplicates, bad)


# --- what a reader sees ------------------------------------------------------------------------


def _settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, fsync=True)


@dataclass(frozen=True)
class View:
    row_ids: frozenset[str]
    rows: Counter[tuple[Any, ...]]  # multiset of (_line, content)
    quarantine: Counter[tuple[Any, ...]]

    def describe(self) -> str:
        return f"{len(self.row_ids)} row ids, {sum(self.quarantine.values())} quarantined"


def read_view(data_dir: Path) -> View:
    """Exactly what a reader opening the lake sees: the crime table through the engine's
    views, and the quarantine entries of committed batches."""
    lake = Lake(_settings(data_dir))
    engine = lake.engine()
    try:
        engine.create_views()
        table = engine.query("SELECT * EXCLUDE (_batch) FROM crime")
    finally:
        engine.close()
    names = [n for n in table.column_names if n not in ("row_id", "_line")]
    rows = table.to_pylist()
    row_ids = frozenset(str(r["row_id"]) for r in rows)
    content = Counter((r["_line"], tuple(r[n] for n in names)) for r in rows)
    q = quarantine_rows(lake)
    keep = [n for n in q.column_names if n not in ("quarantine_id", "batch")]
    quarantine = Counter(tuple(r[n] for n in keep) for r in q.to_pylist())
    return View(row_ids, content, quarantine)


def unlisted_files(data_dir: Path) -> list[Path]:
    """Debris an interrupted batch can leave: data or quarantine files no committed manifest
    lists, pending manifests, staging folders."""
    listed = Lake(_settings(data_dir)).catalog.listed_paths()
    out = [p for p in data_dir.rglob("*.parquet") if p not in listed]
    catalog = data_dir / "lake" / CATALOG
    if catalog.exists():
        out += list(catalog.glob(".pending-*"))
    staging = data_dir / "lake" / STAGING
    if staging.exists():  # the folder itself may stay; a batch's staging folder in it may not
        out += list(staging.iterdir())
    return sorted(out)


# --- running the child -------------------------------------------------------------------------


def _env(data_dir: Path, crash_at: str | None) -> dict[str, str]:
    # Other PEEL_ settings pass through, so the child maps rows as the test process does.
    env = {k: v for k, v in os.environ.items() if k != "PEEL_TEST_CRASH_AT"}
    env.update(PEEL_DATA_DIR=str(data_dir), PEEL_FSYNC="true", PEEL_ENV="test")
    if crash_at:
        env["PEEL_TEST_CRASH_AT"] = crash_at
    return env


def start_child(data_dir: Path, batch: Path, crash_at: str | None = None) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(batch)],
        env=_env(data_dir, crash_at),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    ready = proc.stdout.readline()
    if ready != "ready\n":
        _, err = proc.communicate(timeout=60)
        pytest.fail(f"the ingest child did not start (rc={proc.returncode}): {err[-2000:]}")
    return proc


def run_child(data_dir: Path, batch: Path, crash_at: str | None = None) -> tuple[int, str, str]:
    proc = start_child(data_dir, batch, crash_at)
    out, err = proc.communicate(timeout=90)
    return proc.returncode, out, err


# --- the starting lake and the two states ------------------------------------------------------


@dataclass(frozen=True)
class World:
    root: Path
    files: Files
    start: Path  # data dir holding the earlier batch only
    before: View
    after: View
    ingest_seconds: float  # duration of an uncrashed ingest, from "ready" to exit
    reference: dict[str, Any]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("crash")
    files = _write_files(root)
    start = root / "start"
    first = ingest_file(Lake(_settings(start)), files.earlier, get_mapping("police-uk"))
    assert (first.rows_stored, first.rows_quarantined) == (45, 1)
    before = read_view(start)

    ref = root / "reference"
    shutil.copytree(start, ref)
    proc = start_child(ref, files.batch)
    t0 = time.perf_counter()
    out, err = proc.communicate(timeout=90)
    seconds = time.perf_counter() - t0
    assert proc.returncode == 0, err[-2000:]
    report = json.loads(out)
    assert report["rows_read"] == files.batch_valid + files.batch_bad
    assert report["rows_quarantined"] == files.batch_bad
    assert report["rows_duplicate"] == files.batch_duplicates
    assert report["rows_stored"] == files.batch_valid - files.batch_duplicates
    after = read_view(ref)
    assert before.row_ids < after.row_ids
    assert len(after.row_ids) - len(before.row_ids) == report["rows_stored"]
    assert sum(after.quarantine.values()) == 1 + files.batch_bad
    assert unlisted_files(ref) == []
    return World(root, files, start, before, after, seconds, report)


def fresh_copy(world: World, name: str) -> Path:
    d = world.root / name
    shutil.copytree(world.start, d)
    return d


def state_of(world: World, view: View) -> str:
    """'before' or 'after'; fails, naming what differs, when a reader sees anything else."""
    if view == world.before:
        return "before"
    if view == world.after:
        return "after"
    pytest.fail(
        "a reader sees neither the exact before-batch nor the exact after-batch lake: "
        f"{view.describe()} (before: {world.before.describe()}, after: {world.after.describe()}); "
        f"rows match before={view.rows == world.before.rows} after={view.rows == world.after.rows}"
        f", quarantine matches before={view.quarantine == world.before.quarantine} "
        f"after={view.quarantine == world.after.quarantine}"
    )


def finish_and_check(world: World, data_dir: Path, seen: str) -> None:
    """Recover, run the ingest to completion, and check the lake is the after-batch lake with
    no unlisted file left on disk."""
    lake = Lake(_settings(data_dir))
    lake.recover()
    assert unlisted_files(data_dir) == [], "Lake.recover() left unlisted files behind"
    assert state_of(world, read_view(data_dir)) == seen, "recovery changed what readers see"
    report = ingest_file(lake, world.files.batch, get_mapping("police-uk"))
    ref = world.reference
    assert report.rows_read == ref["rows_read"]
    assert report.rows_quarantined == ref["rows_quarantined"]
    if seen == "before":
        assert (report.rows_stored, report.rows_duplicate) == (
            ref["rows_stored"],
            ref["rows_duplicate"],
        )
    else:  # the batch had committed: all its rows are stored already
        assert report.rows_stored == 0
        assert report.rows_duplicate == ref["rows_stored"] + ref["rows_duplicate"]
    assert read_view(data_dir) == world.after, "the completed rerun differs from the reference"
    assert unlisted_files(data_dir) == []


# --- the tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("step", STEPS_BEFORE + STEPS_AFTER)
def test_crash_at_each_commit_step(world: World, step: str) -> None:
    d = fresh_copy(world, f"step-{step}")
    rc, _, err = run_child(d, world.files.batch, crash_at=step)
    assert rc == 137, f"the ingest did not die at {step!r} (rc={rc}): {err[-2000:]}"
    debris = unlisted_files(d)
    if step in STEPS_BEFORE:
        assert any(p.suffix == ".parquet" and "crime" in p.parts for p in debris), (
            f"a crash at {step!r} should leave the batch's data file unlisted on disk"
        )
        if step in ("before-commit", "manifest-written"):
            assert any("quarantine" in p.parts for p in debris)
        if step == "manifest-written":
            assert any(p.name.startswith(".pending-") for p in debris)
    expected = "after" if step in STEPS_AFTER else "before"
    assert state_of(world, read_view(d)) == expected
    finish_and_check(world, d, expected)


def test_crash_during_cleanup_of_an_earlier_crash(world: World) -> None:
    d = fresh_copy(world, "step-cleanup")
    rc, _, err = run_child(d, world.files.batch, crash_at="before-commit")
    assert rc == 137, err[-2000:]
    debris = unlisted_files(d)
    batch_files = [p for p in debris if p.suffix == ".parquet" and STAGING not in p.parts]
    assert len(batch_files) == 2  # the batch's data file and its quarantine file

    # The next ingest starts by removing that debris, and dies while doing so.
    rc, _, err = run_child(d, world.files.batch, crash_at="cleanup")
    assert rc == 137, f"the ingest did not die during clean-up (rc={rc}): {err[-2000:]}"
    left = unlisted_files(d)
    assert left, "the crash during clean-up should leave some debris for the next start"
    assert {p for p in left if p.suffix == ".parquet"} <= set(debris)
    assert state_of(world, read_view(d)) == "before"
    finish_and_check(world, d, "before")


@pytest.mark.slow  # about 40 s on 2 cores: each kill starts a fresh interpreter
def test_sigkill_at_random_points(world: World) -> None:
    rng = random.Random(7)
    # Uniform over an uncrashed ingest's duration, measured from "ready" to the exit (so the
    # last moments, after the commit, are in range too).
    span = world.ingest_seconds
    seen: Counter[str] = Counter()
    for k in range(RANDOM_KILLS):
        delay = rng.uniform(0.0, span)
        d = fresh_copy(world, f"kill-{k:02d}")
        proc = start_child(d, world.files.batch)
        time.sleep(min(delay, 1.0))
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode in (-signal.SIGKILL, 0), (
            f"kill {k} at {delay:.3f}s: unexpected exit {proc.returncode}: {err[-2000:]}"
        )
        state = state_of(world, read_view(d))
        if proc.returncode == 0:
            assert state == "after", "a finished ingest must leave the after-batch lake"
        seen[state] += 1
        finish_and_check(world, d, state)
        shutil.rmtree(d)
    assert sum(seen.values()) == RANDOM_KILLS
    assert seen["before"] > 0, f"no kill landed before the commit ({dict(seen)})"
