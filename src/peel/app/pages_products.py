"""Products pages: the list, one product with its explanation and evidence, and the form
that records a decision. Every view is an audited consultation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from peel.app.api.common import PageDep
from peel.app.api.lead_actions import MAX_READS, lead_reads, pack_response
from peel.app.deps import Permit, StateDep
from peel.app.pages import render
from peel.governance import products
from peel.governance.access import Caller
from peel.lake import Lake
from peel.leads import action, oversight

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
    perms = state.policy.permissions_of(caller.roles)
    can_decide = "products.decide" in perms
    # A lead's reads (image reference, OCR confidence) for the confirmation before it is
    # marked actioned; shown to those who may see ANPR reads (an audited consultation).
    reads = (
        lead_reads(state, caller, item["id"])
        if item["kind"] in products.CONFIRM_BEFORE_ACTION and state.policy.anpr.permission in perms
        else None
    )
    return render(
        request,
        caller,
        "product.html",
        item=item,
        can_decide=can_decide,
        reads=reads,
        can_pack="records.read" in perms and item["status"] in action.PACKABLE,
    )


@router.post("/products/{product_id}/action")
def action_submit(
    product_id: str,
    state: StateDep,
    caller: Annotated[Caller, Depends(Permit("products.decide"))],
    reason: Annotated[str, Form(max_length=2000)],
    read: Annotated[list[str], Form(max_length=MAX_READS)],
    plate_matches_image: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Mark a lead actioned: the ticked reads, and the person's yes that each image shows
    the plate."""
    action.confirm_and_action(
        state.store,
        state.policy,
        Lake(state.settings),
        caller,
        product_id[:64],
        reason=reason,
        confirmed=[r[:64] for r in read],
        plate_matches_image=plate_matches_image == "yes",
        clock=state.clock,
    )
    return RedirectResponse(f"/products/{product_id[:64]}", status_code=303)


@router.post("/products/{product_id}/evidence-pack")
def pack_submit(
    product_id: str,
    state: StateDep,
    caller: Annotated[Caller, Depends(Permit("records.read"))],
    recipient: Annotated[str, Form(max_length=200)],
) -> Response:
    """Download the evidence pack (a zip); audited as a disclosure to the recipient."""
    return pack_response(state, caller, product_id[:64], recipient)


@router.get("/oversight/leads")
def lead_oversight_page(
    request: Request,
    state: StateDep,
    caller: Annotated[Caller, Depends(Permit("models.oversee"))],
) -> HTMLResponse:
    figures = oversight.lead_figures(state.store, state.policy, caller, clock=state.clock)
    return render(request, caller, "oversight_leads.html", figures=figures)


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
