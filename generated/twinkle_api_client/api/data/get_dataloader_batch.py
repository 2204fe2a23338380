from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.batch import Batch
from ...models.error_response import ErrorResponse
from ...types import Response


def _get_kwargs(
    dataloader_id: str,
    index: int,
) -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/dataloaders/{dataloader_id}/batches/{index}".format(
            dataloader_id=quote(str(dataloader_id), safe=""),
            index=quote(str(index), safe=""),
        ),
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Batch | ErrorResponse | None:
    if response.status_code == 200:
        response_200 = Batch.from_dict(response.json())

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
) -> Response[Batch | ErrorResponse]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    dataloader_id: str,
    index: int,
    *,
    client: AuthenticatedClient | Client,
) -> Response[Batch | ErrorResponse]:
    """One batch by index; a pure function of the index and the dataloader's settings.

     Retry-safe: the same index always gives the same rows.

    Args:
        dataloader_id (str): A server-generated, URL-safe id such as `run_...`, `ds_...`,
            `task_...`.
        index (int):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Batch | ErrorResponse]
    """

    kwargs = _get_kwargs(
        dataloader_id=dataloader_id,
        index=index,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    dataloader_id: str,
    index: int,
    *,
    client: AuthenticatedClient | Client,
) -> Batch | ErrorResponse | None:
    """One batch by index; a pure function of the index and the dataloader's settings.

     Retry-safe: the same index always gives the same rows.

    Args:
        dataloader_id (str): A server-generated, URL-safe id such as `run_...`, `ds_...`,
            `task_...`.
        index (int):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Batch | ErrorResponse
    """

    return sync_detailed(
        dataloader_id=dataloader_id,
        index=index,
        client=client,
    ).parsed


async def asyncio_detailed(
    dataloader_id: str,
    index: int,
    *,
    client: AuthenticatedClient | Client,
) -> Response[Batch | ErrorResponse]:
    """One batch by index; a pure function of the index and the dataloader's settings.

     Retry-safe: the same index always gives the same rows.

    Args:
        dataloader_id (str): A server-generated, URL-safe id such as `run_...`, `ds_...`,
            `task_...`.
        index (int):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Batch | ErrorResponse]
    """

    kwargs = _get_kwargs(
        dataloader_id=dataloader_id,
        index=index,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    dataloader_id: str,
    index: int,
    *,
    client: AuthenticatedClient | Client,
) -> Batch | ErrorResponse | None:
    """One batch by index; a pure function of the index and the dataloader's settings.

     Retry-safe: the same index always gives the same rows.

    Args:
        dataloader_id (str): A server-generated, URL-safe id such as `run_...`, `ds_...`,
            `task_...`.
        index (int):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Batch | ErrorResponse
    """

    return (
        await asyncio_detailed(
            dataloader_id=dataloader_id,
            index=index,
            client=client,
        )
    ).parsed
