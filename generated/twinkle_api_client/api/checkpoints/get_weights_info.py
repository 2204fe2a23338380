from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_response import ErrorResponse
from ...models.weights_info import WeightsInfo
from ...types import Response


def _get_kwargs(
    run_id: str,
    checkpoint_id: str,
) -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/training_runs/{run_id}/checkpoints/{checkpoint_id}/weights_info".format(
            run_id=quote(str(run_id), safe=""),
            checkpoint_id=quote(str(checkpoint_id), safe=""),
        ),
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorResponse | WeightsInfo | None:
    if response.status_code == 200:
        response_200 = WeightsInfo.from_dict(response.json())

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
) -> Response[ErrorResponse | WeightsInfo]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    run_id: str,
    checkpoint_id: str,
    *,
    client: AuthenticatedClient | Client,
) -> Response[ErrorResponse | WeightsInfo]:
    """The tensors stored in a checkpoint.

     Reads the stored safetensors header: tensor names, shapes and dtypes, without loading the weights.

    Args:
        run_id (str): A server-generated, URL-safe id such as `run_...`, `ds_...`, `task_...`.
        checkpoint_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | WeightsInfo]
    """

    kwargs = _get_kwargs(
        run_id=run_id,
        checkpoint_id=checkpoint_id,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    run_id: str,
    checkpoint_id: str,
    *,
    client: AuthenticatedClient | Client,
) -> ErrorResponse | WeightsInfo | None:
    """The tensors stored in a checkpoint.

     Reads the stored safetensors header: tensor names, shapes and dtypes, without loading the weights.

    Args:
        run_id (str): A server-generated, URL-safe id such as `run_...`, `ds_...`, `task_...`.
        checkpoint_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | WeightsInfo
    """

    return sync_detailed(
        run_id=run_id,
        checkpoint_id=checkpoint_id,
        client=client,
    ).parsed


async def asyncio_detailed(
    run_id: str,
    checkpoint_id: str,
    *,
    client: AuthenticatedClient | Client,
) -> Response[ErrorResponse | WeightsInfo]:
    """The tensors stored in a checkpoint.

     Reads the stored safetensors header: tensor names, shapes and dtypes, without loading the weights.

    Args:
        run_id (str): A server-generated, URL-safe id such as `run_...`, `ds_...`, `task_...`.
        checkpoint_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | WeightsInfo]
    """

    kwargs = _get_kwargs(
        run_id=run_id,
        checkpoint_id=checkpoint_id,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    run_id: str,
    checkpoint_id: str,
    *,
    client: AuthenticatedClient | Client,
) -> ErrorResponse | WeightsInfo | None:
    """The tensors stored in a checkpoint.

     Reads the stored safetensors header: tensor names, shapes and dtypes, without loading the weights.

    Args:
        run_id (str): A server-generated, URL-safe id such as `run_...`, `ds_...`, `task_...`.
        checkpoint_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | WeightsInfo
    """

    return (
        await asyncio_detailed(
            run_id=run_id,
            checkpoint_id=checkpoint_id,
            client=client,
        )
    ).parsed
