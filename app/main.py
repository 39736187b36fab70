"""The FastAPI application, built by `create_app(settings)` (nothing happens at import)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.api import router as api_router
from app.api.errors import status_of
from app.api.guard import AuthGate
from app.api.inference import body_limits as predict_body_limits
from app.api.limits import BodySizeLimit, BodyTimeout
from app.api.security_headers import SecurityHeaders
from app.api.uploads import body_limits
from app.db import Database
from app.db.migrations import upgrade
from app.pages.account import router as account_page_router
from app.pages.dataset_upload import router as upload_page_router
from app.pages.errors import error_page, status_page, wants_html
from app.pages.router import router as pages_router
from app.pages.templating import get_templates
from app.pages.transfer_page import router as transfer_page_router
from app.queue import TaskQueue, make_celery
from app.schemas.errors import field_message
from app.services.errors import InvalidInput, ServiceError, TooManyAttempts
from app.services.evaluation_jobs import sweep_stale_evaluations
from app.services.execution import sweep_stale_runs
from app.services.sweeps import advance_stalled_sweeps
from app.services.unit_of_work import UnitOfWork
from app.settings import Settings, get_settings

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).resolve().parent / "static"



def create_app(settings: Settings | None = None) -> FastAPI:
    """The API + dashboard for `settings` (default: the environment's).

    The engine and the Celery app are built here, per app; on start-up the database is
    migrated (unless `migrate_on_start` is off) and a heartbeat sweeper starts. Every
    request passes `AuthGate` (inside the body-size limit), so no route can skip it, and every
    response carries the security headers (`SecurityHeaders`, outermost).
    """
    settings = settings or get_settings()
    app = FastAPI(title="Stagewise", version="0.1.0", lifespan=_lifespan, docs_url=None)
    app.state.settings = settings
    app.state.database = Database.connect(settings.database_url)
    app.state.tasks = TaskQueue(make_celery(settings), settings)
    app.include_router(api_router)
    app.include_router(pages_router)
    app.include_router(transfer_page_router)
    app.include_router(upload_page_router)
    app.include_router(account_page_router)
    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _add_api_docs(app)
    _add_error_handlers(app)
    app.add_middleware(AuthGate, settings=settings, database=app.state.database, tasks=app.state.tasks)
    app.add_middleware(
        BodySizeLimit, max_bytes=settings.max_body_bytes, per_path=body_limits(settings.max_upload_bytes),
        per_pattern=predict_body_limits(settings),
    )
    app.add_middleware(BodyTimeout, idle_s=settings.body_idle_timeout_s, total_s=settings.body_timeout_s)
    if settings.forwarded_allow_ips:
        # Outside the gate, so that every layer (the login rate limit, secure cookies) sees the
        # real client; only the configured proxies may say who that is.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)
    app.add_middleware(SecurityHeaders)  # outermost: refusals and 413s carry the headers too
    return app


def _add_api_docs(app: FastAPI) -> None:
    """/docs: Swagger UI 5 (OpenAPI 3.1) from the installed fastapi-offline package (no CDN)."""
    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/docs/assets", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def api_docs(request: Request) -> HTMLResponse:
        return get_templates().TemplateResponse(request, "api_docs.html", {})


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    if settings.migrate_on_start:
        await run_in_threadpool(upgrade, settings.database_url)
    sweeper = asyncio.create_task(_sweep_forever(app))
    try:
        yield
    finally:
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
        app.state.database.dispose()


async def _sweep_forever(app: FastAPI) -> None:
    """Every heartbeat interval, re-queue or fail runs whose worker went silent, and move on
    sweeps whose trials ended without a worker to do it."""
    settings: Settings = app.state.settings
    while True:
        await asyncio.sleep(settings.heartbeat_interval_s)
        try:
            await run_in_threadpool(_sweep_once, app)
        except Exception:  # the next sweep retries; a sweeper that dies would strand runs
            log.exception("heartbeat sweep failed")


def _sweep_once(app: FastAPI) -> None:
    with UnitOfWork.open(app.state.database, app.state.settings, app.state.tasks) as uow:
        for run_id, status in sweep_stale_runs(uow=uow):
            log.warning("run %s lost its worker (no heartbeat): now %s", run_id, status)
        for evaluation_id, status in sweep_stale_evaluations(uow=uow):
            log.warning("evaluation %s lost its worker (no heartbeat): now %s", evaluation_id, status)
        # Here, not in the worker's heartbeat: that process forks a child per run, and Optuna
        # in one of its threads (lazy imports, engines) at the moment of a fork hung the child.
        for sweep_id in advance_stalled_sweeps(uow=uow):
            log.info("sweep %s had fewer trials in flight than it should: advanced", sweep_id)


def _add_error_handlers(app: FastAPI) -> None:
    """JSON for API clients; the dashboard's error page for a browser's navigation (`wants_html`)."""

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> Response:
        status = status_of(exc)
        headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, TooManyAttempts) else None
        if wants_html(request):
            return error_page(request, exc, headers)
        if isinstance(exc, InvalidInput):
            detail = [{"loc": list(e.loc), "msg": e.msg, "type": e.type} for e in exc.errors]
            return JSONResponse({"detail": detail}, status_code=status)
        return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        # The same body as InvalidInput's; FastAPI's default would echo the whole input back.
        detail = [
            {"loc": list(e["loc"]), "msg": field_message(e), "type": e["type"]}
            for e in exc.errors()
        ]
        if wants_html(request):
            messages = [f"{'.'.join(map(str, d['loc'][1:])) or d['loc'][0]}: {d['msg']}" for d in detail]
            return status_page(request, 422, [f"{request.url.path} cannot be shown.", *messages])
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # Unknown URLs (404) and wrong methods (405) end here; FastAPI's default body otherwise.
        if wants_html(request):
            message = f"There is no page at {request.url.path}." if exc.status_code == 404 else str(exc.detail)
            return status_page(request, exc.status_code, [message], headers=exc.headers)
        return await http_exception_handler(request, exc)
