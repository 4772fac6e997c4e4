"""Products, explanations and decisions (INTERFACES: "Products, decisions and explanations").

Every analysis output a person acts on (a lead, a flag, a risk band, a review suggestion) is a
product with one explanation shape: the claim in plain words, the evidence row ids, the
arithmetic as lines, a confidence, and the code and model version. A person's decision on a
product is recorded and audited. Reads go through `access.operation`, so each one is audited
with the product ids and the subjects they name.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from peel.errors import AccessDenied, NotFound, PeelError
from peel.governance.access import Caller, operation
from peel.governance.policy import Policy
from peel.serving import Store
from peel.serving.tables import decisions, explanations, products

DECISIONS = ("accepted", "rejected", "actioned")
STATUS_OF = {"accepted": "accepted", "rejected": "rejected", "actioned": "actioned"}
# Kinds a person may mark actioned only after accepting them and confirming, read by read,
# that the image shows the plate and what the OCR confidence was (issue 6: advice, not
# action). The value names the evidence prefix whose rows must each be confirmed.
CONFIRM_BEFORE_ACTION = {"anpr_lead": "anpr_read:"}
CONFIRMATION_FIELDS = ("read", "image_ref", "ocr_confidence", "plate_matches_image")


def check_confirmation(
    kind: str,
    status: str,
    evidence: Sequence[str],
    confirmation: Sequence[Mapping[str, Any]] | None,
) -> None:
    """Refuse (PeelError, saying why) an `actioned` decision on a kind in
    CONFIRM_BEFORE_ACTION unless the product was accepted first and every cited row of the
    named prefix is confirmed, with the image reference and OCR confidence shown and the
    person's yes that the image shows the plate."""
    prefix = CONFIRM_BEFORE_ACTION.get(kind)
    if prefix is None:
        return
    if status not in ("accepted", "actioned"):
        raise PeelError(f"a {kind} must be accepted before it is marked actioned")
    cited = {e[len(prefix) :] for e in evidence if e.startswith(prefix)}
    if not confirmation:
        raise PeelError(
            f"marking a {kind} actioned needs each of its {len(cited)} read(s) confirmed: "
            "the image looked at and the OCR confidence seen"
        )
    seen: set[str] = set()
    for i, item in enumerate(confirmation):
        missing = [f for f in CONFIRMATION_FIELDS if item.get(f) in (None, "")]
        if missing:
            raise PeelError(f"confirmation[{i}]: missing {', '.join(missing)}")
        if item["read"] not in cited:
            raise PeelError(f"confirmation[{i}]: read {item['read']} is not cited by this lead")
        if item["plate_matches_image"] is not True:
            raise PeelError(
                f"confirmation[{i}]: the image does not show the plate; reject the lead "
                "with that reason instead"
            )
        seen.add(str(item["read"]))
    if cited - seen:
        raise PeelError(f"{len(cited - seen)} cited read(s) not confirmed")


@dataclass(frozen=True)
class Explanation:
    claim: str
    evidence: Sequence[str]
    arithmetic: Sequence[str]
    confidence: float | None
    confidence_text: str
    code_version: str
    model_version: str | None = None


@dataclass(frozen=True)
class NewProduct:
    kind: str
    subject_type: str
    subject_ids: Sequence[str]
    explanation: Explanation
    dataset: str
    synthetic: bool
    case_reference: str | None = None
    team: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


def write_products(
    conn: Connection, items: Sequence[NewProduct], *, created_by: str, now: datetime
) -> list[str]:
    """Insert products with their explanations in the caller's transaction (an analysis's
    publish step, which audits the combination itself)."""
    if not items:
        return []
    conn.execute(
        insert(products),
        [
            {
                "id": p.id,
                "kind": p.kind,
                "subject_type": p.subject_type,
                "subject_ids": list(p.subject_ids),
                "case_reference": p.case_reference,
                "team": p.team,
                "dataset": p.dataset,
                "synthetic": p.synthetic,
                "status": "new",
                "created_by": created_by,
                "created_at": now,
            }
            for p in items
        ],
    )
    conn.execute(
        insert(explanations),
        [
            {
                "product_id": p.id,
                "claim": p.explanation.claim,
                "evidence": list(p.explanation.evidence),
                "arithmetic": list(p.explanation.arithmetic),
                "confidence": p.explanation.confidence,
                "confidence_text": p.explanation.confidence_text,
                "code_version": p.explanation.code_version,
                "model_version": p.explanation.model_version,
            }
            for p in items
        ],
    )
    return [p.id for p in items]


def _public(row: Any, exp: Any | None) -> dict[str, Any]:
    out = {
        "id": row.id,
        "kind": row.kind,
        "subject_type": row.subject_type,
        "subject_ids": row.subject_ids,
        "case_reference": row.case_reference,
        "team": row.team,
        "dataset": row.dataset,
        "synthetic": row.synthetic,
        "status": row.status,
        "created_by": row.created_by,
        "created_at": row.created_at.isoformat(),
    }
    if exp is not None:
        out["explanation"] = {
            "claim": exp.claim,
            "evidence": exp.evidence,
            "arithmetic": exp.arithmetic,
            "confidence": exp.confidence,
            "confidence_text": exp.confidence_text,
            "code_version": exp.code_version,
            "model_version": exp.model_version,
        }
    return out


def list_products(
    store: Store,
    policy: Policy,
    caller: Caller,
    *,
    kind: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    query = {"kind": kind, "status": status, "limit": limit, "offset": offset}
    with operation(
        store,
        policy,
        caller,
        permission="products.read",
        operation="consultation",
        object_type="product",
        query=query,
    ) as op:
        where = []
        if kind:
            where.append(products.c.kind == kind)
        if status:
            where.append(products.c.status == status)
        if caller.case_reference and "oversight_panel" not in caller.roles:
            # Products tied to a case are shown under that case's reference only.
            where.append(
                (products.c.case_reference.is_(None))
                | (products.c.case_reference == caller.case_reference)
            )
        else:
            where.append(products.c.case_reference.is_(None))
        total = op.conn.execute(
            select(func.count()).select_from(products).where(*where)
        ).scalar_one()
        rows = op.conn.execute(
            select(products)
            .where(*where)
            .order_by(products.c.created_at.desc(), products.c.id)
            .limit(limit)
            .offset(offset)
        ).all()
        items = [_public(r, None) for r in rows]
        for r in rows:
            op.returned([f"product:{r.id}", *[f"{r.subject_type}:{s}" for s in r.subject_ids]])
    return {"total": int(total), "items": items}


def get_product(store: Store, policy: Policy, caller: Caller, product_id: str) -> dict[str, Any]:
    with operation(
        store,
        policy,
        caller,
        permission="products.read",
        operation="consultation",
        object_type="product",
        query={"id": product_id},
    ) as op:
        row = op.conn.execute(select(products).where(products.c.id == product_id)).first()
        if row is None or (
            row.case_reference is not None
            and row.case_reference != caller.case_reference
            and "oversight_panel" not in caller.roles
        ):
            raise NotFound(f"no product {product_id!r} under this purpose and case")
        exp = op.conn.execute(
            select(explanations).where(explanations.c.product_id == product_id)
        ).first()
        history = op.conn.execute(
            select(decisions).where(decisions.c.product_id == product_id).order_by(decisions.c.id)
        ).all()
        op.returned([f"product:{row.id}", *[f"{row.subject_type}:{s}" for s in row.subject_ids]])
        out = _public(row, exp)
        out["decisions"] = [
            {
                "decision": d.decision,
                "reason": d.reason,
                "decided_by": d.decided_by,
                "decided_at": d.decided_at.isoformat(),
                "confirmation": d.confirmation,
            }
            for d in history
        ]
    return out


def decide(
    store: Store,
    policy: Policy,
    caller: Caller,
    product_id: str,
    *,
    decision: str,
    reason: str,
    confirmation: Sequence[Mapping[str, Any]] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Any]:
    """Record a person's decision on a product (audited as an alteration). `confirmation`:
    what the person confirmed before marking a product actioned (see check_confirmation)."""
    if decision not in DECISIONS:
        raise PeelError(f"decision must be one of {', '.join(DECISIONS)}")
    if not reason.strip():
        raise PeelError("a decision needs a reason")
    with operation(
        store,
        policy,
        caller,
        permission="products.decide",
        operation="alteration",
        object_type="product",
        query={"id": product_id, "decision": decision},
    ) as op:
        row = op.conn.execute(select(products).where(products.c.id == product_id)).first()
        if row is None:
            raise NotFound(f"no product {product_id!r}")
        if row.case_reference is not None and row.case_reference != caller.case_reference:
            raise AccessDenied("this product belongs to another case")
        if decision == "actioned":
            evidence = op.conn.execute(
                select(explanations.c.evidence).where(explanations.c.product_id == product_id)
            ).scalar_one_or_none()
            check_confirmation(row.kind, row.status, evidence or [], confirmation)
        elif confirmation:
            raise PeelError("a confirmation goes with an actioned decision only")
        now = clock()
        op.conn.execute(
            insert(decisions),
            [
                {
                    "product_id": product_id,
                    "decision": decision,
                    "reason": reason[:2000],
                    "decided_by": caller.username,
                    "decided_at": now,
                    "confirmation": [dict(c) for c in confirmation] if confirmation else None,
                }
            ],
        )
        op.conn.execute(
            update(products).where(products.c.id == product_id).values(status=STATUS_OF[decision])
        )
        op.returned([f"product:{row.id}"])
    return {"id": product_id, "status": STATUS_OF[decision], "decided_at": now.isoformat()}


def decision_counts(conn: Connection) -> dict[str, dict[str, int]]:
    """Counts of decisions by product kind, for the oversight pages."""
    rows = conn.execute(
        select(products.c.kind, decisions.c.decision, func.count())
        .join(decisions, decisions.c.product_id == products.c.id)
        .group_by(products.c.kind, decisions.c.decision)
    ).all()
    out: dict[str, dict[str, int]] = {}
    for kind, dec, n in rows:
        out.setdefault(kind, {})[dec] = int(n)
    return out


__all__ = [
    "CONFIRM_BEFORE_ACTION",
    "DECISIONS",
    "Explanation",
    "NewProduct",
    "NotFound",
    "check_confirmation",
    "decide",
    "decision_counts",
    "get_product",
    "list_products",
    "write_products",
]
