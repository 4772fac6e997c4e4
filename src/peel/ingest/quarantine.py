"""Quarantine: rows the lake refused, with file, line, field and reason, kept for an analyst to
fix the mapping and retry. Quarantined rows hold personal data: the same access rules and
retention as the lake apply, and nothing here logs a value.

An entry is open until a committed retry batch lists it in `resolves`. A retry re-reads the open
rows of one file through the current mapping as a new batch whose rows keep their original file
and line, so the invariant holds across both batches: the first batch's quarantined rows are the
retry's rows read.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from peel.ingest.pipeline import BatchReport, RetryInput, ingest_file
from peel.ingest.rejects import QUARANTINE_SCHEMA
from peel.lake import Lake
from peel.lake.catalog import Manifest
from peel.sources.mapping import Mapping, get_mapping


def quarantine_rows(lake: Lake) -> pa.Table:
    """Every quarantine entry of committed batches, with `open` (not yet resolved by a retry)
    and `seq` (the batch's commit number)."""
    manifests = lake.catalog.manifests()
    resolved = {q for m in manifests for q in m.resolves}
    files = [(m.seq, lake.settings.data_dir / f.path) for m in manifests for f in m.quarantine]
    if not files:
        empty = QUARANTINE_SCHEMA.empty_table()
        return empty.append_column("open", pa.array([], pa.bool_())).append_column(
            "seq", pa.array([], pa.int64())
        )
    con = duckdb.connect()
    try:
        con.register("resolved", pa.table({"qid": pa.array(sorted(resolved), pa.string())}))
        parts = " UNION ALL ".join(
            f"SELECT *, {seq} AS seq FROM read_parquet('{str(p).replace(chr(39), chr(39) * 2)}')"
            for seq, p in files
        )
        return con.sql(
            f"SELECT q.*, q.quarantine_id NOT IN (SELECT qid FROM resolved) AS open "
            f"FROM ({parts}) q ORDER BY seq, line"
        ).to_arrow_table()
    finally:
        con.close()


def summary(lake: Lake, *, include_resolved: bool = False) -> list[dict[str, Any]]:
    """Counts by batch, source, file, field and reason (no values)."""
    rows = quarantine_rows(lake).to_pylist()
    groups: dict[tuple[Any, ...], int] = defaultdict(int)
    for r in rows:
        if r["open"] or include_resolved:
            reason = r["reason"] if r["field"] is None else r["reason"].split(";")[0]
            key = (r["batch"], r["source"], r["file"], r["field"], reason, r["open"])
            groups[key] += 1
    return [
        {
            "batch": k[0],
            "source": k[1],
            "file": k[2],
            "field": k[3],
            "reason": k[4],
            "open": k[5],
            "rows": n,
        }
        for k, n in groups.items()
    ]


def entries(
    lake: Lake, *, batch: str | None = None, source: str | None = None, only_open: bool = True
) -> list[dict[str, Any]]:
    rows = quarantine_rows(lake).to_pylist()
    return [
        r
        for r in rows
        if (not only_open or r["open"])
        and (batch is None or r["batch"] == batch)
        and (source is None or r["source"] == source)
    ]


def retry(
    lake: Lake,
    *,
    batch: str | None = None,
    source: str | None = None,
    mapping: Mapping | None = None,
    before_commit: Callable[[Manifest], None] | None = None,
) -> list[BatchReport]:
    """Re-ingest open quarantined rows through the current mapping, one batch per original
    file. Rows that fail again are quarantined again in the retry batch."""
    todo = entries(lake, batch=batch, source=source)
    by_file: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in todo:
        by_file[(r["source"], r["batch"], r["file"])].append(r)
    manifests = {m.batch: m for m in lake.catalog.manifests()}
    reports = []
    for (src, bat, file), rows in sorted(by_file.items()):
        m = mapping if mapping is not None and mapping.source == src else get_mapping(src)
        origin = manifests[bat]
        header = origin.details.get("header") or list(m.columns)
        with tempfile.TemporaryDirectory(dir=lake.settings.data_dir) as tmp:
            fmt = rows[0]["input_format"]
            path, line_map = _write_retry_file(Path(tmp), fmt, header, m, rows)
            retry_input = RetryInput(
                file_label=file,
                line_map=line_map,
                resolves=[r["quarantine_id"] for r in rows],
                input_sha256=origin.input_sha256,
            )
            reports.append(
                ingest_file(
                    lake,
                    path,
                    m,
                    dataset=origin.dataset,
                    synthetic=origin.synthetic,
                    retry=retry_input,
                    before_commit=before_commit,
                )
            )
    return reports


def _csv_line(values: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()


def _write_retry_file(
    folder: Path, fmt: str, header: list[str], mapping: Mapping, rows: list[dict[str, Any]]
) -> tuple[Path, dict[int, int]]:
    line_map: dict[int, int] = {}
    if fmt == "csv":
        path = folder / "retry.csv"
        pieces = [_csv_line(header)]
        line = 2
        for r in rows:
            if r["raw_kind"] == "record":
                text = r["raw"] + "\n"
            else:
                values = json.loads(r["raw"])
                text = _csv_line([values.get(c) or "" for c in header])
            pieces.append(text)
            line_map[line] = r["line"]
            line += text.count("\n")
        path.write_text("".join(pieces), encoding="utf-8")
        return path, line_map
    path = folder / "retry.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for i, r in enumerate(rows, 1):
            fh.write(r["raw"].replace("\n", " ") + "\n")
            line_map[i] = r["line"]
    return path, line_map


__all__ = ["entries", "quarantine_rows", "retry", "summary"]
