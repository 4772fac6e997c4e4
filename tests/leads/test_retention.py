"""`peel anpr retention` (issue 6): reads past the policy period leave the lake and everything
derived from them; reads cited by an accepted lead stay; a test looks for every purged read id
in every table of the serving store and every file under the data dir.

The tiny city's reads span 2024; with the data clock at 2025-07-01 and the default 365 days,
the cutoff is 2024-07-01 and about half of them are old.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import String, cast, insert, select, update

from helpers.published import copy_into, publish
from helpers.resolved import DATASET, ResolvedWorld
from peel.governance import history, identity
from peel.governance.access import Caller
from peel.governance.policy import Policy
from peel.governance.products import Explanation, NewProduct, write_products
from peel.ingest.pipeline import ingest_file
from peel.lake import Lake
from peel.lake.catalog import CATALOG, STAGING
from peel.leads import background
from peel.leads.calibrate import write_cache
from peel.leads.retention import REDACTED, run_retention
from peel.serving import Store
from peel.serving.tables import (
    audit_log,
    decisions,
    explanations,
    lead_monitoring,
    metadata,
    products,
    vehicle_profiles,
)
from peel.settings import get_settings
from peel.sources import get_mapping

REFERENCE = "2025-07-01T00:00:00+00:00"
CUTOFF = datetime(2024, 7, 1, tzinfo=UTC)
UUID_TEXT = re.compile(
    rb"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
ANPR_HEADER = "Read ID,VRM,Camera ID,Read Time (UTC),Confidence,Image Ref,Lane\n"


@dataclass
class World:
    lake: Lake
    store: Store
    data_dir: Path
    before: dict[str, datetime]  # every read id -> read time, before retention
    accepted: str  # product id of the accepted lead (holds 3 old reads)
    new_old: str  # an undecided lead citing old reads (deleted)
    rejected: str  # a rejected lead citing old reads (redacted)
    new_recent: str  # an undecided lead citing a recent read (untouched)
    monitored: str  # an undecided lead citing old reads, with a monitoring row (redacted)
    held: set[str]

    @property
    def old(self) -> set[str]:
        return {i for i, t in self.before.items() if t < CUTOFF}

    @property
    def purged(self) -> set[str]:
        return self.old - self.held

    @property
    def after(self) -> set[str]:
        return set(self.before) - self.purged


def read_ids(lake: Lake) -> dict[str, datetime]:
    engine = lake.engine()
    try:
        rows = engine.query(
            f"SELECT CAST(row_id AS VARCHAR) AS id, read_at FROM {engine.table_sql('anpr_read')}"
        ).to_pylist()
    finally:
        engine.close()
    return {r["id"]: r["read_at"] for r in rows}


def service(
    store: Store, name: str = "peel-retention", purpose: str = "retention"
) -> tuple[Policy, Caller]:
    with store.begin() as conn:
        policy = history.ensure_installed(conn).loaded.policy
        caller = identity.caller_for(conn, policy, name, purpose=purpose)
    return policy, caller


def _lead(ids: list[str], *, case: str | None = None) -> NewProduct:
    return NewProduct(
        kind="anpr_lead",
        subject_type="vehicle",
        subject_ids=["ZZ99TST"],
        explanation=Explanation(
            claim="vehicle ZZ99TST was read near each crime",
            evidence=[f"anpr_read:{i}" for i in ids] + ["crime:CR-1"],
            arithmetic=["3 windows"],
            confidence=0.9,
            confidence_text="1 in 1000 by chance",
            code_version="test",
        ),
        dataset=DATASET,
        synthetic=True,
        case_reference=case,
    )


def _decide(store: Store, product_id: str, decision: str, read: str) -> None:
    with store.begin() as conn:
        conn.execute(
            insert(decisions).values(
                product_id=product_id,
                decision=decision,
                reason=f"looked at read {read}",
                decided_by="tester",
                decided_at=datetime(2025, 6, 1, tzinfo=UTC),
                confirmation=[{"read": f"anpr_read:{read}", "image_ref": "x.jpg"}],
            )
        )
        conn.execute(update(products).where(products.c.id == product_id).values(status=decision))


def _quarantine_csv(folder: Path) -> Path:
    """ANPR rows the lake refuses (confidence out of range): two old, one recent."""
    rows = [
        "RT-OLD-1,QQ01QQQ,CAM-X,2024-02-03T10:00:00Z,7.5,img/1.jpg,1",
        "RT-OLD-2,QQ02QQQ,CAM-X,2024-03-04T11:00:00Z,9.5,img/2.jpg,1",
        "RT-NEW-1,QQ03QQQ,CAM-X,2024-11-05T12:00:00Z,8.5,img/3.jpg,1",
    ]
    path = folder / "anpr-bad.csv"
    path.write_text(ANPR_HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def build(
    resolved_world: ResolvedWorld,
    store: Store,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> World:
    copy_into(resolved_world, data_dir)
    monkeypatch.setenv("PEEL_REFERENCE_TIME", REFERENCE)
    get_settings.cache_clear()
    publish(store)
    lake = Lake(store.settings)
    report = ingest_file(
        lake, _quarantine_csv(tmp_path), get_mapping("anpr-read"), dataset=DATASET, synthetic=True
    )
    assert report.rows_quarantined == 3
    engine = lake.engine()
    try:
        bg = background.load(lake, engine)
    finally:
        engine.close()
    # Only this test's entry: a cache another test left in the shared city is not part of it.
    (data_dir / "leads" / "calibration.json").unlink(missing_ok=True)
    write_cache(
        data_dir / "leads" / "calibration.json", json.dumps({"bg": bg.fingerprint}), {"factor": 1.0}
    )
    before = read_ids(lake)
    old = sorted(i for i, t in before.items() if t < CUTOFF)
    recent = sorted(i for i, t in before.items() if t >= CUTOFF)
    assert len(old) > 1000 and len(recent) > 1000
    accepted, new_old, rejected, new_recent, monitored = (
        _lead(old[:3], case="OP-TEST-1"),
        _lead(old[3:5]),
        _lead(old[5:7]),
        _lead(recent[:2]),
        _lead(old[7:9]),
    )
    with store.begin() as conn:
        write_products(
            conn,
            [accepted, new_old, rejected, new_recent, monitored],
            created_by="tester",
            now=datetime(2025, 6, 1, tzinfo=UTC),
        )
    with store.begin() as conn:
        conn.execute(
            insert(lead_monitoring).values(
                product_id=monitored.id,
                keeper_kind="person",
                self_defined_ethnicity="W1",
                age_band="25-34",
                recorded_at=datetime(2025, 6, 1, tzinfo=UTC),
            )
        )
    _decide(store, accepted.id, "accepted", old[0])
    _decide(store, rejected.id, "rejected", old[5])
    return World(
        lake,
        store,
        data_dir,
        before,
        accepted.id,
        new_old.id,
        rejected.id,
        new_recent.id,
        monitored.id,
        set(old[:3]),
    )


# --- searching everything ------------------------------------------------------------------------


def _uuid_texts(value: Any) -> set[str]:
    return {m.decode().lower() for m in UUID_TEXT.findall(str(value).encode())}


def ids_in_store(store: Store) -> set[str]:
    """Every UUID-looking text in every column of every serving-store table."""
    found: set[str] = set()
    with store.connect() as conn:
        for table in metadata.sorted_tables:
            cols = [cast(c, String) for c in table.columns]
            for row in conn.execute(select(*cols)):
                for v in row:
                    if v is not None:
                        found |= _uuid_texts(v)
    return found


def _parquet_ids(path: Path) -> set[str]:
    t = pq.read_table(path)
    found: set[str] = set()
    for col in t.columns:
        typ = col.type
        storage = typ.storage_type if isinstance(typ, pa.BaseExtensionType) else typ
        if pa.types.is_fixed_size_binary(storage) and storage.byte_width == 16:
            arr = col.combine_chunks()
            arr = arr.storage if isinstance(arr, pa.ExtensionArray) else arr
            found |= {str(uuid.UUID(bytes=b)) for b in arr.to_pylist() if b is not None}
        else:
            found |= _uuid_texts(col.to_pylist())
    return found


def ids_in_files(data_dir: Path) -> dict[str, set[str]]:
    """UUIDs in every file under the data dir: Parquet read column by column (so compressed
    values and 16-byte ids are seen), every other file (JSON, text, SQLite and its log) as
    bytes, and the 16-byte form of each purged id is looked for in those too."""
    out: dict[str, set[str]] = {}
    for p in sorted(data_dir.rglob("*")):
        if not p.is_file():
            continue
        if p.suffix == ".parquet":
            out[str(p)] = _parquet_ids(p)
        else:
            out[str(p)] = {m.decode().lower() for m in UUID_TEXT.findall(p.read_bytes())}
    return out


def raw_binary_hits(data_dir: Path, ids: set[str]) -> list[str]:
    """Files (other than Parquet, read above) holding any id as its 16 raw bytes."""
    wanted = [uuid.UUID(i).bytes for i in ids]
    hits = []
    for p in sorted(data_dir.rglob("*")):
        if p.is_file() and p.suffix != ".parquet":
            body = p.read_bytes()
            if any(w in body for w in wanted):
                hits.append(str(p))
    return hits


def assert_gone(w: World) -> None:
    purged = w.purged
    leftover = {f: ids & purged for f, ids in ids_in_files(w.data_dir).items() if ids & purged}
    assert not leftover, {f: len(v) for f, v in leftover.items()}
    assert not raw_binary_hits(w.data_dir, set(sorted(purged)[:2000]))
    assert not ids_in_store(w.store) & purged


def unlisted(data_dir: Path) -> list[Path]:
    listed = Lake(get_settings().model_copy(update={"data_dir": data_dir})).catalog.listed_paths()
    out = [
        p
        for root in ("lake", "quarantine")
        for p in (data_dir / root).rglob("*.parquet")
        if p not in listed
    ]
    out += list((data_dir / "lake" / CATALOG).glob(".pending-*"))
    staging = data_dir / "lake" / STAGING
    if staging.exists():
        out += list(staging.iterdir())
    return out


def quarantined_reads(lake: Lake) -> set[str]:
    """Read ids of the quarantined ANPR rows (the city's own and this test's)."""
    from peel.ingest import quarantine_rows

    rows = quarantine_rows(lake).to_pylist()
    return {json.loads(r["raw"])["Read ID"] for r in rows if r["source"] == "anpr-read"}


# The city's own quarantined ANPR rows: three read in January 2024 (old), and one whose read
# time does not parse, aged by its batch's ingest day (today: recent).
CITY_OLD = {"RD-20240101-0000139", "RD-20240101-0000241", "RD-20240101-0000103"}
CITY_UNDATED = "RD-20240101-0000112"


# --- the tests ------------------------------------------------------------------------------------


def test_retention_deletes_old_reads_everywhere_and_keeps_held_and_recent(
    resolved_world: ResolvedWorld,
    store: Store,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    w = build(resolved_world, store, data_dir, monkeypatch, tmp_path)
    # Before: the ids are there to be found, so the search below can fail.
    assert w.purged <= set().union(*ids_in_files(data_dir).values())
    assert ids_in_store(store) & w.purged
    assert (
        quarantined_reads(w.lake) == {"RT-OLD-1", "RT-OLD-2", "RT-NEW-1", CITY_UNDATED} | CITY_OLD
    )
    policy, caller = service(store)

    out = run_retention(w.lake, store, policy, caller)

    assert out["cutoff"] == CUTOFF.isoformat()
    assert out["reads_deleted"] == len(w.purged)
    assert out["reads_held"] == 3
    assert out["held_by_product"] == [
        {
            "product_id": w.accepted,
            "case_reference": "OP-TEST-1",
            "status": "accepted",
            "reads_held": 3,
        }
    ]
    assert out["quarantine_rows_deleted"] == 2 + len(CITY_OLD)
    assert out["files_rewritten"] >= 1 and out["files_deleted"] >= 1
    assert out["derived"]["products_deleted"] == 1 and out["derived"]["products_redacted"] == 2
    assert out["derived"]["background_cache_files_removed"] >= 1
    assert out["derived"]["calibration_entries_removed"] == 1
    assert out["derived"]["vehicle_profiles_updated"] > 0

    # The lake: held and recent reads stay, as they were; the rest of the old ones are gone.
    after = read_ids(w.lake)
    assert set(after) == w.after
    assert all(after[i] == w.before[i] for i in after)
    assert quarantined_reads(w.lake) == {"RT-NEW-1", CITY_UNDATED}
    assert not unlisted(data_dir)

    # Products: the accepted and the recent lead untouched, the new one deleted, the rejected
    # one redacted with its decision kept.
    with store.connect() as conn:
        status = dict(conn.execute(select(products.c.id, products.c.status)).all())
        evidence = dict(
            conn.execute(select(explanations.c.product_id, explanations.c.evidence)).all()
        )
        monitoring = [
            tuple(r)
            for r in conn.execute(
                select(lead_monitoring.c.product_id, lead_monitoring.c.self_defined_ethnicity)
            )
        ]
        reasons = conn.execute(
            select(decisions.c.product_id, decisions.c.reason, decisions.c.confirmation)
        ).all()
        entry = conn.execute(
            select(
                audit_log.c.operation, audit_log.c.actor, audit_log.c.purpose, audit_log.c.query
            ).where(audit_log.c.object_type == "anpr_read")
        ).all()
    assert status == {
        w.accepted: "accepted",
        w.rejected: "rejected",
        w.new_recent: "new",
        w.monitored: "new",
    }
    assert monitoring == [(w.monitored, "W1")]
    assert evidence[w.monitored] == []
    assert evidence[w.accepted][:3] == [f"anpr_read:{i}" for i in sorted(w.held)]
    assert evidence[w.rejected] == []
    by_product = {r[0]: r for r in reasons}
    assert by_product[w.rejected][1] == REDACTED and by_product[w.rejected][2] is None
    assert by_product[w.accepted][2] is not None

    # The erasure entry: counts, cutoff, held products, a hash of the purged ids; no ids.
    assert len(entry) == 1
    op, actor, purpose, query = entry[0]
    query = json.loads(query) if isinstance(query, str) else query
    assert (op, actor, purpose) == ("erasure", "peel-retention", "retention")
    assert query["reads_deleted"] == len(w.purged)
    assert query["held_by_product"][0]["product_id"] == w.accepted
    digest = hashlib.sha256(b"".join(sorted(uuid.UUID(i).bytes for i in w.purged))).hexdigest()
    assert query["purged_ids_sha256"] == digest

    # Nothing anywhere still names a purged read.
    assert_gone(w)
    # Published vehicles count only the reads that remain.
    with store.connect() as conn:
        docs = dict(conn.execute(select(vehicle_profiles.c.vrm, vehicle_profiles.c.document)).all())
    engine = w.lake.engine()
    try:
        rows = engine.query(
            "SELECT upper(regexp_replace(vrm, '\\s', '', 'g')) AS k, count(*) AS n "
            f"FROM {engine.table_sql('anpr_read')} GROUP BY 1"
        ).to_pylist()
    finally:
        engine.close()
    counts = {r["k"]: r["n"] for r in rows}
    seen = [d for d in docs.values() if d["anpr"]["sightings"]]
    assert seen and all(d["anpr"]["sightings"] == counts[d["vrm"]] for d in seen)
    # Held reads still readable, by id, through the engine.
    assert w.held <= set(read_ids(w.lake))

    # Again: nothing left to delete.
    again = run_retention(w.lake, store, policy, caller)
    assert again["reads_deleted"] == 0 and again["files_rewritten"] == 0
    assert again["quarantine_rows_deleted"] == 0 and again["reads_held"] == 3
    assert set(read_ids(w.lake)) == w.after


def _snapshot(data_dir: Path) -> dict[str, str]:
    return {
        str(p.relative_to(data_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(data_dir.rglob("*"))
        if p.is_file() and not p.name.startswith("serving.db") and p.name != ".lock"
    }


def test_dry_run_counts_and_changes_nothing(
    resolved_world: ResolvedWorld,
    store: Store,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    w = build(resolved_world, store, data_dir, monkeypatch, tmp_path)
    before = _snapshot(data_dir)
    with store.connect() as conn:
        docs = conn.execute(select(products.c.id, products.c.status)).all()
    policy, caller = service(store)
    out = run_retention(w.lake, store, policy, caller, dry_run=True)
    assert out["dry_run"] is True
    assert out["reads_deleted"] == len(w.purged) and out["reads_held"] == 3
    assert out["quarantine_rows_deleted"] == 2 + len(CITY_OLD)
    assert out["derived"]["products_to_delete"] == 1 and out["derived"]["products_to_redact"] == 2
    assert _snapshot(data_dir) == before
    with store.connect() as conn:
        assert conn.execute(select(products.c.id, products.c.status)).all() == docs
    assert set(read_ids(w.lake)) == set(w.before)


def test_retention_needs_its_permission(
    resolved_world: ResolvedWorld,
    store: Store,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from peel.errors import AccessDenied

    w = build(resolved_world, store, data_dir, monkeypatch, tmp_path)
    policy, caller = service(store, "peel-resolve", "combination")
    with pytest.raises(AccessDenied):
        run_retention(w.lake, store, policy, caller)
    assert set(read_ids(w.lake)) == set(w.before)
    with store.connect() as conn:
        denied = conn.execute(
            select(audit_log.c.outcome).where(audit_log.c.object_type == "anpr_read")
        ).all()
    assert [d[0] for d in denied] == ["denied"]


CRASH_STEPS = ["data-fsynced", "before-commit", "manifest-written", "manifest-renamed", "cleanup"]


def _cli(data_dir: Path, *args: str, crash: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PEEL_") or k == "PEEL_TEST_POSTGRES_URL"
    }
    env.update(
        PEEL_DATA_DIR=str(data_dir),
        PEEL_ENV="test",
        PEEL_FSYNC="true",
        PEEL_REFERENCE_TIME=REFERENCE,
        PYTHONPATH=os.pathsep.join(sys.path),
    )
    if crash:
        env["PEEL_TEST_CRASH_AT"] = crash
    return subprocess.run(
        [sys.executable, "-c", "from peel.cli.main import app; app()", "anpr", "retention", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
    )


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_crash_mid_rewrite_leaves_the_lake_consistent_and_a_rerun_finishes(
    resolved_world: ResolvedWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite in the data dir (the subprocess's store); the lake is what is tested here.
    base = tmp_path / "base"
    monkeypatch.setenv("PEEL_DATA_DIR", str(base))
    monkeypatch.setenv("PEEL_ENV", "test")
    monkeypatch.setenv("PEEL_FSYNC", "false")
    monkeypatch.delenv("PEEL_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    store = Store(get_settings())
    store.migrate()
    try:
        w = build(resolved_world, store, base, monkeypatch, tmp_path)
    finally:
        store.dispose()
    for step in CRASH_STEPS:
        d = tmp_path / f"crash-{step}"
        import shutil

        shutil.copytree(base, d)
        crashed = _cli(d, "--json", crash=step)
        assert crashed.returncode == 137, (step, crashed.stderr[-2000:])
        seen = set(read_ids(Lake(get_settings().model_copy(update={"data_dir": d}))))
        assert seen in (set(w.before), w.after), step
        done = _cli(d, "--json")
        assert done.returncode == 0, (step, done.stderr[-2000:])
        out = json.loads(done.stdout)
        assert out["reads_held"] == 3
        assert set(read_ids(Lake(get_settings().model_copy(update={"data_dir": d})))) == w.after, (
            step
        )
        assert not unlisted(d), step
        leftover = {f for f, ids in ids_in_files(d).items() if ids & w.purged}
        assert not leftover, (step, sorted(leftover)[:5])
