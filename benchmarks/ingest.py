"""Benchmark: Peel ingesting a batch of ANPR reads into a lake that already holds many.

    python benchmarks/ingest.py [--rows N] [--existing M] [--out DIR] [--quick]

Default: a batch of 10,000,000 new reads into a lake that already holds 90,000,000 (`--quick`:
1,000,000 into 9,000,000). Steps:

1. A small vectorised generator (numpy, no Python loop per row) writes the batch in the
   `anpr-read` source layout (`src/peel/sources/mappings/anpr-read.yaml`) as CSV and as Parquet
   (every column as text, as the CSV has it: the mapping parses `Read Time (UTC)` with the
   format `%Y-%m-%dT%H:%M:%SZ`, which a typed Parquet timestamp would not render to).
   Every field of a read is a pure function of its read number, so a read can be generated again
   byte for byte; the batch re-sends a share of already-stored reads (`--resent`, they must come
   out as duplicates) and carries a few invalid rows (`--bad`, they must go to quarantine).
2. The existing reads are ingested by Peel itself (`peel.ingest.ingest_file`), one Parquet file
   per `--batch-days` days, so the lake holds exactly what Peel writes: its row ids, its files,
   its manifests (rebuilt whenever Peel's code changes). Three batches are measured: `overlap`
   lies on the existing data's last days (every partition it touches already holds reads that
   deduplication must check) and re-sends some of them; `new-days` covers the days after them;
   both have read times up to `--jitter` seconds out of order, as reads reach a back office.
   `new-sorted` is `new-days` with the reads in time order, which Peel can stream unsorted.
3. Measured, each as its own process, timed from outside (wall clock from start to exit,
   peak resident memory from the kernel's accounting of that process): Peel ingesting the
   CSV and the Parquet batch in each scenario (fsync on, 2 DuckDB threads, DuckDB memory limit
   from the settings), the lake reset to the existing reads after each run; DuckDB with 2 threads
   running `CREATE TABLE t AS SELECT * FROM read_csv(...)` (and `read_parquet`) into a
   file-backed database followed by `CHECKPOINT`; and `COPY (SELECT * FROM ...) TO '....parquet'`.

Generated data goes under `--out` (default `benchmarks/out/`, git-ignored); `--clean` removes it
at the end, keeping only `results-N-M.json`.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from _common import machine, say

HERE = Path(__file__).resolve().parent
SOURCE = "anpr-read"
DATASET = "anpr-bench"
HEADER = ["Read ID", "VRM", "Camera ID", "Read Time (UTC)", "Confidence", "Image Ref", "Lane"]
START = int(np.datetime64("2024-01-01T00:00:00", "s").astype(np.int64))  # first existing day
CHUNK = 1_000_000  # rows generated at a time

# --- the generator ---------------------------------------------------------------------------
#
# Every column has a fixed width, so a chunk of rows is one uint8 matrix (rows x bytes) that is
# written to CSV as it is and cut into Arrow string columns for Parquet without parsing.
#
#   Read ID          RD-YYYYMMDD-NNNNNNNNN    21  (NNNNNNNNN: the read number, unique)
#   VRM              AB12 CDE                  8  (current UK format; 2% OCR misreads)
#   Camera ID        CAM-LX-042               10  (600 cameras)
#   Read Time (UTC)  2024-03-09T01:12:04Z     20  (by read number, +-90 s jitter or none)
#   Confidence       0.97                      4  (0.55 to 1.00, skewed high)
#   Image Ref        anpr-img/YYYY-MM-DD/<Read ID>.jpg   45
#   Lane             1                         1

WIDTHS = [21, 8, 10, 20, 4, 45, 1]
OFFSETS = np.concatenate(([0], np.cumsum([w + 1 for w in WIDTHS]))).tolist()
ROW_BYTES = OFFSETS[-1]  # fields, commas and the newline
LETTERS = np.frombuffer(b"ABCDEFGHJKLMNOPRSTUVWXY", np.uint8)  # no I, Q, Z
AREAS = np.frombuffer(b"LXNWSEEAWMNE", np.uint8).reshape(6, 2)
CAMERAS = 600
VEHICLES = 3_000_000
# An OCR misread: each letter as the character it is most often taken for.
CONFUSE = np.frombuffer(b"48G0E36MIUXIHMDRQP57VUVKVZ", np.uint8)  # A..Z


def _mix(x: np.ndarray, stream: int) -> np.ndarray:
    """splitmix64 of (x, stream): independent pseudo-random 64-bit values per read and stream."""
    z = x.astype(np.uint64) * np.uint64(16) + np.uint64(stream) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _unit(x: np.ndarray, stream: int) -> np.ndarray:
    return (_mix(x, stream) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """ASCII digits of non-negative integers, zero-padded: (n, width) uint8."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((values.astype(np.int64)[:, None] // powers) % 10 + 48).astype(np.uint8)


def _civil(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day) of days since 1970-01-01 (H. Hinnant's civil_from_days)."""
    z = days + 719468
    era = np.floor_divide(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = np.where(mp < 10, mp + 3, mp - 9)
    y = yoe + era * 400 + (m <= 2)
    return y, m, d


@dataclass(frozen=True)
class Plan:
    """Where each read falls in time. Read `k` of the existing data is read at
    START + k * step (+ jitter); the batch's reads k = existing .. existing + rows - 1 are read
    at the time of read number k - shift: shift = rows puts them on the existing data's last
    days (scenario "overlap"), shift = 0 on the days after them ("new-days")."""

    rows: int
    existing: int
    batch_days: int

    @property
    def per_day(self) -> int:
        return max(1, self.rows // self.batch_days)

    @property
    def step(self) -> float:
        return 86_400 / self.per_day

    def day(self, k: int) -> str:
        return str(np.datetime64(START + int(k * self.step), "s").astype("datetime64[D]"))


def generate(
    ids: np.ndarray, tidx: np.ndarray, step: float, bad: np.ndarray, *, jitter: int = 90
) -> np.ndarray:
    """Rows for read numbers `ids` at time positions `tidx` as one (n, ROW_BYTES) uint8 matrix.
    Read times are the position's time plus up to `jitter` seconds either way (reads reach the
    back office a little out of order); with no jitter the rows are in time order. Rows where
    `bad` is set carry a confidence of 9.99 (outside the mapping's pattern)."""
    n = len(ids)
    out = np.empty((n, ROW_BYTES), np.uint8)
    out[:, [o - 1 for o in OFFSETS[1:-1]]] = ord(",")
    out[:, -1] = ord("\n")
    t = START + (tidx * step).astype(np.int64)
    if jitter:
        t += (_unit(ids, 1) * (2 * jitter) - jitter).astype(np.int64)
    days = np.floor_divide(t, 86_400)
    secs = t - days * 86_400
    y, mo, d = _civil(days)
    ymd = np.concatenate([_digits(y, 4), _digits(mo, 2), _digits(d, 2)], axis=1)
    # Read ID: RD-YYYYMMDD-NNNNNNNNN
    rid = out[:, OFFSETS[0] : OFFSETS[0] + 21]
    rid[:, :3] = np.frombuffer(b"RD-", np.uint8)
    rid[:, 3:11] = ymd
    rid[:, 11] = ord("-")
    rid[:, 12:21] = _digits(ids, 9)
    # VRM: a vehicle drawn with a skew (some are seen far more often), its plate from its number
    vehicle = (VEHICLES * _unit(ids, 2) ** 2).astype(np.int64)
    h = _mix(vehicle, 3)
    vrm = out[:, OFFSETS[1] : OFFSETS[1] + 8]
    for pos, shift in ((0, 0), (1, 5), (5, 10), (6, 15), (7, 20)):
        vrm[:, pos] = LETTERS[((h >> np.uint64(shift)) % np.uint64(len(LETTERS))).astype(np.int64)]
    vrm[:, 2:4] = _digits(((h >> np.uint64(30)) % np.uint64(100)).astype(np.int64), 2)
    vrm[:, 4] = ord(" ")
    misread = _unit(ids, 4) < 0.02
    if misread.any():
        rows = np.flatnonzero(misread)
        pos = np.array([0, 1, 5, 6, 7])[(_mix(ids[rows], 5) % np.uint64(5)).astype(np.int64)]
        vrm[rows, pos] = CONFUSE[vrm[rows, pos] - ord("A")]
    # Camera ID: CAM-AA-NNN; lane 1..3 by camera
    cam = (_mix(ids, 6) % np.uint64(CAMERAS)).astype(np.int64)
    cid = out[:, OFFSETS[2] : OFFSETS[2] + 10]
    cid[:, :4] = np.frombuffer(b"CAM-", np.uint8)
    cid[:, 4:6] = AREAS[cam % 6]
    cid[:, 6] = ord("-")
    cid[:, 7:10] = _digits(cam // 6 + 1, 3)
    lanes = cam % 3 + 1
    out[:, OFFSETS[6]] = 48 + 1 + (_mix(ids, 7) % lanes.astype(np.uint64)).astype(np.uint8)
    # Read Time (UTC): YYYY-MM-DDTHH:MM:SSZ
    ts = out[:, OFFSETS[3] : OFFSETS[3] + 20]
    ts[:, 0:4] = ymd[:, 0:4]
    ts[:, 5:7] = ymd[:, 4:6]
    ts[:, 8:10] = ymd[:, 6:8]
    ts[:, [4, 7]] = ord("-")
    ts[:, 10] = ord("T")
    ts[:, 11:13] = _digits(secs // 3600, 2)
    ts[:, 14:16] = _digits(secs // 60 % 60, 2)
    ts[:, 17:19] = _digits(secs % 60, 2)
    ts[:, [13, 16]] = ord(":")
    ts[:, 19] = ord("Z")
    # Confidence: 0.55 .. 1.00
    q = 100 - (46 * _unit(ids, 8) ** 2).astype(np.int64)
    conf = out[:, OFFSETS[4] : OFFSETS[4] + 4]
    conf[:, 0] = 48 + q // 100
    conf[:, 1] = ord(".")
    conf[:, 2:4] = _digits(q % 100, 2)
    conf[bad] = np.frombuffer(b"9.99", np.uint8)
    # Image Ref: anpr-img/YYYY-MM-DD/<Read ID>.jpg
    img = out[:, OFFSETS[5] : OFFSETS[5] + 45]
    img[:, :9] = np.frombuffer(b"anpr-img/", np.uint8)
    img[:, 9:19] = ts[:, :10]
    img[:, 19] = ord("/")
    img[:, 20:41] = rid
    img[:, 41:45] = np.frombuffer(b".jpg", np.uint8)
    return out


def batch_chunk(
    plan: Plan, start: int, stop: int, *, shift: int, resent: float, bad: float, jitter: int
) -> tuple[np.ndarray, int, int]:
    """Rows start..stop-1 of a batch (read numbers existing + start ...), with re-sent reads
    (copies of existing reads at the same time position) and bad rows. Returns the matrix and
    the counts of re-sent and bad rows."""
    ids = np.arange(plan.existing + start, plan.existing + stop, dtype=np.int64)
    tidx = ids - shift
    again = np.zeros(len(ids), bool)
    if resent and shift:
        again = (_unit(ids, 9) < resent) & (tidx >= 0) & (tidx < plan.existing)
        ids = np.where(again, tidx, ids)
    broken = (_unit(ids, 10) < bad) & ~again
    matrix = generate(ids, tidx, plan.step, broken, jitter=jitter)
    return matrix, int(again.sum()), int(broken.sum())


def existing_chunk(plan: Plan, start: int, stop: int, *, jitter: int) -> np.ndarray:
    ids = np.arange(start, stop, dtype=np.int64)
    return generate(ids, ids, plan.step, np.zeros(len(ids), bool), jitter=jitter)


def to_arrow(matrix: np.ndarray) -> pa.Table:
    """The fixed-width matrix as a table of string columns (no parsing: offsets are known)."""
    n = len(matrix)
    cols = []
    for off, w in zip(OFFSETS, WIDTHS, strict=False):
        data = np.ascontiguousarray(matrix[:, off : off + w])
        offsets = np.arange(0, n * w + 1, w, dtype=np.int32)
        cols.append(
            pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
        )
    return pa.Table.from_arrays(cols, names=HEADER)


@dataclass(frozen=True)
class Scenario:
    name: str
    overlap: bool  # on the existing reads' last days (else on the days after them)
    resent: float  # share of the batch re-sending stored reads (overlap only)
    jitter: int  # seconds a read time may stray from time order
    about: str


def scenarios(args: argparse.Namespace) -> list[Scenario]:
    return [
        Scenario(
            "overlap",
            True,
            args.resent,
            args.jitter,
            "on the existing reads' last days, re-sending some, reads slightly out of order",
        ),
        Scenario(
            "new-days", False, 0.0, args.jitter, "the days after, reads slightly out of order"
        ),
        Scenario("new-sorted", False, 0.0, 0, "the days after, reads in time order"),
    ]


def write_batch(
    plan: Plan, sc: Scenario, csv_path: Path, parquet_path: Path, *, bad: float
) -> dict[str, int]:
    counts = {"rows": plan.rows, "resent": 0, "bad": 0}
    writer = None
    with csv_path.open("wb") as fh:
        fh.write((",".join(HEADER) + "\n").encode())
        for a in range(0, plan.rows, CHUNK):
            m, again, broken = batch_chunk(
                plan,
                a,
                min(a + CHUNK, plan.rows),
                shift=plan.rows if sc.overlap else 0,
                resent=sc.resent,
                bad=bad,
                jitter=sc.jitter,
            )
            counts["resent"] += again
            counts["bad"] += broken
            m.tofile(fh)
            table = to_arrow(m)
            if writer is None:
                writer = pq.ParquetWriter(parquet_path, table.schema, compression="snappy")
            writer.write_table(table, row_group_size=CHUNK)
    if writer is not None:
        writer.close()
    return counts


# --- measuring ---------------------------------------------------------------------------------


@dataclass
class Run:
    name: str
    rows: int
    seconds: float  # whole process, wall clock from start to exit
    inner_seconds: float  # the timed work inside the process
    peak_rss_mb: float
    cpu_seconds: float  # user + system time of the process (all its threads)
    load_before: float  # the machine's 1-minute load average when the run started
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


@dataclass
class Measured:
    wall: float
    rss_mb: float
    cpu: float
    load: float
    out: dict[str, Any]
    error: str | None = None  # why the process failed (its last error line), if it did


def run_worker(
    args: list[str], env: dict[str, str] | None = None, *, may_fail: bool = False
) -> Measured:
    """Run this script as a worker process, timed from outside: wall clock from start to exit,
    and the kernel's accounting of that one process (peak RSS, CPU time). A failed Peel run
    (`may_fail`) is recorded with its error rather than ending the benchmark."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "worker", *args]
    full_env = {**os.environ, **(env or {})}
    load = os.getloadavg()[0]
    started = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=full_env)
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        errors = err.read().decode(errors="replace")
    m = Measured(
        wall=wall,
        rss_mb=usage.ru_maxrss / 1024,
        cpu=usage.ru_utime + usage.ru_stime,
        load=load,
        out={},
    )
    if proc.returncode == 0:
        m.out = json.loads(out.decode().strip().splitlines()[-1])
        return m
    last = [ln for ln in errors.strip().splitlines() if ln.strip()][-8:]
    error = next((ln for ln in reversed(last) if "Error" in ln or "Exception" in ln), "")
    m.error = f"exit code {proc.returncode}: {error.strip()[:300]}"
    if not may_fail:
        sys.stderr.write(errors)
        raise SystemExit(f"worker {args[0]} failed: {m.error}")
    return m


def peel_env(data_dir: Path) -> dict[str, str]:
    return {"PEEL_DATA_DIR": str(data_dir), "PEEL_FSYNC": "true", "PEEL_DUCKDB_THREADS": "2"}


def anpr_mapping() -> Any:
    """The anpr-read mapping alone (not every mapping: one being edited elsewhere must not stop
    this benchmark)."""
    from importlib import resources

    from peel.sources.mapping import load_mapping_file

    with resources.as_file(resources.files("peel.sources")) as base:
        return load_mapping_file(Path(base) / "mappings" / f"{SOURCE}.yaml")


def peel_digest() -> dict[str, str]:
    """Which Peel was measured: its folder, and a digest of its source and data files."""
    import hashlib

    import peel

    root = Path(peel.__file__).parent
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix in (".py", ".yaml"):
            h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes())
    return {"path": str(root), "sha256": h.hexdigest()[:16]}


def worker(argv: list[str]) -> None:
    """The measured processes. Each prints one JSON line."""
    kind = argv[0]
    if kind == "peel":
        path, profile = Path(argv[1]), (argv[2] if len(argv) > 2 else "")
        from peel.ingest import ingest_file
        from peel.lake import Lake

        lake, mapping = Lake(), anpr_mapping()
        started = time.perf_counter()
        if profile:
            import cProfile

            import peel.ingest.pipeline as pipeline

            # cProfile sees one thread. The ingest reads ahead in a second thread, running the
            # `read_blocks` generator there: wrap it so that thread gets its own profile.
            reader_prof = cProfile.Profile()
            read_blocks = getattr(pipeline, "read_blocks", None)

            def profiled(*a: Any, **k: Any) -> Any:
                assert read_blocks is not None
                blocks = read_blocks(*a, **k)
                while True:
                    reader_prof.enable()
                    try:
                        block = next(blocks)
                    except StopIteration:
                        return
                    finally:
                        reader_prof.disable()
                    yield block

            if read_blocks is not None:
                setattr(pipeline, "read_blocks", profiled)  # noqa: B010 (profile the reader thread)
            # The ingest writes the lake's files on a third thread (`BatchStore`): its own
            # profile too, when this Peel has one.
            store_prof = cProfile.Profile()
            try:
                from peel.ingest.store import BatchStore
            except ImportError:
                BatchStore = None
            if BatchStore is not None:
                store_loop = BatchStore._loop

                def profiled_loop(self: Any) -> None:
                    store_prof.enable()
                    try:
                        store_loop(self)
                    finally:
                        store_prof.disable()

                setattr(BatchStore, "_loop", profiled_loop)  # noqa: B010 (profile that thread)
            prof = cProfile.Profile()
            report = prof.runcall(ingest_file, lake, path, mapping, dataset=DATASET, synthetic=True)
            prof.dump_stats(profile)
            reader_prof.dump_stats(profile.removesuffix(".prof") + "-reader.prof")
            store_prof.dump_stats(profile.removesuffix(".prof") + "-store.prof")
        else:
            report = ingest_file(lake, path, mapping, dataset=DATASET, synthetic=True)
        seconds = time.perf_counter() - started
        print(json.dumps({"seconds": seconds, "report": report.to_json(), "peel": peel_digest()}))
    elif kind in ("ctas", "copy"):
        import duckdb

        path, target = argv[1], argv[2]
        reader = "read_parquet" if path.endswith(".parquet") else "read_csv"
        con = duckdb.connect(target if kind == "ctas" else ":memory:")
        con.execute("SET threads = 2")
        started = time.perf_counter()
        if kind == "ctas":
            con.execute(f"CREATE TABLE t AS SELECT * FROM {reader}($p)", {"p": path})
            con.execute("CHECKPOINT")
            rows = con.execute("SELECT count(*) FROM t").fetchone()
        else:
            quoted = target.replace("'", "''")
            con.execute(
                f"COPY (SELECT * FROM {reader}($p)) TO '{quoted}' (FORMAT parquet)", {"p": path}
            )
            rows = con.execute("SELECT count(*) FROM read_parquet($p)", {"p": target}).fetchone()
        seconds = time.perf_counter() - started
        con.close()
        print(json.dumps({"seconds": seconds, "rows": rows[0] if rows else 0}))
    else:
        raise SystemExit(f"unknown worker {kind}")


# --- the lake ----------------------------------------------------------------------------------


def lake_bytes(data_dir: Path) -> int:
    return sum(p.stat().st_size for p in data_dir.rglob("*") if p.is_file())


def reset_lake(data_dir: Path, keep: int) -> None:
    """Back to the existing reads: drop manifests after `keep` and the files only they listed
    (Peel's own recovery removes files no committed manifest lists)."""
    os.environ["PEEL_DATA_DIR"] = str(data_dir)
    from peel.lake import Lake
    from peel.settings import get_settings

    get_settings.cache_clear()
    lake = Lake()
    for p in sorted(lake.catalog.dir.glob("*.json")):
        if int(p.stem) > keep:
            p.unlink()
    lake.recover()
    shutil.rmtree(data_dir / "tmp", ignore_errors=True)


def build_existing(
    plan: Plan, data_dir: Path, scratch: Path, log: list[str], *, jitter: int, keep: bool = False
) -> dict[str, Any]:
    """Ingest the existing reads with Peel, `batch_days` days per batch (one Parquet file each),
    so the lake is exactly what Peel writes. Slow (it is the benchmarked path, run
    existing/rows times) but honest; the lake is reused by later runs with the same sizes."""
    marker = data_dir / "existing.json"
    want = {
        "existing": plan.existing,
        "rows": plan.rows,
        "batch_days": plan.batch_days,
        "jitter": jitter,
        "peel": peel_digest()["sha256"],  # a lake written by other code is built again
    }
    if keep and marker.exists():
        # --keep-lake: reuse a lake written by other Peel code (iteration only: the row ids
        # must not have changed in between, or the overlap batch's duplicates are not found).
        want["peel"] = json.loads(marker.read_text())["plan"]["peel"]
    if marker.exists() and json.loads(marker.read_text())["plan"] == want:
        info = json.loads(marker.read_text())
        reset_lake(data_dir, info["manifests"])
        say(log, f"existing lake reused: {plan.existing:,} reads in {info['manifests']} batches")
        return dict(info)
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    scratch.mkdir(parents=True, exist_ok=True)
    per_batch = plan.per_day * plan.batch_days
    started = time.perf_counter()
    batches = 0
    for a in range(0, plan.existing, per_batch):
        b = min(a + per_batch, plan.existing)
        path = scratch / f"existing-{a:010d}.parquet"
        writer = None
        for c in range(a, b, CHUNK):
            table = to_arrow(existing_chunk(plan, c, min(c + CHUNK, b), jitter=jitter))
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="snappy")
            writer.write_table(table, row_group_size=CHUNK)
        if writer is not None:
            writer.close()
        m = run_worker(["peel", str(path)], peel_env(data_dir))
        path.unlink()
        r = m.out["report"]
        assert r["rows_stored"] == b - a, r
        batches += 1
        say(
            log,
            f"  existing batch {batches}: reads {a:,}..{b - 1:,} ({plan.day(a)} to "
            f"{plan.day(b - 1)}) stored in {m.wall:.1f} s, peak RSS {m.rss_mb:,.0f} MB",
        )
    info = {
        "plan": want,
        "manifests": batches,
        "seconds": round(time.perf_counter() - started, 1),
        "bytes": lake_bytes(data_dir),
    }
    marker.write_text(json.dumps(info))
    return info


# --- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "worker":
        worker(argv[1:])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000, help="reads in the measured batch")
    ap.add_argument("--existing", type=int, default=90_000_000, help="reads already stored")
    ap.add_argument("--quick", action="store_true", help="1,000,000 into 9,000,000")
    ap.add_argument("--out", type=Path, default=HERE / "out", help="where data goes")
    ap.add_argument("--batch-days", type=int, default=10, help="days one batch spans")
    ap.add_argument("--resent", type=float, default=0.01, help="share of re-sent stored reads")
    ap.add_argument("--bad", type=float, default=0.0001, help="share of invalid rows")
    ap.add_argument("--jitter", type=int, default=90, help="seconds reads stray from time order")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each measurement")
    ap.add_argument("--profile", action="store_true", help="also run Peel CSV under cProfile")
    ap.add_argument("--clean", action="store_true", help="delete generated data at the end")
    ap.add_argument(
        "--keep-lake",
        action="store_true",
        help="reuse the existing lake even if Peel's code changed (quick iteration only)",
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.rows, args.existing = 1_000_000, 9_000_000
    if args.existing < args.rows:
        ap.error("--existing must be at least --rows (the batch overlaps its last days)")
    plan = Plan(rows=args.rows, existing=args.existing, batch_days=args.batch_days)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    tag = f"{args.rows}-{args.existing}"
    data_dir, scratch = out / f"lake-{tag}", out / f"scratch-{tag}"
    log: list[str] = []
    info = machine()
    say(log, f"machine: {json.dumps(info)}")
    say(log, f"peel: {json.dumps(peel_digest())}")
    say(log, f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")

    # 1. The batch files.
    t = time.perf_counter()
    files: dict[str, dict[str, Path]] = {}
    counts: dict[str, dict[str, int]] = {}
    for sc in scenarios(args):
        files[sc.name] = {
            "csv": out / f"batch-{tag}-{sc.name}.csv",
            "parquet": out / f"batch-{tag}-{sc.name}.parquet",
        }
        counts[sc.name] = write_batch(
            plan, sc, files[sc.name]["csv"], files[sc.name]["parquet"], bad=args.bad
        )
        first = args.existing - (args.rows if sc.overlap else 0)
        say(
            log,
            f"batch {sc.name} ({sc.about}): {args.rows:,} reads, {plan.day(first)} to "
            f"{plan.day(first + args.rows - 1)}, {counts[sc.name]['resent']:,} re-sent, "
            f"{counts[sc.name]['bad']:,} invalid; CSV "
            f"{files[sc.name]['csv'].stat().st_size / 1e6:,.0f} MB, Parquet "
            f"{files[sc.name]['parquet'].stat().st_size / 1e6:,.0f} MB",
        )
    say(log, f"generated the batches in {time.perf_counter() - t:.1f} s")

    # 2. The existing reads.
    say(
        log,
        f"existing: {args.existing:,} reads, {plan.day(0)} to {plan.day(args.existing - 1)}, "
        f"{plan.per_day:,} a day, ingested by Peel {plan.per_day * plan.batch_days:,} at a time",
    )
    existing = build_existing(plan, data_dir, scratch, log, jitter=args.jitter, keep=args.keep_lake)
    base_bytes = lake_bytes(data_dir)
    say(log, f"existing lake: {base_bytes / 1e9:.2f} GB")

    # 3. Measure.
    runs: dict[str, list[Run]] = {}
    failures: dict[str, list[str]] = {}

    def record(name: str, m: Measured, report: dict[str, Any]) -> None:
        if m.error:
            failures.setdefault(name, []).append(m.error)
            say(log, f"  {name}: FAILED after {m.wall:.1f} s ({m.error})")
            return
        run = Run(name, args.rows, m.wall, m.out["seconds"], m.rss_mb, m.cpu, m.load, report)
        runs.setdefault(name, []).append(run)
        say(
            log,
            f"  {name}: {run.seconds:.1f} s whole process ({run.inner_seconds:.1f} s inside, "
            f"{run.cpu_seconds:.1f} s CPU), {run.rate:,.0f} rows/s, peak RSS "
            f"{run.peak_rss_mb:,.0f} MB, load before {run.load_before:.1f}",
        )

    for _ in range(args.repeat):
        for fmt in ("csv", "parquet"):
            src = files["overlap"][fmt]
            db = out / f"baseline-{tag}.duckdb"
            db.unlink(missing_ok=True)
            m = run_worker(["ctas", str(src), str(db)])
            assert m.out["rows"] == args.rows, m.out
            record(f"duckdb-ctas-{fmt}", m, {"bytes": db.stat().st_size})
            db.unlink()
            for sc in scenarios(args):
                m = run_worker(
                    ["peel", str(files[sc.name][fmt])], peel_env(data_dir), may_fail=True
                )
                if m.error:
                    record(f"peel-{fmt}-{sc.name}", m, {})
                    reset_lake(data_dir, existing["manifests"])
                    continue
                r = m.out["report"]
                expect = counts[sc.name]
                assert r["rows_read"] == args.rows, r
                assert r["rows_duplicate"] == expect["resent"], (r, expect)
                assert r["rows_quarantined"] == expect["bad"], (r, expect)
                assert r["rows_stored"] == args.rows - expect["resent"] - expect["bad"], r
                r["lake_bytes_added"] = lake_bytes(data_dir) - base_bytes
                record(f"peel-{fmt}-{sc.name}", m, r)
                reset_lake(data_dir, existing["manifests"])
            copy = out / f"copy-{tag}.parquet"
            m = run_worker(["copy", str(src), str(copy)])
            assert m.out["rows"] == args.rows, m.out
            record(f"duckdb-copy-{fmt}", m, {"bytes": copy.stat().st_size})
            copy.unlink()

    profile_path = None
    if args.profile:
        profile_path = out / f"peel-csv-overlap-{tag}.prof"
        m = run_worker(
            ["peel", str(files["overlap"]["csv"]), str(profile_path)],
            peel_env(data_dir),
            may_fail=True,
        )
        reset_lake(data_dir, existing["manifests"])
        if m.error:
            say(log, f"Peel CSV (overlap) under cProfile FAILED ({m.error})")
        else:
            say(log, f"Peel CSV (overlap) under cProfile: {m.wall:.1f} s -> {profile_path}")
            import pstats

            reader = profile_path.with_name(profile_path.stem + "-reader.prof")
            store = profile_path.with_name(profile_path.stem + "-store.prof")
            for title, path in (
                ("main thread", profile_path),
                ("read-ahead thread", reader),
                ("store thread", store),
            ):
                text = io.StringIO()
                stats = pstats.Stats(str(path), stream=text)
                stats.strip_dirs().sort_stats("cumulative").print_stats(22)
                say(log, f"--- cProfile, {title} ---")
                say(log, "\n".join(ln for ln in text.getvalue().splitlines() if ln.strip()))

    # 4. The table.
    def med(name: str) -> Run | None:
        """The run with the median time (the lower of the middle two for an even count)."""
        rs = sorted(runs.get(name, []), key=lambda r: r.seconds)
        return rs[(len(rs) - 1) // 2] if rs else None

    say(log, "")
    say(
        log,
        f"{'measurement':<24}{'rows':>12}{'seconds':>9}{'rows/s':>11}{'vs CTAS':>9}"
        f"{'peak RSS MB':>13}{'inside s':>10}{'CPU s':>8}{'CPU vs CTAS':>13}",
    )
    table = []
    names = [
        name
        for fmt in ("csv", "parquet")
        for name in (
            *(f"peel-{fmt}-{sc.name}" for sc in scenarios(args)),
            f"duckdb-ctas-{fmt}",
            f"duckdb-copy-{fmt}",
        )
    ]
    for name in names:
        r = med(name)
        fmt = "csv" if "-csv" in name else "parquet"
        base = med(f"duckdb-ctas-{fmt}")
        assert base is not None
        if name in failures:
            say(log, f"{name:<24}{len(failures[name])} of {args.repeat} runs FAILED")
            table.append({"name": name, "failed": failures[name]})
        if r is None:
            continue
        ratio = r.rate / base.rate
        cpu_ratio = base.cpu_seconds / r.cpu_seconds  # rows per CPU second, relative
        say(
            log,
            f"{name:<24}{r.rows:>12,}{r.seconds:>9.1f}{r.rate:>11,.0f}{ratio:>9.2f}"
            f"{r.peak_rss_mb:>13,.0f}{r.inner_seconds:>10.1f}{r.cpu_seconds:>8.1f}"
            f"{cpu_ratio:>13.2f}",
        )
        table.append(
            {**asdict(r), "rate": r.rate, "ratio_to_ctas": ratio, "cpu_ratio_to_ctas": cpu_ratio}
        )
    for fmt in ("csv", "parquet"):
        r, base = med(f"peel-{fmt}-overlap"), med(f"duckdb-ctas-{fmt}")
        if r is None or base is None:
            say(log, f"ratio Peel {fmt} (overlap) / DuckDB CTAS {fmt}: none (Peel failed)")
            continue
        verdict = "meets" if r.rate / base.rate >= 0.5 else "misses"
        say(
            log,
            f"ratio Peel {fmt} (overlap) / DuckDB CTAS {fmt}: {r.rate / base.rate:.2f} "
            f"({verdict} the 0.5 target)",
        )
    disk = {
        "batch_csv_bytes": files["overlap"]["csv"].stat().st_size,
        "batch_parquet_bytes": files["overlap"]["parquet"].stat().st_size,
        "existing_lake_bytes": base_bytes,
        "batch_lake_bytes": next(
            (
                r.report["lake_bytes_added"]
                for n, rs in runs.items()
                if n.startswith("peel-")
                for r in rs
            ),
            0,
        ),
        "ctas_db_bytes": runs["duckdb-ctas-csv"][0].report["bytes"],
        "copy_parquet_bytes": runs["duckdb-copy-csv"][0].report["bytes"],
    }
    say(log, "disk: " + ", ".join(f"{k} {v / 1e6:,.0f} MB" for k, v in disk.items()))
    results = {
        "machine": info,
        "command": sys.argv,
        "plan": asdict(plan),
        "scenarios": [asdict(sc) for sc in scenarios(args)],
        "counts": counts,
        "existing": existing,
        "table": table,
        "failures": failures,
        "disk": disk,
        "profile": str(profile_path) if profile_path else None,
        "log": log,
    }
    (out / f"results-{tag}.json").write_text(json.dumps(results, indent=1))
    if args.clean:
        for p in [data_dir, scratch, *(f for fs in files.values() for f in fs.values())]:
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
