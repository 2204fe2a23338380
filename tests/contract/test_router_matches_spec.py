"""The generated router serves exactly the operations of openapi.yaml, and answers 501 for the rest."""

from __future__ import annotations

from typing import Any

import fastapi
import pytest
from fastapi.testclient import TestClient
from twinkle_api_server import TwinkleService, build_router, models

METHODS = ("get", "post", "put", "patch", "delete")


def _operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (path, method): op
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }


def _ref_name(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref") or next((s["$ref"] for s in schema.get("anyOf", []) if "$ref" in s), None)
    return ref.rsplit("/", 1)[1] if ref else None


def _body_model(op: dict[str, Any]) -> str | None:
    if "requestBody" not in op:
        return None
    return _ref_name(op["requestBody"]["content"]["application/json"]["schema"])


def _response_model(response: dict[str, Any], spec: dict[str, Any]) -> str | None:
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    media = response.get("content", {}).get("application/json")
    return _ref_name(media["schema"]) if media else None


def test_served_document_matches_spec_operation_by_operation(
    app: fastapi.FastAPI, spec: dict[str, Any]
) -> None:
    served, wanted = _operations(app.openapi()), _operations(spec)
    assert sorted(served) == sorted(wanted)
    assert len(wanted) == 54
    for key, want in wanted.items():
        got = served[key]
        assert got["operationId"] == want["operationId"], key
        assert got["tags"] == want["tags"], key
        assert sorted(got["responses"]) == sorted(want["responses"]), key
        spec_secured = want.get("security", spec["security"]) != []
        assert bool(got.get("security")) == spec_secured, key
        if spec_secured:
            assert got["security"] == [{"bearerAuth": []}], key
        want_params = {(p.get("name"), p.get("in")) for p in want.get("parameters", []) if "name" in p}
        spec_refs = [p["$ref"].rsplit("/", 1)[1] for p in want.get("parameters", []) if "$ref" in p]
        resolved = {
            (spec["components"]["parameters"][r]["name"], spec["components"]["parameters"][r]["in"])
            for r in spec_refs
        }
        got_params = {(p["name"], p["in"]) for p in got.get("parameters", [])}
        assert got_params == want_params | resolved, key
        assert _body_model(got) == _body_model(want), key
        if "requestBody" in want:
            assert got["requestBody"].get("required", False) == want["requestBody"].get("required", False), (
                key
            )
        for status, response in want["responses"].items():
            assert _response_model(got["responses"][status], spec) == _response_model(response, spec), (
                key,
                status,
            )


def test_error_responses_use_the_error_schema(app: fastapi.FastAPI) -> None:
    for (path, method), op in _operations(app.openapi()).items():
        for status, resp in op["responses"].items():
            if int(status) >= 400:
                schema = resp["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (path, method, status)


def test_unimplemented_operation_answers_501_in_the_error_schema(
    app: fastapi.FastAPI, auth: dict[str, str]
) -> None:
    client = TestClient(app)
    body = {"inputs": [{"input_ids": [1, 2, 3], "labels": [2, 3, -100]}]}
    response = client.post("/api/v1/training_runs/run_1/forward_backward", json=body, headers=auth)
    assert response.status_code == 501
    error = models.ErrorResponse.model_validate(response.json()).error
    assert error.code == "not_implemented"
    assert "forward_backward" in error.message
    assert error.request_id == response.headers["X-Request-Id"]


def test_authenticate_guards_secured_operations_only(
    app: fastapi.FastAPI, service: Any, auth: dict[str, str]
) -> None:
    client = TestClient(app)
    assert client.get("/healthz").json() == {"status": "ok", "version": "0.0-test"}
    assert client.get("/api/v1/capacity").status_code == 401
    assert client.get("/api/v1/capacity", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = client.get("/api/v1/capacity", headers=auth)
    assert ok.status_code == 200
    assert ok.json()["models"][0]["free"] == 3
    assert service.seen[-1] == ("get_capacity", {"user": "alice"})


def test_bodies_reject_unknown_fields_and_bad_values(app: fastapi.FastAPI, auth: dict[str, str]) -> None:
    client = TestClient(app)
    url = "/api/v1/training_runs/run_1/forward"
    extra = client.post(url, json={"inputs": [{"input_ids": [1]}], "surprise": 1}, headers=auth)
    assert extra.status_code == 422
    assert (
        models.ErrorResponse.model_validate(extra.json()).error.details["errors"][0]["loc"][-1] == "surprise"
    )
    negative = client.post(url, json={"inputs": [{"input_ids": [-5]}]}, headers=auth)
    assert negative.status_code == 422
    bad_path = client.get("/api/v1/training_runs/run..1/checkpoints/a..b", headers=auth)
    assert bad_path.status_code == 422


def test_accepted_answers_202_with_the_task(app: fastapi.FastAPI, auth: dict[str, str]) -> None:
    client = TestClient(app)
    response = client.post("/api/v1/training_runs/run_9/step", headers={**auth, "Idempotency-Key": "k1"})
    assert response.status_code == 202
    task = models.Task.model_validate(response.json())
    assert (task.task_id, task.status, task.training_run_id) == ("task_1", "pending", "run_9")


def test_build_router_refuses_a_non_service() -> None:
    with pytest.raises(TypeError, match="TwinkleService"):
        build_router(object())  # type: ignore[arg-type]


def test_service_without_authenticate_cannot_be_instantiated() -> None:
    class Incomplete(TwinkleService):
        pass

    with pytest.raises(TypeError):
        Incomplete()  # type: ignore[abstract]
