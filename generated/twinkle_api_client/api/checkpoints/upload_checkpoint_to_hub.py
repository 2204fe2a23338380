from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_response import ErrorResponse
from ...models.upload_checkpoint_request import UploadCheckpointRequest
from ...models.upload_task import UploadTask
from ...types import UNSET, Response, Unset


def _get_kwargs(
    run_id: str,
    checkpoint_id: str,
    *,
    body: UploadCheckpointRequest,
    idempotency_key: str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["Idempotency-Key"] = idempotency_key

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/v1/training_runs/{run_id}/checkpoints/{checkpoint_id}/upload".format(
            run_id=quote(str(run_id), safe=""),
            checkpoint_id=quote(str(checkpoint_id), safe=""),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorResponse | UploadTask | None:
    if response.status_code == 202:
        response_202 = UploadTask.from_dict(response.json())

        return response_202

    if response.status_code == 400:
        response_400 = ErrorResponse.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = ErrorResponse.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = ErrorResponse.from_dict(response.json())

        return response_403

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
) -> Response[ErrorResponse | UploadTask]:
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
    body: UploadCheckpointRequest,
    idempotency_key: str | Unset = UNSET,
) -> Response[ErrorResponse | UploadTask]:
    """Upload a checkpoint to a model hub in the background.

     Queues an upload of the checkpoint's adapter (adapter_config.json, adapter weights and a README) to
    the hub and answers at once; get_upload_task reports progress. A hub repository belongs to the user
    who first published to it through this server; another user gets 403. The training state (optimizer,
    scheduler, gradients, random state) is published only with include_training_state, and only to a
    private repository.

    Args:
        run_id (str): A server-generated, URL-safe id such as `run_...`, `ds_...`, `task_...`.
        checkpoint_id (str):
        idempotency_key (str | Unset):
        body (UploadCheckpointRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | UploadTask]
    """

    kwargs = _get_kwargs(
        run_id=run_id,
        checkpoint_id=checkpoint_id,
        body=body,
        idempotency_key=idempotency_key,
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
    body: UploadCheckpointRequest,
    idempotency_key: str | Unset = UNSET,
) -> ErrorResponse | UploadTask | None:
    """Upload a checkpoint to a model hub in the background.

     Queues an upload of the checkpoint's adapter (adapter_config.json, adapter weights and a README) to
    the hub and answers at once; get_upload_task reports progress. A hub repository belongs to the user
    who first published to it through this server; another user gets 403. The training state (optimizer,
    scheduler, gradients, random state) is published only with include_training_state, and only to a
    private repository.

    Args:
        run_id (str): A server-generated, URL-safe id such as `run_...`, `ds_...`, `task_...`.
        checkpoint_id (str):
        idempotency_key (str | Unset):
        body (UploadCheckpointRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | UploadTask
    """

    return sync_detailed(
        run_id=run_id,
        checkpoint_id=checkpoint_id,
        client=client,
        body=body,
        idempotency_key=idempotency_key,
    ).parsed


async def asyncio_detailed(
    run_id: str,
    checkpoint_id: str,
    *,
    client: AuthenticatedClient | Client,
    body: UploadCheckpointRequest,
    idempotency_key: str | Unset = UNSET,
) -> Response[ErrorResponse | UploadTask]:
    """Upload a checkpoint to a model hub in the background.

     Queues an upload of the checkpoint's adapter (adapter_config.json, adapter weights and a README) to
    the hub and answers at once; get_upload_task reports progress. A hub repository belongs to the user
    who first published to it through this server; another user gets 403. The training state (optimizer,
    scheduler, gradients, random state) is published only with include_training_state, and only to a
    private repository.

    Args:
        run_id (str): A server-generated, URL-safe id such as `run_...`, `ds_...`, `task_...`.
        checkpoint_id (str):
        idempotency_key (str | Unset):
        body (UploadCheckpointRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | UploadTask]
    """

    kwargs = _get_kwargs(
        run_id=run_id,
        checkpoint_id=checkpoint_id,
        body=body,
        idempotency_key=idempotency_key,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    run_id: str,
    checkpoint_id: str,
    *,
    client: AuthenticatedClient | Client,
    body: UploadCheckpointRequest,
    idempotency_key: str | Unset = UNSET,
) -> ErrorResponse | UploadTask | None:
    """Upload a checkpoint to a model hub in the background.

     Queues an upload of the checkpoint's adapter (adapter_config.json, adapter weights and a README) to
    the hub and answers at once; get_upload_task reports progress. A hub repository belongs to the user
    who first published to it through this server; another user gets 403. The training state (optimizer,
    scheduler, gradients, random state) is published only with include_training_state, and only to a
    private repository.

    Args:
        run_id (str): A server-generated, URL-safe id such as `run_...`, `ds_...`, `task_...`.
        checkpoint_id (str):
        idempotency_key (str | Unset):
        body (UploadCheckpointRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | UploadTask
    """

    return (
        await asyncio_detailed(
            run_id=run_id,
            checkpoint_id=checkpoint_id,
            client=client,
            body=body,
            idempotency_key=idempotency_key,
        )
    ).parsed
