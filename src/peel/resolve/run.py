"""`peel resolve run`: person records from every source, linked by Splink (trained without
labels), clustered under constraints, given stable profile ids, written as one run.

The caller needs the policy's `resolve.run` permission (service identity `peel-resolve`,
purpose `combination`); the run is audited when it becomes current, in the same step.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from sqlalchemy import select

from peel.errors import PeelError
from peel.governance.access import Caller, check, operation
from peel.governance.policy import Policy
from peel.lake import Lake
from peel.resolve.cluster import Constraints, assign_profile_ids, cluster
from peel.resolve.config import ResolveConfig, load_config
from peel.resolve.model import M_FLOOR, PersonModel
from peel.resolve.output import ResolveRun, current_run, publish_run, write_run
from peel.resolve.records import load_person_records, with_block_keys
from peel.resolve.vehicles import clone_flags, misread_flags
from peel.schema import get_registry
from peel.serving import Store
from peel.serving.tables import resolve_overrides

log = logging.getLogger(__name__)
CODE_VERSION = "resolve-1"


def load_constraints(store: Store) -> Constraints:
    """Analysts' merges (must-link) and splits (cannot-link) still in force."""
    out = Constraints()
    with store.connect() as conn:
        rows = conn.execute(
            select(
                resolve_overrides.c.kind, resolve_overrides.c.record_a, resolve_overrides.c.record_b
            )
            .where(resolve_overrides.c.withdrawn_at.is_(None))
            .order_by(resolve_overrides.c.id)
        ).all()
    for kind, a, b in rows:
        (out.must if kind == "merge" else out.cannot).append((a, b))
    return out


def pick_datasets(lake: Lake, datasets: list[str] | None) -> list[str]:
    """The datasets to resolve: those asked for, or every dataset in the lake, refusing to
    mix synthetic and real data."""
    synthetic: dict[str, bool] = {}
    for m in lake.catalog.manifests():
        synthetic[m.dataset] = synthetic.get(m.dataset, False) or m.synthetic
    chosen = datasets or sorted(synthetic)
    unknown = [d for d in chosen if d not in synthetic]
    if unknown:
        raise PeelError(f"resolve: no dataset named {', '.join(unknown)} in the lake")
    kinds = {synthetic[d] for d in chosen}
    if len(kinds) > 1:
        raise PeelError(
            "resolve: the lake holds synthetic and real datasets; name the ones to resolve "
            "with --dataset (synthetic and real data are never mixed)"
        )
    if not chosen:
        raise PeelError("resolve: the lake is empty; ingest person records first")
    return chosen


def fingerprint(records: pa.Table) -> str:
    """SHA-256 of the records' ids and identity values, in record order."""
    # The Arrow IPC stream of the table: no Python object per value (a million records).
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, records.schema) as writer:
        writer.write_table(records)
    return hashlib.sha256(sink.getvalue()).hexdigest()


def resolve_people(
    lake: Lake,
    store: Store,
    policy: Policy,
    caller: Caller,
    *,
    datasets: list[str] | None = None,
    config: ResolveConfig | None = None,
    log_step: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """Resolve every person record of the chosen datasets; return the run's summary."""
    check(policy, caller, "resolve.run")
    cfg = config or load_config()
    registry = get_registry()
    cfg.check(policy, registry)
    chosen = pick_datasets(lake, datasets)
    started = time.perf_counter()
    engine = lake.engine()
    try:
        records = load_person_records(engine, registry, chosen)
    finally:
        engine.close()
    if records.num_rows < 2:
        raise PeelError("resolve: fewer than two person records in the chosen datasets")
    records = with_block_keys(records, cfg.blocking_max_group)
    log_step(f"{records.num_rows:,} person records from {len(chosen)} dataset(s)")
    t0 = time.perf_counter()
    settings = lake.settings
    now = datetime.now(UTC)
    run_id = now.strftime("%Y%m%dT%H%M%S%fZ")
    tmp_model = settings.data_dir / "tmp" / f"resolve-{run_id}.json"
    tmp_model.parent.mkdir(parents=True, exist_ok=True)

    def new_model(recs: pa.Table, model_json: Path | None = None) -> PersonModel:
        return PersonModel(
            recs,
            cfg,
            threads=settings.duckdb_threads,
            memory_limit=settings.resolve_memory_limit,
            model_json=model_json,
            temp_dir=settings.data_dir / "tmp" / "resolve",
            max_temp=settings.resolve_max_temp,
        )

    if records.num_rows > cfg.training_sample_records:
        # EM on a random sample of records (its cost grows with the blocked pairs, about
        # the square of the records); the prior is then estimated again on every record,
        # since the chance that two random records match depends on how many there are.
        rng = np.random.default_rng(cfg.seed)
        pick = np.sort(rng.choice(records.num_rows, cfg.training_sample_records, replace=False))
        trainer = new_model(records.take(pick))
        try:
            training = trainer.train()
            trainer.save(tmp_model)
        finally:
            trainer.close()
        model = new_model(records, tmp_model)
        training["probability_two_random_records_match"] = model.estimate_prior()
        training["trained_on_records"] = cfg.training_sample_records
    else:
        model = new_model(records)
        training = {}
    try:
        if not training:
            training = model.train()
            training["trained_on_records"] = records.num_rows
        t_train = time.perf_counter() - t0
        log_step(f"model trained without labels (EM) in {t_train:.1f}s")
        t0 = time.perf_counter()
        pairs = model.predict()
        t_predict = time.perf_counter() - t0
        log_step(f"{pairs.num_rows:,} candidate pairs scored in {t_predict:.1f}s")
        model.save(tmp_model)
        comparisons = [c.model_dump() for c in model.comparisons]
        dropped = model.dropped
    finally:
        model.close()
    constraints = load_constraints(store)
    t0 = time.perf_counter()
    clusters, cstats = cluster(
        records,
        pairs,
        threshold=cfg.link_probability,
        distinct_identifiers=cfg.distinct_identifiers,
        same_reference=cfg.same_reference_is_same_person,
        constraints=constraints,
        dates_must_agree=cfg.dates_of_birth_must_agree,
        names_must_agree=cfg.forenames_must_agree,
        shared_identifiers=cfg.shared_identifiers,
        inexact_dates_need_home=cfg.inexact_dates_need_home,
        guarded_tables=cfg.guarded_tables,
        undated_ambiguous_stay_apart=cfg.undated_ambiguous_stay_apart,
    )
    previous = current_run(settings)
    before: dict[str, str] = {}
    if previous is not None:
        prev = previous.clusters()
        before = dict(
            zip(prev["record_id"].to_pylist(), prev["profile_id"].to_pylist(), strict=True)
        )
    ids, id_stats = assign_profile_ids(clusters, before)
    t_cluster = time.perf_counter() - t0
    t0 = time.perf_counter()
    engine = lake.engine()
    try:
        clones = clone_flags(engine)
        misreads = misread_flags(engine)
    finally:
        engine.close()
    t_vehicles = time.perf_counter() - t0
    log_step(f"plates: {clones.num_rows:,} possible clones, {misreads.num_rows:,} likely misreads")
    rid = records["record_id"].to_pylist()
    cluster_table = pa.table({"record_id": rid, "profile_id": [ids[r] for r in rid]})
    profiles = len(clusters)
    multi = sum(1 for c in clusters if len(c) > 1)
    card: dict[str, Any] = {
        "model": "person-resolution",
        "run_id": run_id,
        "code_version": CODE_VERSION,
        "created_at": now.isoformat(),
        "datasets": chosen,
        # The last committed lake batch this run saw: a caller can tell whether the lake
        # changed since (peel demo skips an unchanged resolve).
        "lake_seq": lake.catalog.next_seq() - 1,
        "config_sha256": hashlib.sha256(cfg.model_dump_json().encode()).hexdigest(),
        "data_fingerprint": {"sha256": fingerprint(records), "records": records.num_rows},
        "settings": cfg.model_dump(),
        "comparisons_used": comparisons,
        "comparisons_dropped_no_data": dropped,
        "training": {
            **training,
            "method": "expectation maximisation, no labels",
            "m_floor": M_FLOOR,
        },
        "counts": {
            "records": records.num_rows,
            "candidate_pairs": pairs.num_rows,
            "profiles": profiles,
            "profiles_with_several_records": multi,
            **cstats,
            "profile_ids_kept": id_stats.get("kept", 0),
            "profile_ids_new": id_stats.get("new", 0),
            "overrides_merge": len(constraints.must),
            "overrides_split": len(constraints.cannot),
            "plates_possible_clone": clones.num_rows,
            "plates_likely_misread": misreads.num_rows,
        },
        "seconds": {
            "train": round(t_train, 2),
            "predict": round(t_predict, 2),
            "cluster": round(t_cluster, 2),
            "vehicles": round(t_vehicles, 2),
        },
        "evaluation": None,
    }
    run = write_run(
        settings,
        run_id,
        {
            "records": records,
            "clusters": cluster_table,
            "pairs": pairs,
            "plate_clones": clones,
            "plate_misreads": misreads,
        },
    )
    shutil.move(str(tmp_model), run.model_json)
    run.write_card(card)
    models = settings.data_dir / "models" / "person-resolution" / run_id
    models.mkdir(parents=True, exist_ok=True)
    shutil.copy2(run.model_json, models / "model.json")
    shutil.copy2(run.path / "card.json", models / "card.json")
    with operation(
        store,
        policy,
        caller,
        permission="resolve.run",
        operation="combination",
        object_type="person_resolution",
        query={"datasets": chosen, "records": records.num_rows, "profiles": profiles},
    ) as op:
        op.object_ids = [run_id]
    # After the audit entry commits: a run is never current without its entry (a crash
    # between the two leaves the previous run current and the entry naming this one).
    publish_run(settings, run)
    card["seconds"]["total"] = round(time.perf_counter() - started, 2)
    return {
        "run_id": run_id,
        "path": str(run.path),
        **card["counts"],
        "seconds": card["seconds"],
        "datasets": chosen,
    }


def is_current(lake: Lake, config: ResolveConfig | None = None) -> bool:
    """Does the current run already cover every committed batch, with these settings?"""
    run = current_run(lake.settings)
    if run is None:
        return False
    card = run.card()
    cfg = config or load_config()
    return (
        card.get("lake_seq") == lake.catalog.next_seq() - 1
        and card.get("config_sha256") == hashlib.sha256(cfg.model_dump_json().encode()).hexdigest()
    )


def model_for(run: ResolveRun, records: pa.Table, settings: Any) -> PersonModel:
    """The run's trained model over `records` (for the waterfall of a pair)."""
    cfg = ResolveConfig.model_validate(run.card()["settings"])
    return PersonModel(
        records,
        cfg,
        threads=1,
        memory_limit="256MB",
        model_json=Path(run.model_json),
        explain=True,
    )


__all__ = [
    "CODE_VERSION",
    "is_current",
    "load_constraints",
    "model_for",
    "pick_datasets",
    "resolve_people",
]
