"""`create_app`: the FastAPI app. JSON API under /api (OpenAPI at /docs, served from local
files), server-rendered pages, security middleware, and one mapping of Peel's errors to HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import anyio.to_thread
import swagger_ui_bundle
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from peel import __version__
from peel.app import (
    pages,
    pages_anpr,
    pages_audit,
    pages_evidence,
    pages_leads,
    pages_patrol,
    pages_products,
    pages_profiles,
)
from peel.app.api import anpr, auth, cases, check, policy, products, profiles, records, users
from peel.app.api import audit as audit_api
from peel.app.api import evidence as evidence_api
from peel.app.api import leads as leads_api
from peel.app.api.common import PageTooLarge
from peel.app.api.lead_actions import router as lead_actions_router
from peel.app.deps import CsrfFailed, NotAuthenticated, Public, StateDep
from peel.app.security import SecurityMiddleware
from peel.app.state import build_state, wall_clock
from peel.errors import (
    AccessDenied,
    AuditError,
    AuthError,
    NotFound,
    PeelError,
    PolicyRefusal,
)
from peel.evidence.store import EvidenceError, EvidenceTampered
from peel.governance import checkpoint
from peel.resolve.check import NotPublished
from peel.settings import Settings, get_settings

logger = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"


def create_app(
    settings: Settings | None = None,
    *,
    clock: Callable[[], datetime] = wall_clock,
    migrate: bool = True,
) -> FastAPI:
    """Build the app. Refuses (raises PeelError) on placeholder secrets outside development,
    an unmigrated store, or a policy that is invalid or not the applied one."""
    settings = settings or get_settings()
    state = build_state(settings, clock=clock, migrate=migrate)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Blocking endpoints run on a thread pool. anyio's default of 40 threads lets a
        # burst start 40 requests at once, all contending for the GIL and the store's
        # connections: each then costs more CPU and they all finish late. A few threads
        # per process keep the cores busy; the rest wait their turn in the event loop.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.server_threads
        yield
        state.store.dispose()

    app = FastAPI(
        lifespan=lifespan,
        title="Peel",
        version=__version__,
        description="Police data under rules it can prove it keeps. Every request that "
        "touches personal data carries a purpose (Peel-Purpose, Peel-Case-Reference, "
        "Peel-Justification headers) and is audited.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.peel = state
    app.add_middleware(
        SecurityMiddleware,
        max_body_bytes=settings.max_body_bytes,
        hsts=not settings.development,
    )
    app.mount(
        "/static/swagger", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="swagger"
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # The roadside checks first: routes are matched in order, and a check is the request
    # that must answer fastest (issue 5's latency target).
    for router in (
        check.router,
        auth.router,
        policy.router,
        audit_api.router,
        users.router,
        cases.router,
        products.router,
        records.router,
        anpr.router,
        profiles.router,
        lead_actions_router,
        leads_api.router,
        evidence_api.router,
    ):
        app.include_router(router)
    app.include_router(pages.router)
    app.include_router(pages_products.router)
    app.include_router(pages_audit.router)
    app.include_router(pages_patrol.router)
    app.include_router(pages_profiles.router)
    app.include_router(pages_anpr.router)
    app.include_router(pages_leads.router)
    app.include_router(pages_evidence.router)
    _meta_routes(app)
    _error_handlers(app)
    _checkpoints(app)
    return app


def _checkpoints(app: FastAPI) -> None:
    """After each request has committed, sign a checkpoint when enough entries were appended
    since the last one (settings.audit_checkpoint_every). A failure is logged, never turned
    into a failed request: the entries are already safely in the chain."""

    app.add_middleware(CheckpointMiddleware)


class CheckpointMiddleware:
    """Plain ASGI (Starlette's BaseHTTPMiddleware costs a task group and memory streams per
    request): once the response has been sent, check whether a checkpoint is due."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        if scope["type"] == "http" and not scope["path"].startswith("/static/"):
            state = scope["app"].state.peel
            if checkpoint.might_be_due(state.settings, str(state.store.engine.url)):
                await run_in_threadpool(_maybe_checkpoint, state)


def _maybe_checkpoint(state: Any) -> None:
    try:
        with state.store.connect() as conn:
            checkpoint.maybe_checkpoint(conn, state.settings)
    except (checkpoint.CheckpointError, PeelError, SQLAlchemyError) as e:
        logger.error("audit checkpoint not written: %s", type(e).__name__)


def _meta_routes(app: FastAPI) -> None:
    @app.get("/api/health", tags=["meta"])
    def health(state: StateDep, _: Annotated[None, Depends(Public())]) -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "policy_version": state.applied.version,
            "store": state.store.dialect,
        }

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request, _: Annotated[None, Depends(Public())]) -> HTMLResponse:
        return pages.templates.TemplateResponse(request, "docs.html", {})


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and request.url.path != "/openapi.json"


def _error_handlers(app: FastAPI) -> None:
    def answer(request: Request, status: int, detail: str) -> Response:
        if _wants_html(request):
            return pages.error_page(request, status, detail)
        return JSONResponse({"detail": detail}, status_code=status)

    @app.exception_handler(NotAuthenticated)
    async def _unauth(request: Request, exc: NotAuthenticated) -> Response:
        if _wants_html(request):
            return RedirectResponse("/login", status_code=303)
        return JSONResponse({"detail": "sign in first"}, status_code=401)

    @app.exception_handler(CsrfFailed)
    async def _csrf(request: Request, exc: CsrfFailed) -> Response:
        return answer(request, 403, "missing or wrong CSRF token (X-CSRF-Token header or form)")

    # Peel's own errors carry a message fit to show (no personal data): only the status
    # differs. The most specific class wins (Starlette looks handlers up along the MRO).
    statuses: dict[type[PeelError], int] = {
        AuthError: 401,
        AccessDenied: 403,
        PolicyRefusal: 403,
        NotFound: 404,
        NotPublished: 503,
        PageTooLarge: 422,
        EvidenceError: 404,  # no material ingested for the case, no such item
        EvidenceTampered: 409,  # stored material failed its hash check: its use is blocked
        PeelError: 400,
    }

    async def _peel(request: Request, exc: Exception) -> Response:
        status = next(statuses[k] for k in type(exc).__mro__ if k in statuses)
        return answer(request, status, str(exc))

    for exc_class in statuses:
        app.add_exception_handler(exc_class, _peel)

    @app.exception_handler(AuditError)
    async def _audit(request: Request, exc: AuditError) -> Response:
        logger.error("audit write failed on %s: %s", request.url.path, exc)
        return answer(
            request,
            503,
            "the audit log could not be written, so the operation was not done and nothing "
            "is returned; tell the system's administrators",
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        # Name the field and the problem; never echo the value (it may be personal data).
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]}
            for e in exc.errors()[:20]
        ]
        if _wants_html(request):
            text = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
            return pages.error_page(request, 422, text)
        return JSONResponse({"detail": problems}, status_code=422)


__all__ = ["create_app"]
