"""TwinkleTransport over an in-process ASGI app, through Starlette's synchronous test transport.

This is the recipe the user classes' unit tests use against the real server app:
``TwinkleTransport(TestClient(app)._transport)``. The app here is a small stand-in that answers
like the server does (503 then 202 with a task, then the task by long poll), to pin that the
recipe carries retries, keys and polling.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from twinkle_client._http import TwinkleTransport, build_httpx_client, check  # noqa: E402
from twinkle_client.errors import NotFoundError  # noqa: E402


def make_app() -> tuple[Any, list[tuple[str, str | None]]]:
    app = fastapi.FastAPI()
    seen: list[tuple[str, str | None]] = []
    tasks: dict[str, dict[str, Any]] = {}

    @app.post("/api/v1/training_runs/{run_id}/step")
    def step(run_id: str, request: fastapi.Request) -> fastapi.responses.JSONResponse:
        key = request.headers.get("idempotency-key")
        seen.append(("step", key))
        if len(seen) == 1:
            return fastapi.responses.JSONResponse(
                {"error": {"code": "unavailable", "message": "model loading", "request_id": "r0"}},
                status_code=503,
                headers={"Retry-After": "1"},
            )
        tasks["task_9"] = {"task_id": "task_9", "status": "running", "operation": "step"}
        return fastapi.responses.JSONResponse(
            tasks["task_9"], status_code=202, headers={"X-Request-Id": "r1"}
        )

    @app.get("/api/v1/tasks/{task_id}")
    def get_task(task_id: str, wait: float = 0.0) -> fastapi.responses.JSONResponse:
        seen.append((f"poll wait={wait:g}", None))
        if task_id not in tasks:
            return fastapi.responses.JSONResponse(
                {"error": {"code": "not_found", "message": f"no task {task_id}", "request_id": "r2"}},
                status_code=404,
            )
        tasks[task_id] |= {"status": "succeeded", "result": {"applied": True, "optimizer_step": 1}}
        return fastapi.responses.JSONResponse(tasks[task_id])

    return app, seen


def test_in_process_app_through_the_transport() -> None:
    app, seen = make_app()
    sleeps: list[float] = []
    with TestClient(app) as test_client:
        client = build_httpx_client("http://testserver", "sk-1")
        client._transport = TwinkleTransport(test_client._transport, sleep=sleeps.append)
        response = check(client.post("/api/v1/training_runs/run_1/step", json={}))
        assert response.json() == {"applied": True, "optimizer_step": 1}
        assert response.headers["X-Request-Id"] == "r1"
        with pytest.raises(NotFoundError, match="no task task_x"):
            check(client.get("/api/v1/tasks/task_x"))
    assert sleeps == [1.0]
    assert [name for name, _ in seen] == ["step", "step", "poll wait=30", "poll wait=0"]
    assert seen[0][1] is not None and seen[0][1] == seen[1][1]


def test_generated_client_gets_the_final_answer_and_parses_errors() -> None:
    """The generated operations run on the transport unchanged: they see 200 or a schema error."""
    generated = pytest.importorskip("twinkle_api_client")
    from twinkle_api_client.api.run_compute import step
    from twinkle_api_client.models import ErrorResponse, StepResult

    replies = {
        "/api/v1/training_runs/run_1/step": [
            httpx.Response(502, text="<html>bad gateway</html>"),
            httpx.Response(202, json={"task_id": "task_3", "status": "running", "operation": "step"}),
        ],
        "/api/v1/tasks/task_3": [
            httpx.Response(
                200,
                json={
                    "task_id": "task_3",
                    "status": "succeeded",
                    "operation": "step",
                    "created_at": "2026-01-01T00:00:00Z",
                    "result": {"applied": True, "optimizer_step": 4, "lr": 0.001},
                },
            )
        ],
        "/api/v1/training_runs/run_2/step": [httpx.Response(404, text="<html>no such page</html>")],
    }
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return replies[request.url.path].pop(0)

    client = build_httpx_client("http://testserver", "sk-1")
    client._transport = TwinkleTransport(httpx.MockTransport(handler), sleep=lambda s: None)
    api = generated.AuthenticatedClient(base_url="http://testserver", token="sk-1").set_httpx_client(client)

    ok = check(step.sync_detailed("run_1", client=api))
    assert ok.status_code == 200
    assert isinstance(ok.parsed, StepResult)
    assert (ok.parsed.applied, ok.parsed.optimizer_step, ok.parsed.lr) == (True, 4, 0.001)
    assert seen[0].headers["Idempotency-Key"] == seen[1].headers["Idempotency-Key"]
    assert seen[0].headers["Authorization"] == "Bearer sk-1"

    missing = step.sync_detailed("run_2", client=api)
    assert isinstance(missing.parsed, ErrorResponse)  # the generated parser did not choke on HTML
    with pytest.raises(NotFoundError, match="no such page"):
        check(missing)
