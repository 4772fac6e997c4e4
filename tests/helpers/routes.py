"""Every route of the app with its declared access rule, and sample path values."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from peel.app.deps import Rule

SAMPLE_PATH_VALUES = {
    "product_id": "no-such-product",
    "table": "crime",
    "row_id": str(uuid.UUID(int=1)),
    "version": "1",
    "username": "no-such-user",
    "reference": "OP-TEST-1",
    "seq": "1",
    "sample_id": "no-such-sample",
    "profile_id": "P-000000000000",
    "vrm": "AB12CDE",
    "request_id": "999999",
    "authorisation_id": "999999",
    "item_id": "1",
    "name": "MG6C.csv",
}


@dataclass(frozen=True)
class RouteRule:
    method: str
    path: str
    rules: tuple[Rule, ...]

    def concrete(self, values: dict[str, str] | None = None) -> str:
        values = {**SAMPLE_PATH_VALUES, **(values or {})}
        return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values[m.group(1)], self.path)


def _rules(dep: Dependant) -> Iterator[Rule]:
    if isinstance(dep.call, Rule):
        yield dep.call
    for sub in dep.dependencies:
        yield from _rules(sub)


def app_routes(app: FastAPI) -> list[RouteRule]:
    """Every API and page route, with routers included (FastAPI keeps included routers as
    nested contexts; iter_route_contexts flattens them with their full paths)."""
    out = []
    for ctx in iter_route_contexts(app.routes):
        route = ctx.original_route
        if not isinstance(route, APIRoute):
            continue
        rules = tuple(dict.fromkeys(_rules(route.dependant)))
        for method in sorted(ctx.methods or route.methods):
            out.append(RouteRule(method, str(ctx.path), rules))
    return out
