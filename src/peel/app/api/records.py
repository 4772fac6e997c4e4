"""A lake record cited as evidence, read for a user through the audited helper."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from peel.app.deps import Permit, StateDep
from peel.governance.access import Caller
from peel.governance.records import read_record
from peel.lake import Lake

router = APIRouter(prefix="/api/records", tags=["records"])


@router.get("/{table}/{row_id}")
def get_record(
    table: str,
    row_id: str,
    state: StateDep,
    caller: Annotated[Caller, Depends(Permit("records.read"))],
) -> dict[str, Any]:
    lake = Lake(state.settings)
    return read_record(
        state.store, state.policy, lake, caller, table=table[:64], row_id=row_id[:64]
    )
