"""The HTTP face: sign-in, cookies and CSRF, the purpose headers, security headers, request
limits, error bodies without personal data, the OpenAPI snapshot, and the start-up refusals."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from helpers.appenv import CASE, PASSWORD, AppEnv
from peel.app.main import create_app
from peel.app.security import CSP
from peel.errors import PolicyError
from peel.serving import Store

SNAPSHOT = Path(__file__).parent / "openapi.snapshot.json"


def test_login_gives_a_strict_cookie_and_the_same_answer_for_every_failure(
    app_env: AppEnv,
) -> None:
    c = app_env.client
    ok = c.post("/api/auth/login", json={"username": "investigator", "password": PASSWORD})
    assert ok.status_code == 200
    cookie = ok.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "peel_session=" in cookie
    answers = set()
    for body in (
        {"username": "investigator", "password": "wrong wrong wrong"},
        {"username": "nobody-at-all", "password": PASSWORD},
        {"username": "oversight-panel", "password": PASSWORD},  # TOTP required, none given
        {"username": "oversight-panel", "password": PASSWORD, "totp": "000000"},
    ):
        r = c.post("/api/auth/login", json=body)
        assert r.status_code == 401
        answers.add(r.json()["detail"])
    assert len(answers) == 1
    assert app_env.code("oversight_panel")
    r = c.post(
        "/api/auth/login",
        json={
            "username": "oversight-panel",
            "password": PASSWORD,
            "totp": app_env.code("oversight_panel"),
        },
    )
    assert r.status_code == 200


def test_cookie_sessions_need_the_csrf_token_for_unsafe_requests(app_env: AppEnv) -> None:
    c = app_env.client
    r = c.post("/api/auth/login", json={"username": "investigator", "password": PASSWORD})
    csrf = r.json()["csrf_token"]
    body = {"purpose": "investigation", "case_reference": CASE}
    assert c.put("/api/auth/purpose", json=body).status_code == 403
    assert (
        c.put("/api/auth/purpose", json=body, headers={"X-CSRF-Token": "x" * 43}).status_code == 403
    )
    assert c.put("/api/auth/purpose", json=body, headers={"X-CSRF-Token": csrf}).status_code == 204
    me = c.get("/api/auth/me").json()
    assert me["purpose"] == "investigation" and me["case_reference"] == CASE
    # A page form without the token is refused too.
    assert c.post("/purpose", data={"purpose": "safeguarding"}).status_code == 403


def test_personal_data_needs_a_purpose_the_role_may_use(app_env: AppEnv) -> None:
    c = app_env.client
    h = app_env.headers("investigator", purpose=False)
    r = c.get("/api/products", headers=h)
    assert r.status_code == 403 and "Peel-Purpose" in r.json()["detail"]
    r = c.get("/api/products", headers={**h, "Peel-Purpose": "investigation"})
    assert r.status_code == 403 and "Peel-Case-Reference" in r.json()["detail"]
    r = c.get(
        "/api/products", headers={**h, "Peel-Purpose": "disclosure", "Peel-Case-Reference": CASE}
    )
    assert r.status_code == 403 and "not one this account's roles may use" in r.json()["detail"]
    r = c.get("/api/products", headers={**h, "Peel-Purpose": "safeguarding"})
    assert r.status_code == 200
    r = c.get(
        "/api/products",
        headers={**h, "Peel-Purpose": "safeguarding", "Peel-Justification": "x" * 501},
    )
    assert r.status_code == 403


def test_security_headers_and_a_strict_csp_on_every_answer(app_env: AppEnv) -> None:
    c = app_env.client
    for path in ("/login", "/api/health", "/docs", "/static/peel.css", "/nowhere"):
        r = c.get(path)
        assert r.headers["content-security-policy"] == CSP
        assert "'unsafe-inline'" not in CSP
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])
    assert c.get("/api/health").headers["cache-control"] == "no-store"
    # No inline script anywhere in the pages.
    for path in ("/login", "/docs"):
        html = c.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert "style=" not in html
        assert "http://" not in html and "https://" not in html  # nothing from a CDN


def test_huge_and_malformed_requests_get_a_clear_answer(app_env: AppEnv) -> None:
    c = app_env.client
    r = c.post(
        "/api/auth/login",
        content=b"{" + b" " * (2 << 20) + b"}",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413 and "larger than" in r.json()["detail"]
    r = c.post(
        "/api/auth/login", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    r = c.post("/api/auth/login", json={"username": "a" * 65, "password": "secret-value-123"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "body.username"
    assert "secret-value-123" not in r.text
    h = app_env.headers("investigator")
    r = c.get("/api/products?limit=100000", headers=h)
    assert r.status_code == 422 and "limits.page_size" in r.json()["detail"]
    r = c.get("/api/products?limit=-1", headers=h)
    assert r.status_code == 422


def test_openapi_document_matches_the_snapshot(app_env: AppEnv) -> None:
    doc = app_env.client.get("/openapi.json").json()
    text = json.dumps(doc, indent=1, sort_keys=True) + "\n"
    if os.environ.get("PEEL_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(text, encoding="utf-8")
    assert SNAPSHOT.exists(), "no OpenAPI snapshot: run with PEEL_UPDATE_SNAPSHOTS=1 and commit it"
    assert text == SNAPSHOT.read_text(encoding="utf-8"), (
        "the API changed: review the diff and rerun with PEEL_UPDATE_SNAPSHOTS=1"
    )


def test_the_server_refuses_placeholder_secrets_outside_development(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = store.settings.model_copy(update={"env": "production"})
    with pytest.raises(PolicyError, match="PEEL_SECRET_KEY is the placeholder"):
        create_app(settings)
    strong = settings.model_copy(update={"secret_key": "s" * 40})
    with pytest.raises(PolicyError, match="audit signing key"):
        create_app(strong)


def test_the_server_refuses_an_invalid_or_unapplied_policy(store: Store, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: '1'\ntitle: x\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"bad\.yaml: permissions: Field required"):
        create_app(store.settings.model_copy(update={"policy_file": bad}))
    from peel.governance.policy import default_policy_text

    other = tmp_path / "other.yaml"
    other.write_text(default_policy_text().replace('version: "2026.1"', 'version: "x"'), "utf-8")
    with pytest.raises(PolicyError, match="is not the applied policy"):
        create_app(store.settings.model_copy(update={"policy_file": other}))
    same = tmp_path / "same.yaml"
    same.write_text(default_policy_text(), encoding="utf-8")
    app = create_app(store.settings.model_copy(update={"policy_file": same}))
    with TestClient(app) as c:
        assert c.get("/api/health").json()["status"] == "ok"
