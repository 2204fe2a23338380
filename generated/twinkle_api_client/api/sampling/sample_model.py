from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_response import ErrorResponse
from ...models.model_sample_request import ModelSampleRequest
from ...models.sample_result import SampleResult
from ...models.task import Task
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    body: ModelSampleRequest,
    idempotency_key: str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["Idempotency-Key"] = idempotency_key

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/v1/sample",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorResponse | SampleResult | Task | None:
    if response.status_code == 200:
        response_200 = SampleResult.from_dict(response.json())

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
) -> Response[ErrorResponse | SampleResult | Task]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    body: ModelSampleRequest,
    idempotency_key: str | Unset = UNSET,
) -> Response[ErrorResponse | SampleResult | Task]:
    """Sample from one of your checkpoints, one of your runs' current adapters, or the base model.

     The sampler's operation: draws continuations from the weights named by `model_path` (a checkpoint of
    yours, `twinkle://<run_id>/weights/<name>`; another user's answers 404), or by `training_run_id`
    (that run's adapter as it is now, after the run's earlier requests), or from `base_model` alone (no
    adapter). A checkpoint is loaded once as a frozen adapter beside the runs' adapters (it takes no run
    slot) and kept while it is used. Requests of every kind on one base model decode together in one
    batch, each row through its own weights. Sampling parameters are those of `sample`.

    Args:
        idempotency_key (str | Unset):
        body (ModelSampleRequest): What to sample from: `model_path` (a checkpoint of yours), or
            `training_run_id` (one of your runs, its adapter as it is now), or neither (the base model
            `base_model`, no adapter). `base_model` may be left out when `model_path` or
            `training_run_id` names the model; given, it must be theirs. The other fields are those of
            SampleRequest.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | SampleResult | Task]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
    body: ModelSampleRequest,
    idempotency_key: str | Unset = UNSET,
) -> ErrorResponse | SampleResult | Task | None:
    """Sample from one of your checkpoints, one of your runs' current adapters, or the base model.

     The sampler's operation: draws continuations from the weights named by `model_path` (a checkpoint of
    yours, `twinkle://<run_id>/weights/<name>`; another user's answers 404), or by `training_run_id`
    (that run's adapter as it is now, after the run's earlier requests), or from `base_model` alone (no
    adapter). A checkpoint is loaded once as a frozen adapter beside the runs' adapters (it takes no run
    slot) and kept while it is used. Requests of every kind on one base model decode together in one
    batch, each row through its own weights. Sampling parameters are those of `sample`.

    Args:
        idempotency_key (str | Unset):
        body (ModelSampleRequest): What to sample from: `model_path` (a checkpoint of yours), or
            `training_run_id` (one of your runs, its adapter as it is now), or neither (the base model
            `base_model`, no adapter). `base_model` may be left out when `model_path` or
            `training_run_id` names the model; given, it must be theirs. The other fields are those of
            SampleRequest.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | SampleResult | Task
    """

    return sync_detailed(
        client=client,
        body=body,
        idempotency_key=idempotency_key,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    body: ModelSampleRequest,
    idempotency_key: str | Unset = UNSET,
) -> Response[ErrorResponse | SampleResult | Task]:
    """Sample from one of your checkpoints, one of your runs' current adapters, or the base model.

     The sampler's operation: draws continuations from the weights named by `model_path` (a checkpoint of
    yours, `twinkle://<run_id>/weights/<name>`; another user's answers 404), or by `training_run_id`
    (that run's adapter as it is now, after the run's earlier requests), or from `base_model` alone (no
    adapter). A checkpoint is loaded once as a frozen adapter beside the runs' adapters (it takes no run
    slot) and kept while it is used. Requests of every kind on one base model decode together in one
    batch, each row through its own weights. Sampling parameters are those of `sample`.

    Args:
        idempotency_key (str | Unset):
        body (ModelSampleRequest): What to sample from: `model_path` (a checkpoint of yours), or
            `training_run_id` (one of your runs, its adapter as it is now), or neither (the base model
            `base_model`, no adapter). `base_model` may be left out when `model_path` or
            `training_run_id` names the model; given, it must be theirs. The other fields are those of
            SampleRequest.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | SampleResult | Task]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    body: ModelSampleRequest,
    idempotency_key: str | Unset = UNSET,
) -> ErrorResponse | SampleResult | Task | None:
    """Sample from one of your checkpoints, one of your runs' current adapters, or the base model.

     The sampler's operation: draws continuations from the weights named by `model_path` (a checkpoint of
    yours, `twinkle://<run_id>/weights/<name>`; another user's answers 404), or by `training_run_id`
    (that run's adapter as it is now, after the run's earlier requests), or from `base_model` alone (no
    adapter). A checkpoint is loaded once as a frozen adapter beside the runs' adapters (it takes no run
    slot) and kept while it is used. Requests of every kind on one base model decode together in one
    batch, each row through its own weights. Sampling parameters are those of `sample`.

    Args:
        idempotency_key (str | Unset):
        body (ModelSampleRequest): What to sample from: `model_path` (a checkpoint of yours), or
            `training_run_id` (one of your runs, its adapter as it is now), or neither (the base model
            `base_model`, no adapter). `base_model` may be left out when `model_path` or
            `training_run_id` names the model; given, it must be theirs. The other fields are those of
            SampleRequest.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | SampleResult | Task
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
            idempotency_key=idempotency_key,
        )
    ).parsed
