"""If the audit entry cannot be written, the operation fails: for every route that touches
personal data, the audit INSERT is made to fail inside the database; the answer is 503 with no
personal data in it, and no row anywhere changed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from helpers.appenv import AppEnv
from helpers.appworld import audit_insert_fails, build_world, path_values, snapshot
from helpers.resolved import ResolvedWorld
from helpers.routes import app_routes
from peel.settings import get_settings

AUDIT_DOWN = "the audit log could not be written"


def _call(env: AppEnv, method: str, path: str, spec: dict[str, Any]) -> Any:
    return env.client.request(
        method,
        path,
        headers=env.headers(spec["role"]),
        json=spec.get("json"),
        data=spec.get("data"),
        params=spec.get("params"),
        follow_redirects=False,
    )


@contextmanager
def data_clock(monkeypatch: pytest.MonkeyPatch, spec: dict[str, Any]) -> Iterator[None]:
    """The data clock a request needs (`reference_time`: ANPR reads in the recent tier)."""
    if "reference_time" not in spec:
        yield
        return
    with monkeypatch.context() as m:
        m.setenv("PEEL_REFERENCE_TIME", spec["reference_time"])
        get_settings.cache_clear()
        try:
            yield
        finally:
            get_settings.cache_clear()
    get_settings.cache_clear()


def test_every_personal_data_route_fails_closed_when_the_audit_cannot_be_written(
    app_env: AppEnv, resolved_world: ResolvedWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = build_world(app_env, resolved_world)
    policy = app_env.policy
    personal = [
        r
        for r in app_routes(app_env.app)
        if r.rules[0].permission in policy.permissions
        and policy.permissions[r.rules[0].permission].personal_data
    ]
    missing = [f"{r.method} {r.path}" for r in personal if (r.method, r.path) not in world.requests]
    assert missing == [], "add a working request for these routes to tests/app/world.py"
    secrets = [world.crime_row, world.person_row, "P-1", "QUILLFEATHER"]
    for route in personal:
        spec = world.requests[(route.method, route.path)]
        base = {**path_values(world), **spec.get("path", {})}
        # A step that cannot be repeated (withdraw a request) names one object per call.
        first, second = spec.get("values", ({}, {}))
        path = route.concrete(base | first)
        with data_clock(monkeypatch, spec):
            ok = _call(app_env, route.method, path, spec)
        assert ok.status_code in (200, 201, 204, 303), (route.path, ok.status_code, ok.text[:300])
        before = snapshot(app_env.store)
        with audit_insert_fails(app_env.store), data_clock(monkeypatch, spec):
            r = _call(app_env, route.method, route.concrete(base | second), spec)
        assert r.status_code == 503, (route.method, route.path, r.status_code)
        assert AUDIT_DOWN in r.text
        assert not any(s in r.text for s in secrets), route.path
        assert snapshot(app_env.store) == before, f"{route.method} {route.path} changed rows"
