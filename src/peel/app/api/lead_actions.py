"""Acting on ANPR leads (issue 6, "advice, not action"): the reads a lead cites with their image
reference and OCR confidence, marking a lead actioned after confirming them, the evidence pack
of an accepted lead (a disclosure), and the oversight figures by the keeper's self-defined
ethnicity and age band."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel, Field

from peel.app.deps import Permit, StateDep
from peel.governance.access import Caller, consultation
from peel.lake import Lake
from peel.leads import action, oversight

router = APIRouter(tags=["leads"])
MAX_READS = 500


class ActionCreate(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)
    confirmed_reads: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=MAX_READS
    )
    plate_matches_image: bool = Field(
        description="The person looked at each read's image: it shows the plate."
    )


class PackCreate(BaseModel):
    recipient: str = Field(min_length=1, max_length=200)


def lead_reads(state: Any, caller: Caller, product_id: str) -> list[dict[str, Any]]:
    """The reads a lead cites, with camera, time, image reference and OCR confidence (an
    audited consultation of those reads)."""
    cited = action.cited_reads(state.store, product_id)
    with consultation(
        state.store,
        state.policy,
        caller,
        permission=state.policy.anpr.permission,
        object_type="anpr_read",
        query={"product": product_id},
        clock=state.clock,
    ) as op:
        found = action.read_details(Lake(state.settings), cited)
        op.returned(f"anpr_read:{r}" for r in found)
    return [found[r] for r in cited if r in found]


@router.get("/api/products/{product_id}/reads")
def reads(
    product_id: str, state: StateDep, caller: Annotated[Caller, Depends(Permit("anpr.read"))]
) -> list[dict[str, Any]]:
    return lead_reads(state, caller, product_id[:64])


@router.post("/api/products/{product_id}/action", status_code=201)
def act(
    product_id: str,
    body: ActionCreate,
    state: StateDep,
    caller: Annotated[Caller, Depends(Permit("products.decide"))],
) -> dict[str, Any]:
    """Mark an accepted lead actioned: every read it cites confirmed by the person."""
    return action.confirm_and_action(
        state.store,
        state.policy,
        Lake(state.settings),
        caller,
        product_id[:64],
        reason=body.reason,
        confirmed=body.confirmed_reads,
        plate_matches_image=body.plate_matches_image,
        clock=state.clock,
    )


@router.post(
    "/api/products/{product_id}/evidence-pack",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
)
def evidence_pack(
    product_id: str,
    body: PackCreate,
    state: StateDep,
    caller: Annotated[Caller, Depends(Permit("records.read"))],
) -> Response:
    """The evidence pack of an accepted lead, as a zip; audited as a disclosure."""
    return pack_response(state, caller, product_id[:64], body.recipient)


def pack_response(state: Any, caller: Caller, product_id: str, recipient: str) -> Response:
    data, manifest = action.evidence_pack(
        state.store,
        state.policy,
        Lake(state.settings),
        caller,
        product_id,
        recipient=recipient,
        clock=state.clock,
    )
    return Response(
        data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="evidence-pack-{product_id}.zip"',
            "X-Peel-Manifest-SHA256": manifest["manifest_sha256"],
        },
    )


@router.get("/api/oversight/leads")
def lead_oversight(
    state: StateDep, caller: Annotated[Caller, Depends(Permit("models.oversee"))]
) -> dict[str, Any]:
    """Leads raised, accepted and rejected by the keeper's self-defined ethnicity and age
    band, with Wilson 95% intervals (aggregates only)."""
    return oversight.lead_figures(state.store, state.policy, caller, clock=state.clock)
