"""Acting on a raised lead: confirming its reads before it is marked actioned, and the
evidence pack of an accepted lead.

Marking a lead actioned needs a person to confirm, read by read, that the image shows the plate
and what the OCR confidence was: the image reference and confidence recorded with the decision
are the lake's values, looked up here, not whatever a client sends.

The evidence pack is a zip a disclosure officer or investigator can hand on: the explanation
and decisions (`lead.json`), every cited lake row (`records/<table>.jsonl`, special-category
fields withheld unless the caller may see them), and `manifest.json` with each file's SHA-256.
Making one is audited as a disclosure, with its recipient and the manifest's SHA-256.
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zipfile
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from sqlalchemy import select

from peel import __version__
from peel.errors import AccessDenied, NotFound, PeelError
from peel.governance import products
from peel.governance.access import Caller, operation
from peel.governance.policy import Policy
from peel.governance.records import WITHHELD, plain_value
from peel.lake import Lake
from peel.serving import Store
from peel.serving.tables import decisions, explanations
from peel.serving.tables import products as products_table

READ_PREFIX = products.CONFIRM_BEFORE_ACTION["anpr_lead"]
PACKABLE = ("accepted", "actioned")
MAX_ROWS = 10_000  # a lead cites tens of rows; anything near this is refused, not truncated


def _rows(lake: Lake, refs: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Lake rows by `table:row_id` reference, grouped by table; unknown tables refused."""
    tables = {spec.table for spec in lake.registry.entities.values()}
    wanted: dict[str, list[uuid.UUID]] = defaultdict(list)
    for ref in refs:
        table, _, rid = ref.partition(":")
        if table not in tables:
            raise PeelError(f"evidence {ref!r}: no lake table {table!r}")
        try:
            wanted[table].append(uuid.UUID(rid))
        except ValueError as e:
            raise PeelError(f"evidence {ref!r}: not a row id") from e
    out: dict[str, list[dict[str, Any]]] = {}
    engine = lake.engine()
    try:
        for table, ids in sorted(wanted.items()):
            # Row ids are bound through a registered table, never pasted into the SQL.
            ids_table = pa.table({"rid": pa.array([str(i) for i in ids], pa.string())})
            with engine.temp_table("peel_pack_ids", ids_table):
                out[table] = engine.query(
                    f"SELECT * FROM {engine.table_sql(table)} WHERE CAST(row_id AS VARCHAR) IN "
                    "(SELECT rid FROM peel_pack_ids) ORDER BY CAST(row_id AS VARCHAR), _batch"
                ).to_pylist()
    finally:
        engine.close()
    return out


def read_details(lake: Lake, read_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """For each ANPR read row id: the camera, time, image reference and OCR confidence."""
    rows = _rows(lake, [f"anpr_read:{r}" for r in read_ids]).get("anpr_read", [])
    return {
        str(r["row_id"]): {
            "read": str(r["row_id"]),
            "camera_id": r.get("camera_id"),
            "read_at": plain_value(r.get("read_at")),
            "image_ref": r.get("image_ref"),
            "ocr_confidence": r.get("confidence"),
        }
        for r in rows
    }


def cited_reads(store: Store, product_id: str) -> list[str]:
    with store.connect() as conn:
        evidence = conn.execute(
            select(explanations.c.evidence).where(explanations.c.product_id == product_id)
        ).scalar_one_or_none()
    if evidence is None:
        raise NotFound(f"no product {product_id!r}")
    return [e[len(READ_PREFIX) :] for e in evidence if e.startswith(READ_PREFIX)]


def confirm_and_action(
    store: Store,
    policy: Policy,
    lake: Lake,
    caller: Caller,
    product_id: str,
    *,
    reason: str,
    confirmed: Sequence[str],
    plate_matches_image: bool,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Any]:
    """Mark a lead actioned: `confirmed` names the reads the person looked at; each one's image
    reference and OCR confidence are taken from the lake and recorded with the decision."""
    cited = set(cited_reads(store, product_id))
    unknown = [r for r in confirmed if r not in cited]
    if unknown:
        raise PeelError(f"{len(unknown)} confirmed read(s) are not cited by this lead")
    details = read_details(lake, sorted(set(confirmed)))
    missing = sorted(set(confirmed) - set(details))
    if missing:
        raise PeelError(f"{len(missing)} confirmed read(s) are no longer in the lake")
    confirmation = [
        {
            **details[r],
            "plate_matches_image": plate_matches_image,
            "confirmed_by": caller.username,
        }
        for r in sorted(set(confirmed))
    ]
    return products.decide(
        store,
        policy,
        caller,
        product_id,
        decision="actioned",
        reason=reason,
        confirmation=confirmation,
        clock=clock,
    )


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(
        (json.dumps(r, sort_keys=True, ensure_ascii=False, default=str) + "\n").encode()
        for r in rows
    )


def evidence_pack(
    store: Store,
    policy: Policy,
    lake: Lake,
    caller: Caller,
    product_id: str,
    *,
    recipient: str,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> tuple[bytes, dict[str, Any]]:
    """The zip of an accepted (or actioned) lead and its manifest; audited as a disclosure."""
    if not recipient.strip():
        raise PeelError("recipient: say who the evidence pack is for")
    with operation(
        store,
        policy,
        caller,
        permission="records.read",
        operation="disclosure",
        object_type="evidence_pack",
        query={"product": product_id, "recipient": recipient[:200]},
        clock=clock,
    ) as op:
        op.recipient = recipient.strip()[:200]
        row = op.conn.execute(
            select(products_table).where(products_table.c.id == product_id)
        ).first()
        if row is None:
            raise NotFound(f"no product {product_id!r}")
        if row.case_reference is not None and row.case_reference != caller.case_reference:
            raise AccessDenied("this product belongs to another case")
        if row.status not in PACKABLE:
            raise PeelError(
                f"only an accepted or actioned lead exports as an evidence pack (this one is "
                f"{row.status})"
            )
        exp = op.conn.execute(
            select(explanations).where(explanations.c.product_id == product_id)
        ).one()
        history = op.conn.execute(
            select(decisions).where(decisions.c.product_id == product_id).order_by(decisions.c.id)
        ).all()
        if len(exp.evidence) > MAX_ROWS:
            raise PeelError(f"the lead cites {len(exp.evidence):,} rows, over {MAX_ROWS:,}")
        found = _rows(lake, [e for e in exp.evidence if ":" in e])
        detail = "person.marker_detail" in policy.permissions_of(caller.roles)
        specs = {spec.table: spec for spec in lake.registry.entities.values()}
        files: dict[str, bytes] = {}
        withheld: dict[str, list[str]] = {}
        for table, rows in found.items():
            hidden = {
                col for f in specs[table].special_category_fields for col, _ in f.physical_columns()
            }
            if hidden and not detail:
                withheld[table] = sorted(hidden)
            files[f"records/{table}.jsonl"] = _jsonl(
                [
                    {
                        k: (
                            WITHHELD
                            if k in hidden and not detail and v is not None
                            else plain_value(v)
                        )
                        for k, v in r.items()
                    }
                    for r in rows
                ]
            )
        cited = {e for e in exp.evidence if ":" in e}
        present = {f"{t}:{r['row_id']}" for t, rows in found.items() for r in rows}
        lead = {
            "product": {
                "id": row.id,
                "kind": row.kind,
                "subject_type": row.subject_type,
                "subject_ids": row.subject_ids,
                "case_reference": row.case_reference,
                "status": row.status,
                "created_by": row.created_by,
                "created_at": row.created_at.isoformat(),
                "dataset": row.dataset,
                "synthetic": row.synthetic,
            },
            "explanation": {
                "claim": exp.claim,
                "evidence": exp.evidence,
                "arithmetic": exp.arithmetic,
                "confidence": exp.confidence,
                "confidence_text": exp.confidence_text,
                "code_version": exp.code_version,
                "model_version": exp.model_version,
            },
            "decisions": [
                {
                    "decision": d.decision,
                    "reason": d.reason,
                    "decided_by": d.decided_by,
                    "decided_at": d.decided_at.isoformat(),
                    "confirmation": d.confirmation,
                }
                for d in history
            ],
            "evidence_missing": sorted({_norm(e) for e in cited} - present),
        }
        files["lead.json"] = json.dumps(lead, indent=1, sort_keys=True, default=str).encode()
        now = clock()
        manifest = {
            "product_id": row.id,
            "made_at": now.isoformat(),
            "made_by": caller.username,
            "recipient": op.recipient,
            "purpose": caller.purpose,
            "case_reference": caller.case_reference,
            "code_version": f"peel {__version__}",
            "synthetic": row.synthetic,
            "withheld_special_category": withheld,
            "files": {
                name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
                for name, data in sorted(files.items())
            },
        }
        manifest_bytes = json.dumps(manifest, indent=1, sort_keys=True).encode()
        digest = hashlib.sha256(manifest_bytes).hexdigest()
        op.query["manifest_sha256"] = digest
        op.returned([f"product:{row.id}", *sorted(present)])
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, data in sorted(files.items()):
                zf.writestr(name, data)
            zf.writestr("manifest.json", manifest_bytes)
    return buf.getvalue(), {"manifest_sha256": digest, **manifest}


def _norm(ref: str) -> str:
    table, _, rid = ref.partition(":")
    try:
        return f"{table}:{uuid.UUID(rid)}"
    except ValueError:
        return ref


__all__ = ["cited_reads", "confirm_and_action", "evidence_pack", "read_details"]
