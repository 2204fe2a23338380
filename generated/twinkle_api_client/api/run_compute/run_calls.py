from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_response import ErrorResponse
from ...models.run_calls_request import RunCallsRequest
from ...models.run_calls_result import RunCallsResult
from ...models.task import Task
from ...types import UNSET, Response, Unset


def _get_kwargs(
    run_id: str,
    *,
    body: RunCallsRequest,
    idempotency_key: str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["Idempotency-Key"] = idempotency_key

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/v1/training_runs/{run_id}/calls".format(
            run_id=quote(str(run_id), safe=""),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorResponse | RunCallsResult | Task | None:
    if response.status_code == 200:
        response_200 = RunCallsResult.from_dict(response.json())

        return response_200

    if response.status_code == 202:
        response_202 = Task.from_dict(response.json())

        return response_202

    if response.status_code == 400:
        response_400 = ErrorResponse.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = ErrorResponse.from_dict(response.json())

        return response_401

    if response.status_code == 404:
        response_404 = ErrorResponse.from_dict(response.json())

        return response_404

    if response.status_code == 409:
        response_409 = ErrorResponse.from_dict(response.json())

        return response_409

    if response.status_code == 413:
        response_413 = ErrorResponse.from_dict(response.json())

        return response_413

    if response.status_code == 422:
        response_422 = ErrorResponse.from_dict(response.json())

        return response_422

    if response.status_code == 429:
        response_429 = ErrorResponse.from_dict(response.json())

        return response_429

    if response.status_code == 500:
        response_500 = ErrorResponse.from_dict(response.json())

        return response_500

    if response.status_code == 503:
        response_503 = ErrorResponse.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[ErrorResponse | RunCallsResult | Task]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    run_id: str,
    *,
    client: AuthenticatedClient | Client,
    body: RunCallsRequest,
    idempotency_key: str | Unset = UNSET,
) -> Response[ErrorResponse | RunCallsResult | Task]:
    """Several training-loop calls of the run, applied in order, in one request.

     Each call is what its own operation does (`op` names it, `body` is that operation's request body),
    applied in the order given and after the run's earlier requests. The calls stop at the first one
    that fails: it is reported `failed` with its error and the status its own operation would have
    answered, the ones after it `skipped` (not applied). The answer is 200 with every call's outcome
    even then; a body that is not valid for its operation, or a batch over the request limits (the rows
    of all its calls count together), is refused as a whole before anything is applied. The Python
    client sends the calls whose answers a loop rarely reads (`clip_grad_norm`, `step`, `zero_grad`,
    `lr_step`) with its next call this way: one round trip per micro-batch instead of five.

    Args:
        run_id (str): A server-generated, URL-safe id such as `run_...`, `ds_...`, `task_...`.
        idempotency_key (str | Unset):
        body (RunCallsRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | RunCallsResult | Task]
    """

    kwargs = _get_kwargs(
        run_id=run_id,
        body=body,
        idempotency_key=idempotency_key,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    run_id: str,
    *,
    client: AuthenticatedClient | Client,
    body: RunCallsRequest,
    idempotency_key: str | Unset = UNSET,
) -> ErrorResponse | RunCallsResult | Task | None:
    """Several training-loop calls of the run, applied in order, in one request.

     Each call is what its own operation does (`op` names it, `body` is that operation's request body),
    applied in the order given and after the run's earlier requests. The calls stop at the first one
    that fails: it is reported `failed` with its error and the status its own operation would have
    answered, the ones after it `skipped` (not applied). The answer is 200 with every call's outcome
    even then; a body that is not valid for its operation, or a batch over the request limits (the rows
    of all its calls count together), is refused as a whole before anything is applied. The Python
    client sends the calls whose answers a loop rarely reads (`clip_grad_norm`, `step`, `zero_grad`,
    `lr_step`) with its next call this way: one round trip per micro-batch instead of five.

    Args:
        run_id (str): A server-generated, URL-safe id such as `run_...`, `ds_...`, `task_...`.
        idempotency_key (str | Unset):
        body (RunCallsRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | RunCallsResult | Task
    """

    return sync_detailed(
        run_id=run_id,
        client=client,
        body=body,
        idempotency_key=idempotency_key,
    ).parsed


async def asyncio_detailed(
    run_id: str,
    *,
    client: AuthenticatedClient | Client,
    body: RunCallsRequest,
    idempotency_key: str | Unset = UNSET,
) -> Response[ErrorResponse | RunCallsResult | Task]:
    """Several training-loop calls of the run, applied in order, in one request.

     Each call is what its own operation does (`op` names it, `body` is that operation's request body),
    applied in the order given and after the run's earlier requests. The calls stop at the first one
    that fails: it is reported `failed` with its error and the status its own operation would have
    answered, the ones after it `skipped` (not applied). The answer is 200 with every call's outcome
    even then; a body that is not valid for its operation, or a batch over the request limits (the rows
    of all its calls count together), is refused as a whole before anything is applied. The Python
    client sends the calls whose answers a loop rarely reads (`clip_grad_norm`, `step`, `zero_grad`,
    `lr_step`) with its next call this way: one round trip per micro-batch instead of five.

    Args:
        run_id (str): A server-generated, URL-safe id such as `run_...`, `ds_...`, `task_...`.
        idempotency_key (str | Unset):
        body (RunCallsRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | RunCallsResult | Task]
    """

    kwargs = _get_kwargs(
        run_id=run_id,
        body=body,
        idempotency_key=idempotency_key,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    run_id: str,
    *,
    client: AuthenticatedClient | Client,
    body: RunCallsRequest,
    idempotency_key: str | Unset = UNSET,
) -> ErrorResponse | RunCallsResult | Task | None:
    """Several training-loop calls of the run, applied in order, in one request.

     Each call is what its own operation does (`op` names it, `body` is that operation's request body),
    applied in the order given and after the run's earlier requests. The calls stop at the first one
    that fails: it is reported `failed` with its error and the status its own operation would have
    answered, the ones after it `skipped` (not applied). The answer is 200 with every call's outcome
    even then; a body that is not valid for its operation, or a batch over the request limits (the rows
    of all its calls count together), is refused as a whole before anything is applied. The Python
    client sends the calls whose answers a loop rarely reads (`clip_grad_norm`, `step`, `zero_grad`,
    `lr_step`) with its next call this way: one round trip per micro-batch instead of five.

    Args:
        run_id (str): A server-generated, URL-safe id such as `run_...`, `ds_...`, `task_...`.
        idempotency_key (str | Unset):
        body (RunCallsRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | RunCallsResult | Task
    """

    return (
        await asyncio_detailed(
            run_id=run_id,
            client=client,
            body=body,
            idempotency_key=idempotency_key,
        )
    ).parsed
