"""Long-running server tasks, as the transport sees them.

An engine operation answers 200 with its result when it finishes within the server's short wait
window, otherwise 202 with a ``Task``. The transport follows the task with long polls of
``GET {base}/api/v1/tasks/{task_id}?wait=S`` and hands the caller the response the operation
would have given had it finished at once. This module holds the pure parts of that: spotting a
task body, building the poll request, and turning a finished task into a response.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from twinkle_client._constants import API_PREFIX, REQUEST_ID_HEADER, TASK_ID_HEADER

__all__ = ["FINISHED", "TaskState", "outcome_response", "parse_task", "poll_request"]

FINISHED = frozenset({"succeeded", "failed"})
_STATUSES = frozenset({"pending", "running"}) | FINISHED
# Headers of the original request a poll does not carry: they describe its body or its key.
# Everything else (auth, user agent, headers a gateway needs) goes along.
_BODY_HEADERS = frozenset(
    {
        "content-length",
        "content-type",
        "content-encoding",
        "transfer-encoding",
        "idempotency-key",
        "host",
        "accept",
    }
)
# Extra read time granted to a long poll beyond its wait, for the server's answer to travel.
_POLL_READ_MARGIN = 15.0


@dataclass(frozen=True)
class TaskState:
    """The fields of a ``Task`` body the transport acts on."""

    task_id: str
    status: str
    result: Any = None
    error: Any = None
    http_status: int | None = None
    progress: Any = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


def parse_task(response: httpx.Response) -> TaskState | None:
    """The task a (read) response carries, or None when its body is not a ``Task``.

    Other 202 bodies (an ``UploadTask``, which has no ``task_id``) are left to the caller.
    """
    try:
        body = json.loads(response.read())
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(body, dict):
        return None
    task_id, status = body.get("task_id"), body.get("status")
    if not isinstance(task_id, str) or not task_id or status not in _STATUSES:
        return None
    http_status = body.get("http_status")
    if isinstance(http_status, bool) or not isinstance(http_status, int):
        http_status = None
    return TaskState(
        task_id, status, body.get("result"), body.get("error"), http_status, body.get("progress")
    )


def poll_request(original: httpx.Request, task_id: str, wait: float) -> httpx.Request:
    """The long-poll GET for ``task_id``, addressed to the same server and API prefix as ``original``."""
    url = original.url
    path = url.raw_path.split(b"?", 1)[0].decode("ascii")  # still percent-encoded
    index = path.find(API_PREFIX + "/")
    base_path = path[:index] if index >= 0 else ""
    poll_url = url.copy_with(
        raw_path=f"{base_path}{API_PREFIX}/tasks/{quote(task_id, safe='')}".encode(),
        query=None,
        fragment=None,
    ).copy_merge_params({"wait": _format_wait(wait)})
    headers = [(k, v) for k, v in original.headers.multi_items() if k.lower() not in _BODY_HEADERS]
    headers.append(("accept", "application/json"))
    return httpx.Request(
        "GET", poll_url, headers=headers, extensions={"timeout": _poll_timeout(original, wait)}
    )


def _format_wait(wait: float) -> str:
    return str(int(wait)) if float(wait).is_integer() else str(wait)


def _poll_timeout(original: httpx.Request, wait: float) -> dict[str, float | None]:
    timeout = dict(original.extensions.get("timeout") or {})
    read = timeout.get("read")
    if read is not None and read < wait + _POLL_READ_MARGIN:
        timeout["read"] = wait + _POLL_READ_MARGIN
    return timeout


def outcome_response(task: TaskState, original: httpx.Response, request: httpx.Request) -> httpx.Response:
    """The response the operation would have answered: its result on success, its error on failure.

    Success answers the task's ``http_status`` when the server recorded a 2xx one (201 for a
    create), else 200, with the result as body. Failure answers the recorded status (500 if
    none) with the error schema. ``X-Request-Id`` is the original response's.
    """
    if task.status == "succeeded":
        status = task.http_status if task.http_status is not None and 200 <= task.http_status < 300 else 200
        body: Any = task.result if task.result is not None else {}
    else:
        status = task.http_status if task.http_status is not None and 400 <= task.http_status < 600 else 500
        error = (
            task.error
            if isinstance(task.error, dict)
            else {"code": "task_failed", "message": str(task.error)}
        )
        body = {"error": error}
    headers = {"content-type": "application/json", TASK_ID_HEADER: task.task_id}
    request_id = original.headers.get(REQUEST_ID_HEADER)
    if request_id is not None:
        headers[REQUEST_ID_HEADER] = request_id
    return httpx.Response(status, headers=headers, content=json.dumps(body).encode(), request=request)
