"""The application factory: the generated router over the service, plus middleware and errors.

Layers of a request, outermost first::

    RequestIdMiddleware    X-Request-Id on every response (given by the client or made here)
    MetricsMiddleware      counts and times requests by operation (Prometheus), log request id
    BodyLimitMiddleware    413 for a body over max_body_bytes, before it is read whole
    RunTicketMiddleware    numbers a run's POSTs on arrival, so they reach the engine in order
    FastAPI                generated routes (auth, validation) -> TwinkleServer -> Runtime
                           errors of every kind -> the one error schema (api.errors)

The runtime (database, workers, sweeper) starts and stops with the app's lifespan.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from twinkle_api_server.router import build_router

import twinkle_server
from twinkle_server.api import TwinkleServer
from twinkle_server.api.body_shape import check_json_body
from twinkle_server.api.docs import install_docs
from twinkle_server.api.errors import install_error_handlers
from twinkle_server.api.middleware import BodyLimitMiddleware, RequestIdMiddleware
from twinkle_server.api.ordering import RunTicketMiddleware
from twinkle_server.api.versioning import ClientVersionMiddleware
from twinkle_server.config import Settings
from twinkle_server.dashboard import install_dashboard
from twinkle_server.observability import MetricsMiddleware, ServerMetrics, bearer_token, metrics_access
from twinkle_server.runtime import Runtime

__all__ = ["DEFAULT_THREADS", "create_app"]

DEFAULT_THREADS = 64


def create_app(settings: Settings, *, runtime: Runtime | None = None) -> FastAPI:
    """A ready-to-serve ASGI app for ``settings``.

    Args:
        settings: the validated server settings.
        runtime: an already opened runtime (tests pass one with their own workers); by default one
            is opened from ``settings``. It is started on app start-up and closed on shutdown.
    """
    runtime = runtime or Runtime.open(settings)
    service = TwinkleServer(runtime)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Handlers run blocking store calls in the loop's default executor; the stock size
        # (cpu count + 4) is too small for many clients waiting on a loading model at once.
        loop = asyncio.get_running_loop()
        loop.set_default_executor(
            ThreadPoolExecutor(max_workers=DEFAULT_THREADS, thread_name_prefix="twinkle-io")
        )
        await asyncio.to_thread(runtime.start)
        try:
            yield
        finally:
            service.close_data_work()
            await asyncio.to_thread(runtime.close)

    app = FastAPI(
        title="Twinkle API",
        version=twinkle_server.__version__,
        summary="Remote LoRA fine-tuning on a shared base model.",
        lifespan=lifespan,
        # The spec and its docs are served from openapi.yaml by install_docs, offline.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.state.service = service
    app.include_router(build_router(service), dependencies=[Depends(check_json_body)])
    install_error_handlers(app)
    install_docs(app)
    if settings.dashboard_enabled:
        install_dashboard(app, runtime)
    # add_middleware wraps: the last one added is the outermost.
    app.add_middleware(RunTicketMiddleware, sequencer=runtime.sequencer)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(ClientVersionMiddleware)
    if settings.metrics_enabled or settings.log_format == "json":
        metrics = ServerMetrics(runtime)
        service.metrics = metrics
        app.state.metrics = metrics
        _add_metrics_route(app, runtime, metrics, enabled=settings.metrics_enabled)
        access_log = settings.access_log and settings.log_format == "json"  # else uvicorn's own lines
        app.add_middleware(MetricsMiddleware, metrics=metrics, access_log=access_log)
    app.add_middleware(RequestIdMiddleware)
    return app


def _add_metrics_route(app: FastAPI, runtime: Runtime, metrics: ServerMetrics, *, enabled: bool) -> None:
    """``GET /metrics`` in Prometheus' text format, for operators (see ``metrics_access``)."""
    if not enabled:
        return
    from prometheus_client import CONTENT_TYPE_LATEST

    from twinkle_server.api.errors import error_body

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics(request: Request) -> Response:
        token = bearer_token(request.headers)
        client = request.client.host if request.client is not None else None
        refused = await asyncio.to_thread(metrics_access, runtime, client_host=client, token=token)
        if refused is not None:
            status, reason = refused
            code = "unauthorized" if status == 401 else "forbidden"
            body = error_body(code, reason, {}, request.scope.get("twinkle.request_id", ""))
            return JSONResponse(body, status_code=status)
        return Response(await asyncio.to_thread(metrics.render), media_type=CONTENT_TYPE_LATEST)
