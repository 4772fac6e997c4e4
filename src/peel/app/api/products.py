"""Products (leads, flags, risk bands, review suggestions), their explanations, and the
decisions people record on them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from peel.app.api.common import PageDep
from peel.app.deps import Permit, StateDep
from peel.governance import products
from peel.governance.access import Caller

router = APIRouter(prefix="/api/products", tags=["products"])


class DecisionCreate(BaseModel):
    decision: Literal["accepted", "rejected", "actioned"]
    reason: str = Field(min_length=1, max_length=2000)


@router.get("")
def list_products(
    state: StateDep,
    caller: Annotated[Caller, Depends(Permit("products.read"))],
    page: PageDep,
    kind: str | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    return products.list_products(
        state.store,
        state.policy,
        caller,
        kind=kind,
        status=status,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/{product_id}")
def get_product(
    product_id: str, state: StateDep, caller: Annotated[Caller, Depends(Permit("products.read"))]
) -> dict[str, Any]:
    return products.get_product(state.store, state.policy, caller, product_id[:64])


@router.post("/{product_id}/decisions", status_code=201)
def decide(
    product_id: str,
    body: DecisionCreate,
    state: StateDep,
    caller: Annotated[Caller, Depends(Permit("products.decide"))],
) -> dict[str, Any]:
    return products.decide(
        state.store,
        state.policy,
        caller,
        product_id[:64],
        decision=body.decision,
        reason=body.reason,
        clock=state.clock,
    )
