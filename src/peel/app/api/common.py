"""Shared pieces of the API: paging capped by the policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query

from peel.app.deps import StateDep
from peel.errors import PeelError


class PageTooLarge(PeelError):
    """A page size over the policy's cap."""


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


def page(
    state: StateDep,
    limit: Annotated[int, Query(ge=1, description="rows per page (capped by the policy)")] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page:
    cap = state.policy.limits.page_size
    if limit > cap:
        raise PageTooLarge(f"limit: at most {cap} rows per page (policy limits.page_size)")
    return Page(limit=limit, offset=offset)


PageDep = Annotated[Page, Depends(page)]
