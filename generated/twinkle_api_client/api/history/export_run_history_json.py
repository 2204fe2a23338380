from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_response import ErrorResponse
from ...models.history_export import HistoryExport
from ...models.history_kind import HistoryKind
from ...types import UNSET, Response, Unset


def _get_kwargs(
    run_id: str,
    *,
    kind: HistoryKind | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_kind: str | Unset = UNSET
    if not isinstance(kind, Unset):
        json_kind = kind

    params["kind"] = json_kind

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/training_runs/{run_id}/history/json".format(
            run_id=quote(str(run_id), safe=""),
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorResponse | HistoryExport | None:
    if response.status_code == 200:
        response_200 = HistoryExport.from_dict(response.json())

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
) -> Response[ErrorResponse | HistoryExport]:
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
    kind: HistoryKind | Unset = UNSET,
) -> Response[ErrorResponse | HistoryExport]:
    """The whole training history of a run as a JSON file.

     Every point, oldest first, as a download. Another user's run answers 404.

    Args:
        run_id (str): A server-generated, URL-safe id such as `run_...`, `ds_...`, `task_...`.
        kind (HistoryKind | Unset): `train`: an optimizer step; `eval`: an evaluation;
            `train_metrics`: a training metric report.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | HistoryExport]
    """

    kwargs = _get_kwargs(
        run_id=run_id,
        kind=kind,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    run_id: str,
    *,
    client: AuthenticatedClient | Client,
    kind: HistoryKind | Unset = UNSET,
) -> ErrorResponse | HistoryExport | None:
    """The whole training history of a run as a JSON file.

     Every point, oldest first, as a download. Another user's run answers 404.

    Args:
        run_id (str): A server-generated, URL-safe id such as `run_...`, `ds_...`, `task_...`.
        kind (HistoryKind | Unset): `train`: an optimizer step; `eval`: an evaluation;
            `train_metrics`: a training metric report.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | HistoryExport
    """

    return sync_detailed(
        run_id=run_id,
        client=client,
        kind=kind,
    ).parsed


async def asyncio_detailed(
    run_id: str,
    *,
    client: AuthenticatedClient | Client,
    kind: HistoryKind | Unset = UNSET,
) -> Response[ErrorResponse | HistoryExport]:
    """The whole training history of a run as a JSON file.

     Every point, oldest first, as a download. Another user's run answers 404.

    Args:
        run_id (str): A server-generated, URL-safe id such as `run_...`, `ds_...`, `task_...`.
        kind (HistoryKind | Unset): `train`: an optimizer step; `eval`: an evaluation;
            `train_metrics`: a training metric report.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | HistoryExport]
    """

    kwargs = _get_kwargs(
        run_id=run_id,
        kind=kind,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    run_id: str,
    *,
    client: AuthenticatedClient | Client,
    kind: HistoryKind | Unset = UNSET,
) -> ErrorResponse | HistoryExport | None:
    """The whole training history of a run as a JSON file.

     Every point, oldest first, as a download. Another user's run answers 404.

    Args:
        run_id (str): A server-generated, URL-safe id such as `run_...`, `ds_...`, `task_...`.
        kind (HistoryKind | Unset): `train`: an optimizer step; `eval`: an evaluation;
            `train_metrics`: a training metric report.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | HistoryExport
    """

    return (
        await asyncio_detailed(
            run_id=run_id,
            client=client,
            kind=kind,
        )
    ).parsed
