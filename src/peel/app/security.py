"""HTTP hardening as plain ASGI middleware: a request id on every request, security headers
with a strict Content-Security-Policy (no inline script or style), a cap on request bodies,
and the CSRF tokens pages and cookie-authenticated API calls must carry.

Written by hand because each piece is a few lines over the ASGI interface and the packages
that bundle them (e.g. secure, starlette-csrf) each cover one part with their own cookie and
token conventions that would still need the session-bound token Peel keeps in the store.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
# /docs (Swagger UI) needs its own script; it is served from the installed package's static
# files, never a CDN (see app.main), and keeps the same CSP.


class SecurityMiddleware:
    """Request id, security headers, no caching of personal data, body size cap."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, hsts: bool) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body:
            await _too_large(send, request_id, self.max_body)
            return
        seen = 0
        over = False

        async def limited_receive() -> Message:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    over = True
                    raise BodyTooLarge
            return message

        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(HEADERS)
                headers.append((b"x-request-id", request_id.encode()))
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                if self.hsts:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except BodyTooLarge:
            if over:
                await _too_large(send, request_id, self.max_body)


class BodyTooLarge(Exception):
    pass


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _too_large(send: Send, request_id: str, limit: int) -> None:
    body = f'{{"detail":"request body larger than {limit} bytes"}}'.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode()),
                *HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# -- CSRF -------------------------------------------------------------------------------------
LOGIN_CSRF_COOKIE = "peel_login_csrf"


def login_csrf_pair(secret: str) -> tuple[str, str]:
    """(cookie value, form value) for the login form, before any session exists: the form
    value is an HMAC of the cookie's nonce, so a forged form without the cookie fails."""
    nonce = secrets.token_urlsafe(24)
    return nonce, _sign(secret, nonce)


def login_csrf_ok(secret: str, cookie: str | None, form_value: str | None) -> bool:
    if not cookie or not form_value:
        return False
    return hmac.compare_digest(_sign(secret, cookie), form_value)


def session_csrf_ok(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected, given or "")


def _sign(secret: str, value: str) -> str:
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()


def scope_request_id(scope: dict[str, Any]) -> str:
    return str(scope.get("state", {}).get("request_id", ""))


__all__ = [
    "CSP",
    "LOGIN_CSRF_COOKIE",
    "SecurityMiddleware",
    "login_csrf_ok",
    "login_csrf_pair",
    "session_csrf_ok",
]
