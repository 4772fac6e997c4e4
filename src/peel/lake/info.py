"""What is in the lake: tables, row counts, batches, key conflicts and quarantine."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pyarrow.parquet as pq

from peel.lake import Lake


def lake_info(lake: Lake) -> dict[str, Any]:
    manifests = lake.catalog.manifests()
    resolved = {q for m in manifests for q in m.resolves}
    tables: dict[str, dict[str, Any]] = {}
    engine = lake.engine()
    try:
        for table in lake.catalog.tables():
            files = [f for m in manifests for f in m.tables.get(table, [])]
            src = engine.table_sql(table)
            ((rows, keyed, conflicts),) = engine.con.execute(
                f"SELECT count(*), count(DISTINCT (_source, _record_key)), "
                f"(SELECT count(*) FROM (SELECT 1 FROM {src} WHERE _record_key IS NOT NULL "
                f"GROUP BY _source, _record_key HAVING count(*) > 1)) FROM {src}"
            ).fetchall()
            tables[table] = {
                "rows": rows,
                "files": len(files),
                "bytes": sum(f.bytes for f in files),
                "batches": len({m.batch for m in manifests if table in m.tables}),
                "records_with_key": keyed,
                "key_conflicts": conflicts,
                "partitions": len({f.partition for f in files if f.partition}),
            }
    finally:
        engine.close()
    # Entries in the quarantine files readers see (a retention rewrite removes some).
    q_total = sum(f.rows for m in manifests for f in m.quarantine)
    q_resolved = 0
    for m in manifests:
        for f in m.quarantine:
            ids = pq.read_table(lake.settings.data_dir / f.path, columns=["quarantine_id"])
            q_resolved += sum(1 for q in ids.column(0).to_pylist() if q in resolved)
    datasets: dict[str, dict[str, Any]] = {}
    for m in manifests:
        d = datasets.setdefault(
            m.dataset, {"synthetic": m.synthetic, "batches": 0, "sources": set()}
        )
        d["batches"] += 1
        d["sources"].add(m.source)
    for d in datasets.values():
        d["sources"] = sorted(d["sources"])
    reasons: Counter[str] = Counter()
    for m in manifests:
        for r, n in m.details.get("quarantine_reasons", {}).items():
            reasons[r] += n
    return {
        "data_dir": str(lake.settings.data_dir),
        "tables": tables,
        "batches": [
            {
                "seq": m.seq,
                "batch": m.batch,
                "kind": m.kind,
                "source": m.source,
                "dataset": m.dataset,
                "synthetic": m.synthetic,
                "file": m.input_file,
                **m.counts,
            }
            for m in manifests
        ],
        "datasets": datasets,
        "quarantine": {
            "entries": q_total,
            "resolved": q_resolved,
            "open": q_total - q_resolved,
        },
    }


__all__ = ["lake_info"]
