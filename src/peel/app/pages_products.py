"""Products pages: the list, one product with its explanation and evidence, and the form
that records a decision. Every view is an audited consultation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from peel.app.api.common import PageDep
from peel.app.deps import Permit, StateDep
from peel.app.pages import render
from peel.governance import products
from peel.governance.access import Caller

router = APIRouter(include_in_schema=False)


@router.get("/products")
def products_page(
    request: Request,
    state: StateDep,
    caller: Annotated[Caller, Depends(Permit("products.read"))],
    page: PageDep,
    kind: str | None = None,
    status: str | None = None,
) -> HTMLResponse:
    found = products.list_products(
        state.store,
        state.policy,
        caller,
        kind=kind or None,
        status=status or None,
        limit=page.limit,
        offset=page.offset,
    )
    return render(
        request,
        caller,
        "products.html",
        found=found,
        page=page,
        kind=kind or "",
        status=status or "",
    )


@router.get("/products/{product_id}")
def product_page(
    product_id: str,
    request: Request,
    state: StateDep,
    caller: Annotated[Caller, Depends(Permit("products.read"))],
) -> HTMLResponse:
    item = products.get_product(state.store, state.policy, caller, product_id[:64])
    can_decide = "products.decide" in state.policy.permissions_of(caller.roles)
    return render(request, caller, "product.html", item=item, can_decide=can_decide)


@router.post("/products/{product_id}/decisions")
def decide_submit(
    product_id: str,
    state: StateDep,
    caller: Annotated[Caller, Depends(Permit("products.decide"))],
    decision: Annotated[str, Form(max_length=16)],
    reason: Annotated[str, Form(max_length=2000)],
) -> Response:
    products.decide(
        state.store,
        state.policy,
        caller,
        product_id[:64],
        decision=decision,
        reason=reason,
        clock=state.clock,
    )
    return RedirectResponse(f"/products/{product_id[:64]}", status_code=303)
