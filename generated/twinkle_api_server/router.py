# Generated from openapi.yaml by `python -m codegen`. Do not edit by hand.
"""Build the FastAPI router of the Twinkle API from a `TwinkleService` implementation.

Paths, methods, operationIds, tags, status codes, response models, documented error
responses (all with `models.ErrorResponse`) and bearer security come from openapi.yaml.

Per request the router: resolves bearer credentials with `HTTPBearer(auto_error=False)` and
calls `service.authenticate(request, token)` on secured operations (its result becomes
`ctx.principal`); validates path, query, header and body parameters (422 on failure, raised
as FastAPI's `RequestValidationError`); calls the service method; answers a raised
`OperationNotImplemented` with 501 in the error schema; sends `Accepted(task)` as 202 with
the Task body; passes any `fastapi.Response` through unchanged; otherwise validates the
result against the success model and sends it with the success status.
"""

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from . import models
from .service import Accepted, OperationNotImplemented, RequestContext, TwinkleService

__all__ = ["SECURITY_SCHEME", "build_router", "error_response"]

SECURITY_SCHEME = "bearerAuth"
_bearer = HTTPBearer(scheme_name=SECURITY_SCHEME, auto_error=False)


def error_response(
    status_code: int,
    code: str,
    message: str,
    request_id: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A JSON response in the one error schema of the API (`models.ErrorResponse`)."""
    body = models.ErrorResponse(
        error=models.ErrorBody(code=code, message=message, details=details or {}, request_id=request_id)
    )
    all_headers = {"X-Request-Id": request_id, **(headers or {})}
    return JSONResponse(status_code=status_code, content=body.model_dump(mode="json"), headers=all_headers)


def _principal_dependency(service: TwinkleService) -> Callable[..., Awaitable[Any]]:
    async def principal(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Any:
        token = credentials.credentials if credentials is not None else None
        result = service.authenticate(request, token)
        if inspect.isawaitable(result):
            result = await result
        return result

    return principal


async def _no_principal() -> None:
    return None


async def _invoke(ctx: RequestContext, operation_id: str, call: Callable[[], Awaitable[Any]]) -> Any:
    try:
        result = await call()
    except OperationNotImplemented:
        return error_response(
            501,
            "not_implemented",
            f"The operation '{operation_id}' is not implemented by this server.",
            ctx.request_id,
            {"operation_id": operation_id},
        )
    if isinstance(result, Accepted):
        task = models.Task.model_validate(result.task)
        return JSONResponse(
            status_code=202,
            content=task.model_dump(mode="json", exclude_unset=True),
            headers={"X-Request-Id": ctx.request_id},
        )
    return result


def _empty(result: Any, status_code: int) -> Response:
    return result if isinstance(result, Response) else Response(status_code=status_code)


def build_router(service: TwinkleService) -> APIRouter:
    """An APIRouter serving every operation of openapi.yaml with `service`."""
    if not isinstance(service, TwinkleService):
        raise TypeError(f"build_router needs a TwinkleService, got {type(service).__name__}")
    router = APIRouter()
    secured = Depends(_principal_dependency(service))
    open_ = Depends(_no_principal)

    @router.get(
        "/healthz",
        operation_id="healthz",
        tags=["service"],
        summary="Liveness check.",
        description="Answers while the HTTP server is up; needs no credentials.",
        status_code=200,
        response_model=models.Health,
        response_model_exclude_unset=True,
        response_description="The server is up.",
        responses={
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def healthz(
        *,
        request: Request,
        principal: Any = open_,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "healthz",
            lambda: service.healthz(
                ctx,
            ),
        )
        return result

    @router.get(
        "/api/v1/capabilities",
        operation_id="get_server_capabilities",
        tags=["service"],
        summary="Models served, supported components and limits.",
        description="Lists the base models this server serves with their limits, and the names of the losses, optimizers, schedulers, templates, processors, preprocessors and metrics it accepts. Clients use it to check a configuration before creating a run.",
        status_code=200,
        response_model=models.ServerCapabilities,
        response_model_exclude_unset=True,
        response_description="The server's capabilities.",
        responses={
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def get_server_capabilities(
        *,
        request: Request,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "get_server_capabilities",
            lambda: service.get_server_capabilities(
                ctx,
            ),
        )
        return result

    @router.get(
        "/api/v1/capacity",
        operation_id="get_capacity",
        tags=["service"],
        summary="Adapter slots per served model.",
        description="For each served model, how many LoRA adapters it can hold, how many are in use and how many are free. create_training_run answers 429 when a model is full.",
        status_code=200,
        response_model=models.Capacity,
        response_model_exclude_unset=True,
        response_description="Used and free adapter slots per model.",
        responses={
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def get_capacity(
        *,
        request: Request,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "get_capacity",
            lambda: service.get_capacity(
                ctx,
            ),
        )
        return result

    @router.post(
        "/api/v1/sessions",
        operation_id="create_session",
        tags=["sessions"],
        summary="Open a session.",
        description="A session must be kept alive with heartbeats; when it expires or closes, its adapters are freed.",
        status_code=201,
        response_model=models.Session,
        response_model_exclude_unset=True,
        response_description="The new session.",
        responses={
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def create_session(
        *,
        request: Request,
        body: Annotated[models.CreateSessionRequest | None, Body()] = None,
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "create_session",
            lambda: service.create_session(
                ctx,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.post(
        "/api/v1/sessions/{session_id}/heartbeat",
        operation_id="session_heartbeat",
        tags=["sessions"],
        summary="Keep a session alive.",
        description="Extends the session's expiry; send one at least every heartbeat_interval_s seconds.",
        status_code=200,
        response_model=models.Session,
        response_model_exclude_unset=True,
        response_description="The session with its new expiry.",
        responses={
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def session_heartbeat(
        *,
        request: Request,
        session_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        body: Annotated[models.EmptyRequest | None, Body()] = None,
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "session_heartbeat",
            lambda: service.session_heartbeat(
                ctx,
                session_id=session_id,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.post(
        "/api/v1/sessions/{session_id}/close",
        operation_id="close_session",
        tags=["sessions"],
        summary="Close a session and free its adapters.",
        description="Releases every training run of the session and frees their adapter slots; checkpoints are kept.",
        status_code=200,
        response_model=models.Session,
        response_model_exclude_unset=True,
        response_description="The closed session.",
        responses={
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def close_session(
        *,
        request: Request,
        session_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        body: Annotated[models.EmptyRequest | None, Body()] = None,
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "close_session",
            lambda: service.close_session(
                ctx,
                session_id=session_id,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.get(
        "/api/v1/training_runs",
        operation_id="list_training_runs",
        tags=["training_runs"],
        summary="List the caller's training runs, newest first.",
        description="Runs of the caller only, newest first, with their last checkpoint.",
        status_code=200,
        response_model=models.TrainingRunList,
        response_model_exclude_unset=True,
        response_description="One page of training runs.",
        responses={
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def list_training_runs(
        *,
        request: Request,
        limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 20,
        offset: Annotated[int, Query(ge=0, description="Items to skip.")] = 0,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "list_training_runs",
            lambda: service.list_training_runs(
                ctx,
                limit=limit,
                offset=offset,
            ),
        )
        return result

    @router.post(
        "/api/v1/training_runs",
        operation_id="create_training_run",
        tags=["training_runs"],
        summary="Add a LoRA adapter to a served base model.",
        description="The run belongs to the session; closing the session releases it.",
        status_code=201,
        response_model=models.TrainingRun,
        response_model_exclude_unset=True,
        response_description="The new training run.",
        responses={
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def create_training_run(
        *,
        request: Request,
        body: Annotated[models.CreateTrainingRunRequest, Body()],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "create_training_run",
            lambda: service.create_training_run(
                ctx,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.get(
        "/api/v1/training_runs/{run_id}",
        operation_id="get_training_run",
        tags=["training_runs"],
        summary="One training run.",
        description="Another user's run answers 404, exactly like a missing one.",
        status_code=200,
        response_model=models.TrainingRun,
        response_model_exclude_unset=True,
        response_description="The training run.",
        responses={
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def get_training_run(
        *,
        request: Request,
        run_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "get_training_run",
            lambda: service.get_training_run(
                ctx,
                run_id=run_id,
            ),
        )
        return result

    @router.post(
        "/api/v1/training_runs/{run_id}/set_template",
        operation_id="set_template",
        tags=["run_config"],
        summary="Choose the chat template used to encode `messages` rows.",
        description="Rows sent as chat `messages` are encoded with this template and the run's tokenizer (or `model_id`'s).",
        status_code=200,
        response_model=models.TrainConfigs,
        response_model_exclude_unset=True,
        response_description="The run's configuration after the change.",
        responses={
            202: {
                "model": models.Task,
                "description": "Not finished within the wait window; poll the task with get_task.",
            },
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def set_template(
        *,
        request: Request,
        run_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        body: Annotated[models.SetTemplateRequest, Body()],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "set_template",
            lambda: service.set_template(
                ctx,
                run_id=run_id,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.post(
        "/api/v1/training_runs/{run_id}/set_processor",
        operation_id="set_processor",
        tags=["run_config"],
        summary="Choose the input processor that collates rows into a batch.",
        description="The processor pads and collates encoded rows into the tensors of one micro-batch.",
        status_code=200,
        response_model=models.TrainConfigs,
        response_model_exclude_unset=True,
        response_description="The run's configuration after the change.",
        responses={
            202: {
                "model": models.Task,
                "description": "Not finished within the wait window; poll the task with get_task.",
            },
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def set_processor(
        *,
        request: Request,
        run_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        body: Annotated[models.SetProcessorRequest, Body()],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "set_processor",
            lambda: service.set_processor(
                ctx,
                run_id=run_id,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.post(
        "/api/v1/training_runs/{run_id}/set_loss",
        operation_id="set_loss",
        tags=["run_config"],
        summary="Choose the loss function.",
        description="The loss is computed on the logits against labels that are already shifted.",
        status_code=200,
        response_model=models.TrainConfigs,
        response_model_exclude_unset=True,
        response_description="The run's configuration after the change.",
        responses={
            202: {
                "model": models.Task,
                "description": "Not finished within the wait window; poll the task with get_task.",
            },
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def set_loss(
        *,
        request: Request,
        run_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        body: Annotated[models.SetLossRequest, Body()],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "set_loss",
            lambda: service.set_loss(
                ctx,
                run_id=run_id,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.post(
        "/api/v1/training_runs/{run_id}/set_optimizer",
        operation_id="set_optimizer",
        tags=["run_config"],
        summary="Choose the optimizer and its hyperparameters.",
        description="Replaces the optimizer of the run's adapter; its state starts empty.",
        status_code=200,
        response_model=models.TrainConfigs,
        response_model_exclude_unset=True,
        response_description="The run's configuration after the change.",
        responses={
            202: {
                "model": models.Task,
                "description": "Not finished within the wait window; poll the task with get_task.",
            },
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def set_optimizer(
        *,
        request: Request,
        run_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        body: Annotated[models.SetOptimizerRequest, Body()],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "set_optimizer",
            lambda: service.set_optimizer(
                ctx,
                run_id=run_id,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.post(
        "/api/v1/training_runs/{run_id}/set_lr_scheduler",
        operation_id="set_lr_scheduler",
        tags=["run_config"],
        summary="Choose the learning-rate scheduler.",
        description="Replaces the learning-rate scheduler; it steps on lr_step at accumulation boundaries.",
        status_code=200,
        response_model=models.TrainConfigs,
        response_model_exclude_unset=True,
        response_description="The run's configuration after the change.",
        responses={
            202: {
                "model": models.Task,
                "description": "Not finished within the wait window; poll the task with get_task.",
            },
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def set_lr_scheduler(
        *,
        request: Request,
        run_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        body: Annotated[models.SetLrSchedulerRequest, Body()],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "set_lr_scheduler",
            lambda: service.set_lr_scheduler(
                ctx,
                run_id=run_id,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.post(
        "/api/v1/training_runs/{run_id}/add_metric",
        operation_id="add_metric",
        tags=["run_config"],
        summary="Track one more metric in calculate_metric.",
        description="Adds a metric to those reported by calculate_metric.",
        status_code=200,
        response_model=models.TrainConfigs,
        response_model_exclude_unset=True,
        response_description="The run's configuration after the change.",
        responses={
            202: {
                "model": models.Task,
                "description": "Not finished within the wait window; poll the task with get_task.",
            },
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def add_metric(
        *,
        request: Request,
        run_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        body: Annotated[models.AddMetricRequest, Body()],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "add_metric",
            lambda: service.add_metric(
                ctx,
                run_id=run_id,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.get(
        "/api/v1/training_runs/{run_id}/train_configs",
        operation_id="get_train_configs",
        tags=["run_compute"],
        summary="The run's current configuration and counters.",
        description="What set_* configured so far, with the micro-step and optimizer-step counters.",
        status_code=200,
        response_model=models.TrainConfigs,
        response_model_exclude_unset=True,
        response_description="The run's configuration.",
        responses={
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def get_train_configs(
        *,
        request: Request,
        run_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "get_train_configs",
            lambda: service.get_train_configs(
                ctx,
                run_id=run_id,
            ),
        )
        return result

    @router.post(
        "/api/v1/training_runs/{run_id}/forward",
        operation_id="forward",
        tags=["run_compute"],
        summary="Forward pass with the loss, keeping activations for a later backward.",
        description="Computes the loss of the batch with gradients enabled and keeps the graph for backward. Operations of one run execute in the order they were sent.",
        status_code=200,
        response_model=models.ForwardResult,
        response_model_exclude_unset=True,
        response_description="The loss of the batch.",
        responses={
            202: {
                "model": models.Task,
                "description": "Not finished within the wait window; poll the task with get_task.",
            },
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def forward(
        *,
        request: Request,
        run_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        body: Annotated[models.ForwardRequest, Body()],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "forward",
            lambda: service.forward(
                ctx,
                run_id=run_id,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.post(
        "/api/v1/training_runs/{run_id}/forward_only",
        operation_id="forward_only",
        tags=["run_compute"],
        summary="Forward pass without gradients (evaluation).",
        description="Computes the loss of the batch without gradients and without changing any state.",
        status_code=200,
        response_model=models.ForwardResult,
        response_model_exclude_unset=True,
        response_description="The loss of the batch.",
        responses={
            202: {
                "model": models.Task,
                "description": "Not finished within the wait window; poll the task with get_task.",
            },
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def forward_only(
        *,
        request: Request,
        run_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        body: Annotated[models.ForwardRequest, Body()],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "forward_only",
            lambda: service.forward_only(
                ctx,
                run_id=run_id,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.post(
        "/api/v1/training_runs/{run_id}/sample",
        operation_id="sample",
        tags=["run_compute"],
        summary="Sample continuations from the run's current adapter.",
        description="Draws `num_samples` continuations of each prompt with the run's adapter exactly as it is now (after every update so far). Requests of several runs on the same base model are decoded together in one batch, each row through its own run's adapter. The same `seed` gives the same tokens; `temperature` 0 gives the argmax continuation. A sampled token's log-probability is under the model's own distribution (temperature 1, no truncation).",
        status_code=200,
        response_model=models.SampleResult,
        response_model_exclude_unset=True,
        response_description="The sampled sequences, prompt-major (all samples of the first prompt first).",
        responses={
            202: {
                "model": models.Task,
                "description": "Not finished within the wait window; poll the task with get_task.",
            },
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def sample(
        *,
        request: Request,
        run_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        body: Annotated[models.SampleRequest, Body()],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "sample",
            lambda: service.sample(
                ctx,
                run_id=run_id,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.post(
        "/api/v1/sample",
        operation_id="sample_model",
        tags=["sampling"],
        summary="Sample from one of your checkpoints, one of your runs' current adapters, or the base model.",
        description="The sampler's operation: draws continuations from the weights named by `model_path` (a checkpoint of yours, `twinkle://<run_id>/weights/<name>`; another user's answers 404), or by `training_run_id` (that run's adapter as it is now, after the run's earlier requests), or from `base_model` alone (no adapter). A checkpoint is loaded once as a frozen adapter beside the runs' adapters (it takes no run slot) and kept while it is used. Requests of every kind on one base model decode together in one batch, each row through its own weights. Sampling parameters are those of `sample`.",
        status_code=200,
        response_model=models.SampleResult,
        response_model_exclude_unset=True,
        response_description="The sampled sequences, prompt-major (all samples of the first prompt first).",
        responses={
            202: {
                "model": models.Task,
                "description": "Not finished within the wait window; poll the task with get_task.",
            },
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def sample_model(
        *,
        request: Request,
        body: Annotated[models.ModelSampleRequest, Body()],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "sample_model",
            lambda: service.sample_model(
                ctx,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.post(
        "/api/v1/sample_stream",
        operation_id="sample_stream",
        tags=["sampling"],
        summary="Stream the tokens of one continuation of one prompt as they are decoded.",
        description='The body is that of `sample_model`, with exactly one prompt and `num_samples` 1. The answer is `text/event-stream` (server-sent events): a `token` event per decoded token, whose data is `{"token": <id>, "logprob": <number or null>}` (the logprob when `logprobs` was asked), then one `done` event whose data is the whole `SampleResult`, as `sample_model` would have answered it (the same seed gives the same tokens). An error after the stream has started comes as an `error` event whose data is the error body; errors found before it starts answer with their status as usual. A stream is not replayed: send no Idempotency-Key, or expect a retry to sample again.',
        status_code=200,
        response_model=None,
        response_class=Response,
        response_description='Server-sent events: `event: token` lines with `{"token", "logprob"}` data, then `event: done` with the SampleResult (or `event: error` with the error body).',
        responses={
            200: {
                "description": 'Server-sent events: `event: token` lines with `{"token", "logprob"}` data, then `event: done` with the SampleResult (or `event: error` with the error body).',
                "content": {"text/event-stream": {"schema": {"type": "string", "format": "binary"}}},
            },
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def sample_stream(
        *,
        request: Request,
        body: Annotated[models.ModelSampleRequest, Body()],
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "sample_stream",
            lambda: service.sample_stream(
                ctx,
                body=body,
            ),
        )
        return result

    @router.post(
        "/api/v1/training_runs/{run_id}/calculate_loss",
        operation_id="calculate_loss",
        tags=["run_compute"],
        summary="The loss of the last forward pass.",
        description="Returns the loss of the most recent forward pass.",
        status_code=200,
        response_model=models.LossResult,
        response_model_exclude_unset=True,
        response_description="The loss.",
        responses={
            202: {
                "model": models.Task,
                "description": "Not finished within the wait window; poll the task with get_task.",
            },
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def calculate_loss(
        *,
        request: Request,
        run_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        body: Annotated[models.EmptyRequest | None, Body()] = None,
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "calculate_loss",
            lambda: service.calculate_loss(
                ctx,
                run_id=run_id,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.post(
        "/api/v1/training_runs/{run_id}/backward",
        operation_id="backward",
        tags=["run_compute"],
        summary="Backward pass of the last forward, accumulating gradients.",
        description="Backpropagates the most recent forward pass and counts one micro-batch.",
        status_code=200,
        response_model=models.BackwardResult,
        response_model_exclude_unset=True,
        response_description="The accumulation counters.",
        responses={
            202: {
                "model": models.Task,
                "description": "Not finished within the wait window; poll the task with get_task.",
            },
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def backward(
        *,
        request: Request,
        run_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        body: Annotated[models.EmptyRequest | None, Body()] = None,
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "backward",
            lambda: service.backward(
                ctx,
                run_id=run_id,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.post(
        "/api/v1/training_runs/{run_id}/forward_backward",
        operation_id="forward_backward",
        tags=["run_compute"],
        summary="Forward and backward in one call, accumulating gradients.",
        description="forward and backward in one call: the usual step of a training loop.",
        status_code=200,
        response_model=models.ForwardBackwardResult,
        response_model_exclude_unset=True,
        response_description="The loss and the accumulation counters.",
        responses={
            202: {
                "model": models.Task,
                "description": "Not finished within the wait window; poll the task with get_task.",
            },
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def forward_backward(
        *,
        request: Request,
        run_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        body: Annotated[models.ForwardRequest, Body()],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "forward_backward",
            lambda: service.forward_backward(
                ctx,
                run_id=run_id,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.post(
        "/api/v1/training_runs/{run_id}/clip_grad_norm",
        operation_id="clip_grad_norm",
        tags=["run_compute"],
        summary="Clip the accumulated gradients at an accumulation boundary.",
        description="Takes effect on every Nth micro-batch (N = gradient_accumulation_steps), after gradients are divided by the window's label-token count; elsewhere it answers applied=false.",
        status_code=200,
        response_model=models.ClipGradNormResult,
        response_model_exclude_unset=True,
        response_description="The gradient norm before clipping.",
        responses={
            202: {
                "model": models.Task,
                "description": "Not finished within the wait window; poll the task with get_task.",
            },
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def clip_grad_norm(
        *,
        request: Request,
        run_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        body: Annotated[models.ClipGradNormRequest, Body()],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "clip_grad_norm",
            lambda: service.clip_grad_norm(
                ctx,
                run_id=run_id,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.post(
        "/api/v1/training_runs/{run_id}/step",
        operation_id="step",
        tags=["run_compute"],
        summary="Optimizer step at an accumulation boundary.",
        description="Applies the optimizer on every Nth micro-batch (N = gradient_accumulation_steps); elsewhere it answers applied=false and changes nothing.",
        status_code=200,
        response_model=models.StepResult,
        response_model_exclude_unset=True,
        response_description="Whether the step was applied.",
        responses={
            202: {
                "model": models.Task,
                "description": "Not finished within the wait window; poll the task with get_task.",
            },
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def step(
        *,
        request: Request,
        run_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        body: Annotated[models.EmptyRequest | None, Body()] = None,
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "step",
            lambda: service.step(
                ctx,
                run_id=run_id,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.post(
        "/api/v1/training_runs/{run_id}/zero_grad",
        operation_id="zero_grad",
        tags=["run_compute"],
        summary="Zero the gradients at an accumulation boundary.",
        description="Clears the gradients at an accumulation boundary; elsewhere it answers applied=false.",
        status_code=200,
        response_model=models.AppliedResult,
        response_model_exclude_unset=True,
        response_description="Whether the gradients were zeroed.",
        responses={
            202: {
                "model": models.Task,
                "description": "Not finished within the wait window; poll the task with get_task.",
            },
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def zero_grad(
        *,
        request: Request,
        run_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        body: Annotated[models.EmptyRequest | None, Body()] = None,
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "zero_grad",
            lambda: service.zero_grad(
                ctx,
                run_id=run_id,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.post(
        "/api/v1/training_runs/{run_id}/lr_step",
        operation_id="lr_step",
        tags=["run_compute"],
        summary="Scheduler step at an accumulation boundary.",
        description="Advances the scheduler at an accumulation boundary; elsewhere it answers applied=false.",
        status_code=200,
        response_model=models.LrStepResult,
        response_model_exclude_unset=True,
        response_description="The learning rate after the step.",
        responses={
            202: {
                "model": models.Task,
                "description": "Not finished within the wait window; poll the task with get_task.",
            },
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def lr_step(
        *,
        request: Request,
        run_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        body: Annotated[models.EmptyRequest | None, Body()] = None,
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "lr_step",
            lambda: service.lr_step(
                ctx,
                run_id=run_id,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.post(
        "/api/v1/training_runs/{run_id}/clip_grad_and_step",
        operation_id="clip_grad_and_step",
        tags=["run_compute"],
        summary="clip_grad_norm followed by step, in one call.",
        description="Saves a round trip in the common loop; same boundary rules as its two parts.",
        status_code=200,
        response_model=models.ClipGradAndStepResult,
        response_model_exclude_unset=True,
        response_description="The gradient norm and the step outcome.",
        responses={
            202: {
                "model": models.Task,
                "description": "Not finished within the wait window; poll the task with get_task.",
            },
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def clip_grad_and_step(
        *,
        request: Request,
        run_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        body: Annotated[models.ClipGradNormRequest, Body()],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "clip_grad_and_step",
            lambda: service.clip_grad_and_step(
                ctx,
                run_id=run_id,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.post(
        "/api/v1/training_runs/{run_id}/calls",
        operation_id="run_calls",
        tags=["run_compute"],
        summary="Several training-loop calls of the run, applied in order, in one request.",
        description="Each call is what its own operation does (`op` names it, `body` is that operation's request body), applied in the order given and after the run's earlier requests. The calls stop at the first one that fails: it is reported `failed` with its error and the status its own operation would have answered, the ones after it `skipped` (not applied). The answer is 200 with every call's outcome even then; a body that is not valid for its operation, or a batch over the request limits (the rows of all its calls count together), is refused as a whole before anything is applied. The Python client sends the calls whose answers a loop rarely reads (`clip_grad_norm`, `step`, `zero_grad`, `lr_step`) with its next call this way: one round trip per micro-batch instead of five.",
        status_code=200,
        response_model=models.RunCallsResult,
        response_model_exclude_unset=True,
        response_description="Each call's outcome, in the order sent.",
        responses={
            202: {
                "model": models.Task,
                "description": "Not finished within the wait window; poll the task with get_task.",
            },
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def run_calls(
        *,
        request: Request,
        run_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        body: Annotated[models.RunCallsRequest, Body()],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "run_calls",
            lambda: service.run_calls(
                ctx,
                run_id=run_id,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.post(
        "/api/v1/training_runs/{run_id}/calculate_metric",
        operation_id="calculate_metric",
        tags=["run_compute"],
        summary="The tracked metrics since the last call.",
        description="Aggregates the tracked metrics over the micro-batches since the previous call.",
        status_code=200,
        response_model=models.MetricResult,
        response_model_exclude_unset=True,
        response_description="Metric values by name.",
        responses={
            202: {
                "model": models.Task,
                "description": "Not finished within the wait window; poll the task with get_task.",
            },
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def calculate_metric(
        *,
        request: Request,
        run_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        body: Annotated[models.CalculateMetricRequest | None, Body()] = None,
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "calculate_metric",
            lambda: service.calculate_metric(
                ctx,
                run_id=run_id,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.get(
        "/api/v1/training_runs/{run_id}/checkpoints",
        operation_id="list_checkpoints",
        tags=["checkpoints"],
        summary="List a run's checkpoints, newest first.",
        description="Checkpoints of one run, newest first.",
        status_code=200,
        response_model=models.CheckpointList,
        response_model_exclude_unset=True,
        response_description="One page of checkpoints.",
        responses={
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def list_checkpoints(
        *,
        request: Request,
        run_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 20,
        offset: Annotated[int, Query(ge=0, description="Items to skip.")] = 0,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "list_checkpoints",
            lambda: service.list_checkpoints(
                ctx,
                run_id=run_id,
                limit=limit,
                offset=offset,
            ),
        )
        return result

    @router.post(
        "/api/v1/training_runs/{run_id}/checkpoints",
        operation_id="save_checkpoint",
        tags=["checkpoints"],
        summary="Save the adapter (and optionally the optimizer) under a name.",
        description="Writes the adapter in PEFT format (and the optimizer state when asked) and returns its twinkle:// path.",
        status_code=200,
        response_model=models.Checkpoint,
        response_model_exclude_unset=True,
        response_description="The saved checkpoint.",
        responses={
            202: {
                "model": models.Task,
                "description": "Not finished within the wait window; poll the task with get_task.",
            },
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def save_checkpoint(
        *,
        request: Request,
        run_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        body: Annotated[models.SaveCheckpointRequest, Body()],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "save_checkpoint",
            lambda: service.save_checkpoint(
                ctx,
                run_id=run_id,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.post(
        "/api/v1/training_runs/{run_id}/load",
        operation_id="load_checkpoint",
        tags=["checkpoints"],
        summary="Load a checkpoint into the run's adapter (and optionally its optimizer).",
        description="Loads the adapter weights of one of the caller's checkpoints into this run, and the optimizer state when asked for and saved.",
        status_code=200,
        response_model=models.TrainConfigs,
        response_model_exclude_unset=True,
        response_description="The run's configuration after the change.",
        responses={
            202: {
                "model": models.Task,
                "description": "Not finished within the wait window; poll the task with get_task.",
            },
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def load_checkpoint(
        *,
        request: Request,
        run_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        body: Annotated[models.LoadCheckpointRequest, Body()],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "load_checkpoint",
            lambda: service.load_checkpoint(
                ctx,
                run_id=run_id,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.get(
        "/api/v1/training_runs/{run_id}/checkpoints/{checkpoint_id}",
        operation_id="get_checkpoint_path",
        tags=["checkpoints"],
        summary="One checkpoint, by id or by name.",
        description="Accepts the `ckpt_...` id or the checkpoint's name; the answer carries the twinkle:// path to load.",
        status_code=200,
        response_model=models.Checkpoint,
        response_model_exclude_unset=True,
        response_description="The checkpoint with its twinkle:// path.",
        responses={
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def get_checkpoint_path(
        *,
        request: Request,
        run_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        checkpoint_id: Annotated[
            str,
            Path(
                min_length=1,
                max_length=128,
                pattern="^[A-Za-z0-9_-](?:[A-Za-z0-9_-]|\\.[A-Za-z0-9_-])*\\.?$",
                description="The checkpoint's `ckpt_...` id or its name.",
            ),
        ],
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "get_checkpoint_path",
            lambda: service.get_checkpoint_path(
                ctx,
                run_id=run_id,
                checkpoint_id=checkpoint_id,
            ),
        )
        return result

    @router.delete(
        "/api/v1/training_runs/{run_id}/checkpoints/{checkpoint_id}",
        operation_id="delete_checkpoint",
        tags=["checkpoints"],
        summary="Delete a checkpoint and its files.",
        description="Removes the checkpoint's record and files.",
        status_code=204,
        response_model=None,
        response_class=Response,
        response_description="Deleted.",
        responses={
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def delete_checkpoint(
        *,
        request: Request,
        run_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        checkpoint_id: Annotated[
            str,
            Path(
                min_length=1,
                max_length=128,
                pattern="^[A-Za-z0-9_-](?:[A-Za-z0-9_-]|\\.[A-Za-z0-9_-])*\\.?$",
                description="The checkpoint's `ckpt_...` id or its name.",
            ),
        ],
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "delete_checkpoint",
            lambda: service.delete_checkpoint(
                ctx,
                run_id=run_id,
                checkpoint_id=checkpoint_id,
            ),
        )
        return _empty(result, 204)

    @router.get(
        "/api/v1/training_runs/{run_id}/checkpoints/{checkpoint_id}/weights_info",
        operation_id="get_weights_info",
        tags=["checkpoints"],
        summary="The tensors stored in a checkpoint.",
        description="Reads the stored safetensors header: tensor names, shapes and dtypes, without loading the weights.",
        status_code=200,
        response_model=models.WeightsInfo,
        response_model_exclude_unset=True,
        response_description="Tensor names, shapes and dtypes.",
        responses={
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def get_weights_info(
        *,
        request: Request,
        run_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        checkpoint_id: Annotated[
            str,
            Path(
                min_length=1,
                max_length=128,
                pattern="^[A-Za-z0-9_-](?:[A-Za-z0-9_-]|\\.[A-Za-z0-9_-])*\\.?$",
                description="The checkpoint's `ckpt_...` id or its name.",
            ),
        ],
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "get_weights_info",
            lambda: service.get_weights_info(
                ctx,
                run_id=run_id,
                checkpoint_id=checkpoint_id,
            ),
        )
        return result

    @router.get(
        "/api/v1/training_runs/{run_id}/checkpoints/{checkpoint_id}/archive",
        operation_id="download_checkpoint",
        tags=["checkpoints"],
        summary="Download the checkpoint as a tar.gz of its PEFT adapter folder.",
        description="Streams a tar.gz of the PEFT adapter folder, loadable with peft's PeftModel.from_pretrained after extraction.",
        status_code=200,
        response_model=None,
        response_class=Response,
        response_description="A gzip-compressed tar archive (adapter_config.json, adapter_model.safetensors).",
        responses={
            200: {
                "description": "A gzip-compressed tar archive (adapter_config.json, adapter_model.safetensors).",
                "content": {"application/gzip": {"schema": {"type": "string", "format": "binary"}}},
            },
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def download_checkpoint(
        *,
        request: Request,
        run_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        checkpoint_id: Annotated[
            str,
            Path(
                min_length=1,
                max_length=128,
                pattern="^[A-Za-z0-9_-](?:[A-Za-z0-9_-]|\\.[A-Za-z0-9_-])*\\.?$",
                description="The checkpoint's `ckpt_...` id or its name.",
            ),
        ],
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "download_checkpoint",
            lambda: service.download_checkpoint(
                ctx,
                run_id=run_id,
                checkpoint_id=checkpoint_id,
            ),
        )
        return result

    @router.post(
        "/api/v1/training_runs/{run_id}/checkpoints/{checkpoint_id}/upload",
        operation_id="upload_checkpoint_to_hub",
        tags=["checkpoints"],
        summary="Upload a checkpoint to a model hub in the background.",
        description="Queues an upload of the checkpoint's adapter (adapter_config.json, adapter weights and a README) to the hub and answers at once; get_upload_task reports progress. A hub repository belongs to the user who first published to it through this server; another user gets 403. The training state (optimizer, scheduler, gradients, random state) is published only with include_training_state, and only to a private repository.",
        status_code=202,
        response_model=models.UploadTask,
        response_model_exclude_unset=True,
        response_description="The upload was queued; poll get_upload_task.",
        responses={
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            403: {
                "model": models.ErrorResponse,
                "description": "The key is valid but may not do this (e.g. publish into another user's hub repository).",
            },
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def upload_checkpoint_to_hub(
        *,
        request: Request,
        run_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        checkpoint_id: Annotated[
            str,
            Path(
                min_length=1,
                max_length=128,
                pattern="^[A-Za-z0-9_-](?:[A-Za-z0-9_-]|\\.[A-Za-z0-9_-])*\\.?$",
                description="The checkpoint's `ckpt_...` id or its name.",
            ),
        ],
        body: Annotated[models.UploadCheckpointRequest, Body()],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "upload_checkpoint_to_hub",
            lambda: service.upload_checkpoint_to_hub(
                ctx,
                run_id=run_id,
                checkpoint_id=checkpoint_id,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.get(
        "/api/v1/uploads/{upload_id}",
        operation_id="get_upload_task",
        tags=["checkpoints"],
        summary="The state of a hub upload.",
        description="Poll until status is succeeded (with url) or failed (with error).",
        status_code=200,
        response_model=models.UploadTask,
        response_model_exclude_unset=True,
        response_description="The upload task.",
        responses={
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def get_upload_task(
        *,
        request: Request,
        upload_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "get_upload_task",
            lambda: service.get_upload_task(
                ctx,
                upload_id=upload_id,
            ),
        )
        return result

    @router.post(
        "/api/v1/datasets",
        operation_id="create_dataset",
        tags=["data"],
        summary="Load a dataset on the server.",
        description="Answers 201 when the load finishes within the wait window, otherwise 202 with a Task.",
        status_code=201,
        response_model=models.DatasetInfo,
        response_model_exclude_unset=True,
        response_description="The loaded dataset.",
        responses={
            202: {
                "model": models.Task,
                "description": "Not finished within the wait window; poll the task with get_task.",
            },
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def create_dataset(
        *,
        request: Request,
        body: Annotated[models.CreateDatasetRequest, Body()],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "create_dataset",
            lambda: service.create_dataset(
                ctx,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.get(
        "/api/v1/datasets/{dataset_id}",
        operation_id="get_dataset",
        tags=["data"],
        summary="A dataset's length, columns and state.",
        description="Reports the current length and columns, whether it is encoded, and its template.",
        status_code=200,
        response_model=models.DatasetInfo,
        response_model_exclude_unset=True,
        response_description="The dataset.",
        responses={
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def get_dataset(
        *,
        request: Request,
        dataset_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "get_dataset",
            lambda: service.get_dataset(
                ctx,
                dataset_id=dataset_id,
            ),
        )
        return result

    @router.post(
        "/api/v1/datasets/{dataset_id}/template",
        operation_id="dataset_set_template",
        tags=["data"],
        summary="Choose the chat template used by encode.",
        description="Chooses the template and tokenizer used by a later encode.",
        status_code=200,
        response_model=models.DatasetInfo,
        response_model_exclude_unset=True,
        response_description="The dataset.",
        responses={
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def dataset_set_template(
        *,
        request: Request,
        dataset_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        body: Annotated[models.SetTemplateRequest, Body()],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "dataset_set_template",
            lambda: service.dataset_set_template(
                ctx,
                dataset_id=dataset_id,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.post(
        "/api/v1/datasets/{dataset_id}/map",
        operation_id="dataset_map",
        tags=["data"],
        summary="Apply a named preprocessor to every row.",
        description="Runs a server-side preprocessor (e.g. SelfCognitionProcessor) over every row; init_args are passed to its constructor.",
        status_code=200,
        response_model=models.DatasetInfo,
        response_model_exclude_unset=True,
        response_description="The dataset.",
        responses={
            202: {
                "model": models.Task,
                "description": "Not finished within the wait window; poll the task with get_task.",
            },
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def dataset_map(
        *,
        request: Request,
        dataset_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        body: Annotated[models.DatasetMapRequest, Body()],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "dataset_map",
            lambda: service.dataset_map(
                ctx,
                dataset_id=dataset_id,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.post(
        "/api/v1/datasets/{dataset_id}/filter",
        operation_id="dataset_filter",
        tags=["data"],
        summary="Keep the rows a named filter accepts.",
        description="Runs a server-side filter over every row and keeps the rows it accepts.",
        status_code=200,
        response_model=models.DatasetInfo,
        response_model_exclude_unset=True,
        response_description="The dataset.",
        responses={
            202: {
                "model": models.Task,
                "description": "Not finished within the wait window; poll the task with get_task.",
            },
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def dataset_filter(
        *,
        request: Request,
        dataset_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        body: Annotated[models.DatasetFilterRequest, Body()],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "dataset_filter",
            lambda: service.dataset_filter(
                ctx,
                dataset_id=dataset_id,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.post(
        "/api/v1/datasets/{dataset_id}/encode",
        operation_id="dataset_encode",
        tags=["data"],
        summary="Encode every row into token ids and shifted labels with the dataset's template.",
        description="Turns every row into input_ids, shifted labels (-100 where no loss), attention_mask, position_ids and length. Needs a template (dataset_set_template).",
        status_code=200,
        response_model=models.DatasetInfo,
        response_model_exclude_unset=True,
        response_description="The dataset.",
        responses={
            202: {
                "model": models.Task,
                "description": "Not finished within the wait window; poll the task with get_task.",
            },
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def dataset_encode(
        *,
        request: Request,
        dataset_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        body: Annotated[models.DatasetEncodeRequest | None, Body()] = None,
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "dataset_encode",
            lambda: service.dataset_encode(
                ctx,
                dataset_id=dataset_id,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.post(
        "/api/v1/datasets/{dataset_id}/add",
        operation_id="dataset_add",
        tags=["data"],
        summary="Load another dataset and keep it alongside this one for mix.",
        description="Loads another source into this dataset's list of parts; dataset_mix combines them.",
        status_code=200,
        response_model=models.DatasetInfo,
        response_model_exclude_unset=True,
        response_description="The dataset.",
        responses={
            202: {
                "model": models.Task,
                "description": "Not finished within the wait window; poll the task with get_task.",
            },
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def dataset_add(
        *,
        request: Request,
        dataset_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        body: Annotated[models.DatasetAddRequest, Body()],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "dataset_add",
            lambda: service.dataset_add(
                ctx,
                dataset_id=dataset_id,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.post(
        "/api/v1/datasets/{dataset_id}/mix",
        operation_id="dataset_mix",
        tags=["data"],
        summary="Combine the added datasets into one.",
        description="Interleaves (with optional probabilities and seed) or concatenates the parts added with dataset_add.",
        status_code=200,
        response_model=models.DatasetInfo,
        response_model_exclude_unset=True,
        response_description="The dataset.",
        responses={
            202: {
                "model": models.Task,
                "description": "Not finished within the wait window; poll the task with get_task.",
            },
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def dataset_mix(
        *,
        request: Request,
        dataset_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        body: Annotated[models.DatasetMixRequest | None, Body()] = None,
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "dataset_mix",
            lambda: service.dataset_mix(
                ctx,
                dataset_id=dataset_id,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.get(
        "/api/v1/datasets/{dataset_id}/rows/{index}",
        operation_id="get_dataset_row",
        tags=["data"],
        summary="One row of a dataset.",
        description="One row by zero-based index, as currently stored.",
        status_code=200,
        response_model=models.DatasetRow,
        response_model_exclude_unset=True,
        response_description="The row.",
        responses={
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def get_dataset_row(
        *,
        request: Request,
        dataset_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        index: Annotated[int, Path(ge=0, le=2147483647, description="Zero-based position.")],
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "get_dataset_row",
            lambda: service.get_dataset_row(
                ctx,
                dataset_id=dataset_id,
                index=index,
            ),
        )
        return result

    @router.post(
        "/api/v1/dataloaders",
        operation_id="create_dataloader",
        tags=["data"],
        summary="Batch a dataset; batches are then fetched by index.",
        description="Splits the dataset into batches over the given epochs. Batches are computed from (index, settings), so fetching one twice gives the same rows.",
        status_code=201,
        response_model=models.DataLoaderInfo,
        response_model_exclude_unset=True,
        response_description="The new dataloader.",
        responses={
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def create_dataloader(
        *,
        request: Request,
        body: Annotated[models.CreateDataLoaderRequest, Body()],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "create_dataloader",
            lambda: service.create_dataloader(
                ctx,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.get(
        "/api/v1/dataloaders/{dataloader_id}/batches/{index}",
        operation_id="get_dataloader_batch",
        tags=["data"],
        summary="One batch by index; a pure function of the index and the dataloader's settings.",
        description="Retry-safe: the same index always gives the same rows.",
        status_code=200,
        response_model=models.Batch,
        response_model_exclude_unset=True,
        response_description="The batch.",
        responses={
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def get_dataloader_batch(
        *,
        request: Request,
        dataloader_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        index: Annotated[int, Path(ge=0, le=2147483647, description="Zero-based position.")],
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "get_dataloader_batch",
            lambda: service.get_dataloader_batch(
                ctx,
                dataloader_id=dataloader_id,
                index=index,
            ),
        )
        return result

    @router.get(
        "/api/v1/dataloaders/{dataloader_id}/state",
        operation_id="get_dataloader_state",
        tags=["data"],
        summary="How far the dataloader has been consumed.",
        description="The resume point recorded with set_dataloader_state.",
        status_code=200,
        response_model=models.DataLoaderState,
        response_model_exclude_unset=True,
        response_description="The dataloader's progress.",
        responses={
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def get_dataloader_state(
        *,
        request: Request,
        dataloader_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "get_dataloader_state",
            lambda: service.get_dataloader_state(
                ctx,
                dataloader_id=dataloader_id,
            ),
        )
        return result

    @router.post(
        "/api/v1/dataloaders/{dataloader_id}/state",
        operation_id="set_dataloader_state",
        tags=["data"],
        summary="Record progress, or move the resume point.",
        description="Records how many batches were consumed, so a restarted client resumes from there.",
        status_code=200,
        response_model=models.DataLoaderState,
        response_model_exclude_unset=True,
        response_description="The dataloader's progress.",
        responses={
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            409: {
                "model": models.ErrorResponse,
                "description": "The resource's state forbids this, or the Idempotency-Key was used with another body.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def set_dataloader_state(
        *,
        request: Request,
        dataloader_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        body: Annotated[models.SetDataLoaderStateRequest, Body()],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern="^[!-~]+$",
                description="One key per logical call, reused across retries: a retry with the same key gets the first request's result and is applied once. Reusing a key with a different body answers 409. 1-255 visible ASCII characters (no spaces), e.g. a UUID; any other key answers 422.",
            ),
        ] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "set_dataloader_state",
            lambda: service.set_dataloader_state(
                ctx,
                dataloader_id=dataloader_id,
                body=body,
                idempotency_key=idempotency_key,
            ),
        )
        return result

    @router.get(
        "/api/v1/tasks/{task_id}",
        operation_id="get_task",
        tags=["tasks"],
        summary="A task's state; with `wait`, holds the request until it finishes or the wait ends.",
        description="Holds the request up to `wait` seconds while the task is pending or running. A finished task carries the operation's result (or error) and its HTTP status.",
        status_code=200,
        response_model=models.Task,
        response_model_exclude_unset=True,
        response_description="The task.",
        responses={
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def get_task(
        *,
        request: Request,
        task_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        wait: Annotated[
            float, Query(ge=0, le=60, description="Seconds to wait for the task to finish before answering.")
        ] = 0,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "get_task",
            lambda: service.get_task(
                ctx,
                task_id=task_id,
                wait=wait,
            ),
        )
        return result

    @router.get(
        "/api/v1/whoami",
        operation_id="whoami",
        tags=["account"],
        summary="The user the API key belongs to.",
        description="The caller's user id and name (an open server without keys answers its local user).",
        status_code=200,
        response_model=models.WhoAmI,
        response_model_exclude_unset=True,
        response_description="The caller.",
        responses={
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def whoami(
        *,
        request: Request,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "whoami",
            lambda: service.whoami(
                ctx,
            ),
        )
        return result

    @router.get(
        "/api/v1/training_runs/{run_id}/history",
        operation_id="get_run_history",
        tags=["history"],
        summary="One page of a run's training history, oldest first.",
        description="One point per optimizer step (`train`: loss over the accumulation window, label tokens, micro-batches, grad norm, learning rate, step time), per evaluation (`eval`: calculate_metric with is_training false, with the forward_only loss since the last one) and per training metric report (`train_metrics`). Kept with the run after its session ends. Another user's run answers 404, exactly like a missing one.",
        status_code=200,
        response_model=models.RunHistory,
        response_model_exclude_unset=True,
        response_description="One page of history points.",
        responses={
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def get_run_history(
        *,
        request: Request,
        run_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        limit: Annotated[int, Query(ge=1, le=1000, description="Page size.")] = 100,
        offset: Annotated[int, Query(ge=0, description="Items to skip.")] = 0,
        kind: Annotated[str | None, Query(description="Only points of this kind.")] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "get_run_history",
            lambda: service.get_run_history(
                ctx,
                run_id=run_id,
                limit=limit,
                offset=offset,
                kind=kind,
            ),
        )
        return result

    @router.get(
        "/api/v1/training_runs/{run_id}/history/csv",
        operation_id="export_run_history_csv",
        tags=["history"],
        summary="The whole training history of a run as a CSV file.",
        description="Every point, oldest first, as a download. Another user's run answers 404.",
        status_code=200,
        response_model=None,
        response_class=Response,
        response_description="CSV with a header row: seq, kind, step, loss, num_tokens, micro_batches, grad_norm, lr, step_time_s, tokens_per_s, recorded_at, then a `metric.<name>` column per metric.",
        responses={
            200: {
                "description": "CSV with a header row: seq, kind, step, loss, num_tokens, micro_batches, grad_norm, lr, step_time_s, tokens_per_s, recorded_at, then a `metric.<name>` column per metric.",
                "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}},
            },
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def export_run_history_csv(
        *,
        request: Request,
        run_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        kind: Annotated[str | None, Query(description="Only points of this kind.")] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "export_run_history_csv",
            lambda: service.export_run_history_csv(
                ctx,
                run_id=run_id,
                kind=kind,
            ),
        )
        return result

    @router.get(
        "/api/v1/training_runs/{run_id}/history/json",
        operation_id="export_run_history_json",
        tags=["history"],
        summary="The whole training history of a run as a JSON file.",
        description="Every point, oldest first, as a download. Another user's run answers 404.",
        status_code=200,
        response_model=models.HistoryExport,
        response_model_exclude_unset=True,
        response_description="Every history point of the run.",
        responses={
            400: {
                "model": models.ErrorResponse,
                "description": "The request is malformed or asks for something impossible.",
            },
            401: {"model": models.ErrorResponse, "description": "No API key, or an unknown one."},
            404: {
                "model": models.ErrorResponse,
                "description": "No such resource, or it belongs to another user.",
            },
            413: {
                "model": models.ErrorResponse,
                "description": "The request body exceeds the server's max_body_bytes.",
            },
            422: {
                "model": models.ErrorResponse,
                "description": "The request does not match the schema; details name the fields.",
            },
            429: {
                "model": models.ErrorResponse,
                "description": "The model's capacity, or one of the caller's quotas, is reached: `capacity_exceeded` (max_loras), `quota_exceeded` (adapters per user per model, operations at once per user) or `rate_limited` (the caller's request rate, a token bucket). Retry after Retry-After seconds; other users are not affected by one user's quota. A 429 without Retry-After is final: waiting cannot clear it (`quota_exceeded` for adapters per user per model, freed only when the caller closes a session or run), so clients must not retry it.",
            },
            500: {
                "model": models.ErrorResponse,
                "description": "A server bug; the body carries a request id, never a traceback.",
            },
            503: {
                "model": models.ErrorResponse,
                "description": "The server is overloaded or the model is not ready; retry after Retry-After seconds. Code `replica_lost`: the engine replica holding the training run died before the operation was acknowledged, so it did not take effect; send the same request again with the same Idempotency-Key (also when a 202 task failed with it: the retry runs the operation again instead of replaying the failure).",
            },
        },
    )
    async def export_run_history_json(
        *,
        request: Request,
        run_id: Annotated[str, Path(pattern="^[A-Za-z0-9_-]{1,128}$")],
        kind: Annotated[str | None, Query(description="Only points of this kind.")] = None,
        principal: Any = secured,
    ) -> Any:
        ctx = RequestContext.from_request(request, principal)
        result = await _invoke(
            ctx,
            "export_run_history_json",
            lambda: service.export_run_history_json(
                ctx,
                run_id=run_id,
                kind=kind,
            ),
        )
        return result

    return router
