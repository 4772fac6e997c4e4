"""Oversight of ANPR leads: leads raised, accepted and rejected by the keeper's self-defined
ethnicity and age band (recorded in `lead_monitoring` when each lead was raised), each rate
with a Wilson 95% interval (scipy), so the panel can see whether leads fall on some groups
more, or are accepted less, than on others. Aggregates only; reading them is audited.

Rates: a group's share of all leads raised; among the group's leads that a person decided,
the share accepted (accepted or later actioned) and the share rejected. A group with fewer
than MIN_GROUP decided leads is marked too small: its interval is shown, not hidden.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from scipy.stats import binomtest
from sqlalchemy import select

from peel.governance.access import Caller, consultation
from peel.governance.policy import Policy
from peel.leads.raised import KIND, NOT_APPLICABLE
from peel.schema import get_registry
from peel.serving import Store
from peel.serving.tables import lead_monitoring, products

MIN_GROUP = 10
AGE_ORDER = ("under-10", "10-17", "18-24", "25-34", "over-34", "unknown", NOT_APPLICABLE)
# The ONS 2011 top-level groups of the 18+1 self-defined codes (by the code's first letter).
TOP_LEVEL = {"W": "White", "M": "Mixed", "A": "Asian", "B": "Black", "O": "Other"}


def _ci(k: int, n: int) -> list[float] | None:
    if n == 0:
        return None
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return [round(float(ci.low), 4), round(float(ci.high), 4)]


def ethnic_group(code: str) -> str:
    if code == NOT_APPLICABLE:
        return "not applicable (no person keeper)"
    if code == "NS":
        return "Not stated"
    return TOP_LEVEL.get(code[:1], "Not stated")


def _row(group: str, rows: list[tuple[str, str]], total: int) -> dict[str, Any]:
    raised = len(rows)
    accepted = sum(1 for _, s in rows if s in ("accepted", "actioned"))
    rejected = sum(1 for _, s in rows if s == "rejected")
    decided = accepted + rejected
    return {
        "group": group,
        "raised": raised,
        "share_of_raised": round(raised / total, 4) if total else None,
        "share_of_raised_ci95": _ci(raised, total),
        "decided": decided,
        "accepted": accepted,
        "acceptance_rate": round(accepted / decided, 4) if decided else None,
        "acceptance_rate_ci95": _ci(accepted, decided),
        "rejected": rejected,
        "rejection_rate": round(rejected / decided, 4) if decided else None,
        "rejection_rate_ci95": _ci(rejected, decided),
        "too_small": decided < MIN_GROUP,
    }


def lead_figures(
    store: Store,
    policy: Policy,
    caller: Caller,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Any]:
    """The figures above, by ethnic group (top level), by 18+1 code, by age band, and by
    group x age band; audited as a consultation of aggregates (no subject ids)."""
    with consultation(
        store,
        policy,
        caller,
        permission="models.oversee",
        object_type="lead_oversight",
        query={"kind": KIND},
        clock=clock,
    ) as op:
        rows = op.conn.execute(
            select(
                lead_monitoring.c.self_defined_ethnicity,
                lead_monitoring.c.age_band,
                lead_monitoring.c.keeper_kind,
                products.c.status,
            )
            .join(products, products.c.id == lead_monitoring.c.product_id)
            .where(products.c.kind == KIND)
        ).all()
    total = len(rows)
    labels = {c.code: c.label for c in get_registry().codes("ethnicity_self_defined").codes}

    def grouped(key: Callable[[Any], str], order: list[str] | None = None) -> list[dict[str, Any]]:
        groups: dict[str, list[tuple[str, str]]] = {}
        for r in rows:
            groups.setdefault(key(r), []).append((r[0], r[3]))
        names = order or sorted(groups)
        return [_row(g, groups[g], total) for g in names if g in groups]

    return {
        "kind": KIND,
        "leads_raised": total,
        "statuses": dict(Counter(r[3] for r in rows)),
        "keeper_kinds": dict(Counter(r[2] for r in rows)),
        "min_group": MIN_GROUP,
        "interval": "Wilson 95%",
        "by_ethnic_group": grouped(lambda r: ethnic_group(r[0])),
        "by_ethnicity_code": grouped(
            lambda r: f"{r[0]} {labels[r[0]]}" if r[0] in labels else ethnic_group(r[0])
        ),
        "by_age_band": grouped(lambda r: r[1], list(AGE_ORDER)),
        "by_ethnic_group_and_age_band": grouped(lambda r: f"{ethnic_group(r[0])} / {r[1]}"),
    }


__all__ = ["MIN_GROUP", "ethnic_group", "lead_figures"]
