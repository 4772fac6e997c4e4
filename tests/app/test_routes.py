"""The route x role matrix: every route declares one access rule, and for every role of the
policy the app allows exactly what the rule and the policy say, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from helpers.appenv import AppEnv
from helpers.routes import app_routes
from peel.app.deps import AUTHENTICATED, PUBLIC


def test_every_route_declares_exactly_one_access_rule(app_env: AppEnv) -> None:
    routes = app_routes(app_env.app)
    assert len(routes) > 30
    undeclared = [f"{r.method} {r.path}" for r in routes if len(r.rules) != 1]
    assert undeclared == [], "routes without exactly one Permit/Public rule"
    known = set(app_env.policy.permissions) | {PUBLIC, AUTHENTICATED}
    unknown = [f"{r.method} {r.path}" for r in routes if not set(r.rules[0].permissions) <= known]
    assert unknown == []


def test_route_by_role_matrix(app_env: AppEnv) -> None:
    routes = app_routes(app_env.app)
    policy = app_env.policy
    failures = []
    checked = 0
    for route in routes:
        rule = route.rules[0].permission
        anyof = route.rules[0].permissions  # Permit("a", "b"): either will do
        if route.path in ("/api/auth/logout", "/logout"):
            continue  # would end the cached session; covered by the session tests
        for role in policy.roles:
            if rule in (PUBLIC, AUTHENTICATED):
                allowed = True
            else:
                allowed = any(p in policy.permissions_of([role]) for p in anyof)
            r = app_env.client.request(
                route.method,
                route.concrete(),
                headers=app_env.headers(role),
                follow_redirects=False,
            )
            checked += 1
            denied = r.status_code in (401, 403)
            if allowed == denied:
                failures.append(f"{route.method} {route.path} as {role}: {r.status_code}")
    assert failures == []
    assert checked > 250


def test_without_a_session_api_routes_answer_401_and_pages_redirect(app_env: AppEnv) -> None:
    app_env.client.cookies.clear()
    for route in app_routes(app_env.app):
        if route.rules[0].permission == PUBLIC:
            continue
        r = app_env.client.request(route.method, route.concrete(), follow_redirects=False)
        if route.path.startswith("/api/"):
            assert r.status_code == 401, (route.method, route.path, r.status_code)
        else:
            assert r.status_code == 303 and r.headers["location"] == "/login", route.path


@pytest.mark.parametrize(
    ("role", "method", "path", "status"),
    [
        # Admins manage accounts but read no personal data and cannot touch the audit.
        ("admin", "GET", "/api/users", 200),
        ("admin", "GET", "/api/audit", 403),
        ("admin", "GET", "/api/products", 403),
        ("admin", "GET", "/audit", 403),
        ("oversight_panel", "GET", "/api/audit", 200),
        ("oversight_panel", "GET", "/api/users", 403),
        ("patrol_officer", "GET", "/api/audit", 403),
        ("patrol_officer", "GET", "/api/products", 200),
        ("disclosure_officer", "GET", "/api/anpr/authorisations", 403),
        ("investigator", "GET", "/api/anpr/authorisations", 200),
        ("manager", "GET", "/api/policy", 200),
        ("manager", "GET", "/anpr/authorisations", 200),
        ("investigator", "GET", "/anpr/authorisations", 200),
        ("disclosure_officer", "GET", "/anpr/authorisations", 403),
        ("investigator", "GET", "/api/anpr/requests/pending", 403),
        ("manager", "POST", "/api/anpr/requests", 403),
    ],
)
def test_spot_checks_of_the_shipped_policy(
    app_env: AppEnv, role: str, method: str, path: str, status: int
) -> None:
    r = app_env.client.request(method, path, headers=app_env.headers(role))
    assert r.status_code == status, r.text
