"""The application factory: the generated router over the service, plus middleware and errors.

Layers of a request, outermost first::

    RequestIdMiddleware    X-Request-Id on every response (given by the client or made here)
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

from fastapi import Depends, FastAPI
from twinkle_api_server.router import build_router

import twinkle_server
from twinkle_server.api import TwinkleServer
from twinkle_server.api.body_shape import check_json_body
from twinkle_server.api.errors import install_error_handlers
from twinkle_server.api.middleware import BodyLimitMiddleware, RequestIdMiddleware
from twinkle_server.api.ordering import RunTicketMiddleware
from twinkle_server.config import Settings
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
    )
    app.state.runtime = runtime
    app.state.service = service
    app.include_router(build_router(service), dependencies=[Depends(check_json_body)])
    install_error_handlers(app)
    # add_middleware wraps: the last one added is the outermost.
    app.add_middleware(RunTicketMiddleware, sequencer=runtime.sequencer)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)
    return app
