"""A trivial TwinkleService and the app serving it, shared by the contract tests.

The service implements only a handful of operations with fixed, schema-valid answers, so the
tests exercise the generated router and client rather than any server logic.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastapi
import pytest
import uvicorn
import yaml
from fastapi.exceptions import RequestValidationError
from twinkle_api_server import Accepted, RequestContext, TwinkleService, build_router, error_response, models

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "contract-test-token"
CREATED = "2026-01-02T03:04:05Z"


class TrivialService(TwinkleService):
    """Accepts one fixed token; serves healthz, capacity, sessions, step and download."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    def authenticate(self, request: fastapi.Request, token: str | None) -> Any:
        if token != TOKEN:
            raise fastapi.HTTPException(status_code=401, detail="bad token")
        return {"user": "alice"}

    async def healthz(self, ctx: RequestContext) -> models.Health:
        return models.Health(status="ok", version="0.0-test")

    async def get_capacity(self, ctx: RequestContext) -> dict[str, Any]:
        self.seen.append(("get_capacity", ctx.principal))
        return {"models": [{"model_id": "tiny", "max_loras": 4, "used": 1, "free": 3}]}

    async def create_session(
        self, ctx: RequestContext, *, body: models.CreateSessionRequest | None, idempotency_key: str | None
    ) -> models.Session:
        self.seen.append(("create_session", idempotency_key))
        return models.Session(
            session_id="sess_1",
            status="active",
            created_at=CREATED,
            last_heartbeat_at=CREATED,
            expires_at=CREATED,
            heartbeat_interval_s=30.0,
            metadata=body.metadata if body and body.metadata else {},
        )

    async def step(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.EmptyRequest | None,
        idempotency_key: str | None,
    ) -> Accepted:
        task = {"task_id": "task_1", "status": "pending", "operation": "step", "created_at": CREATED}
        return Accepted({**task, "training_run_id": run_id})

    async def download_checkpoint(
        self, ctx: RequestContext, *, run_id: str, checkpoint_id: str
    ) -> fastapi.Response:
        return fastapi.Response(content=b"\x1f\x8b fake archive", media_type="application/gzip")


@pytest.fixture(scope="module")
def auth() -> dict[str, str]:
    """Headers the trivial service accepts."""
    return {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    with (ROOT / "openapi.yaml").open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="module")
def service() -> TrivialService:
    return TrivialService()


@pytest.fixture(scope="module")
def app(service: TrivialService) -> fastapi.FastAPI:
    application = fastapi.FastAPI(title="Twinkle API (contract test)")
    application.include_router(build_router(service))

    # The real app maps its own errors; these two keep every answer in the error schema here.
    @application.exception_handler(fastapi.HTTPException)
    async def http_error(request: fastapi.Request, exc: fastapi.HTTPException) -> fastapi.Response:
        request_id = RequestContext.from_request(request, None).request_id
        return error_response(exc.status_code, "unauthorized", str(exc.detail), request_id)

    @application.exception_handler(RequestValidationError)
    async def invalid(request: fastapi.Request, exc: RequestValidationError) -> fastapi.Response:
        request_id = RequestContext.from_request(request, None).request_id
        details = {"errors": [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]}
        return error_response(
            422, "invalid_input", "The request does not match the schema.", request_id, details
        )

    return application


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def base_url(app: fastapi.FastAPI) -> Iterator[str]:
    """The app served by uvicorn on a free local port, in a background thread."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
