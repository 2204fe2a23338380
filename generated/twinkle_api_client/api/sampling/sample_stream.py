from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_response import ErrorResponse
from ...models.model_sample_request import ModelSampleRequest
from ...models.sample_stream_response_200 import SampleStreamResponse200
from ...types import Response


def _get_kwargs(
    *,
    body: ModelSampleRequest,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/v1/sample_stream",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorResponse | SampleStreamResponse200 | None:
    if response.status_code == 200:
        response_200 = SampleStreamResponse200.from_dict(response.text)

        return response_200

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
) -> Response[ErrorResponse | SampleStreamResponse200]:
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
) -> Response[ErrorResponse | SampleStreamResponse200]:
    """Stream the tokens of one continuation of one prompt as they are decoded.

     The body is that of `sample_model`, with exactly one prompt and `num_samples` 1. The answer is
    `text/event-stream` (server-sent events): a `token` event per decoded token, whose data is
    `{"token": <id>, "logprob": <number or null>}` (the logprob when `logprobs` was asked), then one
    `done` event whose data is the whole `SampleResult`, as `sample_model` would have answered it (the
    same seed gives the same tokens). An error after the stream has started comes as an `error` event
    whose data is the error body; errors found before it starts answer with their status as usual. A
    stream is not replayed: send no Idempotency-Key, or expect a retry to sample again.

    Args:
        body (ModelSampleRequest): What to sample from: `model_path` (a checkpoint of yours), or
            `training_run_id` (one of your runs, its adapter as it is now), or neither (the base model
            `base_model`, no adapter). `base_model` may be left out when `model_path` or
            `training_run_id` names the model; given, it must be theirs. The other fields are those of
            SampleRequest.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | SampleStreamResponse200]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
    body: ModelSampleRequest,
) -> ErrorResponse | SampleStreamResponse200 | None:
    """Stream the tokens of one continuation of one prompt as they are decoded.

     The body is that of `sample_model`, with exactly one prompt and `num_samples` 1. The answer is
    `text/event-stream` (server-sent events): a `token` event per decoded token, whose data is
    `{"token": <id>, "logprob": <number or null>}` (the logprob when `logprobs` was asked), then one
    `done` event whose data is the whole `SampleResult`, as `sample_model` would have answered it (the
    same seed gives the same tokens). An error after the stream has started comes as an `error` event
    whose data is the error body; errors found before it starts answer with their status as usual. A
    stream is not replayed: send no Idempotency-Key, or expect a retry to sample again.

    Args:
        body (ModelSampleRequest): What to sample from: `model_path` (a checkpoint of yours), or
            `training_run_id` (one of your runs, its adapter as it is now), or neither (the base model
            `base_model`, no adapter). `base_model` may be left out when `model_path` or
            `training_run_id` names the model; given, it must be theirs. The other fields are those of
            SampleRequest.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | SampleStreamResponse200
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    body: ModelSampleRequest,
) -> Response[ErrorResponse | SampleStreamResponse200]:
    """Stream the tokens of one continuation of one prompt as they are decoded.

     The body is that of `sample_model`, with exactly one prompt and `num_samples` 1. The answer is
    `text/event-stream` (server-sent events): a `token` event per decoded token, whose data is
    `{"token": <id>, "logprob": <number or null>}` (the logprob when `logprobs` was asked), then one
    `done` event whose data is the whole `SampleResult`, as `sample_model` would have answered it (the
    same seed gives the same tokens). An error after the stream has started comes as an `error` event
    whose data is the error body; errors found before it starts answer with their status as usual. A
    stream is not replayed: send no Idempotency-Key, or expect a retry to sample again.

    Args:
        body (ModelSampleRequest): What to sample from: `model_path` (a checkpoint of yours), or
            `training_run_id` (one of your runs, its adapter as it is now), or neither (the base model
            `base_model`, no adapter). `base_model` may be left out when `model_path` or
            `training_run_id` names the model; given, it must be theirs. The other fields are those of
            SampleRequest.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | SampleStreamResponse200]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    body: ModelSampleRequest,
) -> ErrorResponse | SampleStreamResponse200 | None:
    """Stream the tokens of one continuation of one prompt as they are decoded.

     The body is that of `sample_model`, with exactly one prompt and `num_samples` 1. The answer is
    `text/event-stream` (server-sent events): a `token` event per decoded token, whose data is
    `{"token": <id>, "logprob": <number or null>}` (the logprob when `logprobs` was asked), then one
    `done` event whose data is the whole `SampleResult`, as `sample_model` would have answered it (the
    same seed gives the same tokens). An error after the stream has started comes as an `error` event
    whose data is the error body; errors found before it starts answer with their status as usual. A
    stream is not replayed: send no Idempotency-Key, or expect a retry to sample again.

    Args:
        body (ModelSampleRequest): What to sample from: `model_path` (a checkpoint of yours), or
            `training_run_id` (one of your runs, its adapter as it is now), or neither (the base model
            `base_model`, no adapter). `base_model` may be left out when `model_path` or
            `training_run_id` names the model; given, it must be theirs. The other fields are those of
            SampleRequest.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | SampleStreamResponse200
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
