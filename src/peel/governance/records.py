"""Reading a lake record for a user: the evidence row a product cites. The lake read goes
through `access.operation`, exactly like a serving-store read, so it is authorised against
the policy and audited with the row it returned.

Special-category fields (DPA 2018 s.35(8)) are withheld unless one of the caller's roles has
`person.marker_detail`.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from peel.errors import NotFound, PeelError
from peel.governance.access import Caller, operation
from peel.governance.policy import Policy
from peel.lake import Lake
from peel.serving import Store

WITHHELD = "[special category: withheld]"


def plain_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def read_record(
    store: Store, policy: Policy, lake: Lake, caller: Caller, *, table: str, row_id: str
) -> dict[str, Any]:
    """Every stored version with this row id is one row; returns it with its provenance."""
    tables = {spec.table: spec for spec in lake.registry.entities.values()}
    if table not in tables:
        raise NotFound(f"no lake table {table!r}")
    try:
        rid = uuid.UUID(row_id)
    except ValueError as e:
        raise PeelError("row_id: not a UUID") from e
    spec = tables[table]
    with operation(
        store,
        policy,
        caller,
        permission="records.read",
        operation="consultation",
        object_type=table,
        query={"table": table, "row_id": str(rid)},
    ) as op:
        engine = lake.engine()
        try:
            # The table name comes from the schema registry, the id is a bound parameter.
            result = engine.query(
                f"SELECT * FROM {engine.table_sql(table)} WHERE row_id = $rid", {"rid": rid}
            ).to_pylist()
        finally:
            engine.close()
        if not result:
            raise NotFound(f"no row {rid} in {table}")
        row = result[0]
        detail = "person.marker_detail" in policy.permissions_of(caller.roles)
        special = {f.name for f in spec.special_category_fields}
        hidden = {col for f in spec.special_category_fields for col, _ in f.physical_columns()}
        out = {}
        for key, value in row.items():
            withhold = key in hidden and not detail and value is not None
            out[key] = WITHHELD if withhold else plain_value(value)
        op.returned([f"{table}:{rid}"])
    return {"table": table, "row": out, "withheld": sorted(special) if not detail else []}


__all__ = ["WITHHELD", "plain_value", "read_record"]
