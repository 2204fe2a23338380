"""One way to call any operation of the generated client and get its JSON body back.

The user classes name operations by their operationId (``call("forward_backward", run_id,
body={...})``). This module finds the generated module for it (``twinkle_api_client.api.<tag>.<op>``),
imported only on first use so that ``import twinkle_client`` stays fast, builds the request model
from a plain dict, sends it through the transport (which retries, keys and follows tasks), turns an
error status into the matching exception, and returns the decoded JSON. Responses are then parsed by
``twinkle_client.types``, whose models keep unknown fields, so a newer server does not break an
older client.
"""

from __future__ import annotations

import importlib
import inspect
import json
import typing
from functools import cache
from types import ModuleType
from typing import IO, Any

from twinkle_client._http import STREAM_EXTENSION, check
from twinkle_client.errors import TwinkleClientError

__all__ = ["OPERATION_TAGS", "ApiCaller"]

# operationId -> spec tag (the generated package's folder).
OPERATION_TAGS: dict[str, str] = {
    **dict.fromkeys(("healthz", "get_server_capabilities", "get_capacity"), "service"),
    **dict.fromkeys(("create_session", "session_heartbeat", "close_session"), "sessions"),
    **dict.fromkeys(("create_training_run", "list_training_runs", "get_training_run"), "training_runs"),
    **dict.fromkeys(
        ("set_template", "set_processor", "set_loss", "set_optimizer", "set_lr_scheduler", "add_metric"),
        "run_config",
    ),
    **dict.fromkeys(
        (
            "forward",
            "forward_only",
            "calculate_loss",
            "backward",
            "forward_backward",
            "clip_grad_norm",
            "step",
            "zero_grad",
            "lr_step",
            "clip_grad_and_step",
            "calculate_metric",
            "get_train_configs",
            "run_calls",
        ),
        "run_compute",
    ),
    **dict.fromkeys(
        (
            "save_checkpoint",
            "load_checkpoint",
            "list_checkpoints",
            "get_checkpoint_path",
            "delete_checkpoint",
            "get_weights_info",
            "download_checkpoint",
            "upload_checkpoint_to_hub",
            "get_upload_task",
        ),
        "checkpoints",
    ),
    **dict.fromkeys(
        (
            "create_dataset",
            "get_dataset",
            "dataset_set_template",
            "dataset_map",
            "dataset_filter",
            "dataset_encode",
            "dataset_add",
            "dataset_mix",
            "get_dataset_row",
            "create_dataloader",
            "get_dataloader_batch",
            "get_dataloader_state",
            "set_dataloader_state",
        ),
        "data",
    ),
    "sample": "run_compute",
    **dict.fromkeys(("sample_model", "sample_stream"), "sampling"),
    "get_task": "tasks",
    "whoami": "account",
    **dict.fromkeys(("get_run_history", "export_run_history_csv", "export_run_history_json"), "history"),
}


@cache
def operation_module(operation: str) -> ModuleType:
    """The generated module of ``operation``, found by tag and imported on first use."""
    tag = OPERATION_TAGS.get(operation)
    if tag is None:
        # A tag map that lags the spec should not hide a real operation: search every tag.
        for candidate in sorted(set(OPERATION_TAGS.values())):
            try:
                return importlib.import_module(f"twinkle_api_client.api.{candidate}.{operation}")
            except ModuleNotFoundError:
                continue
        raise TwinkleClientError(f"The API client has no operation {operation!r}")
    return importlib.import_module(f"twinkle_api_client.api.{tag}.{operation}")


@cache
def _body_model(module: ModuleType) -> type | None:
    """The generated request model that ``module.sync_detailed`` takes as ``body``, if any."""
    parameter = inspect.signature(module.sync_detailed).parameters.get("body")
    if parameter is None:
        return None
    annotation = parameter.annotation
    candidates = typing.get_args(annotation) or (annotation,)
    for candidate in candidates:
        if isinstance(candidate, type) and hasattr(candidate, "from_dict"):
            return candidate
    raise TwinkleClientError(f"Cannot tell the request model of {module.__name__}")


class ApiCaller:
    """Calls operations of the generated client on one ``httpx.Client``.

    Args:
        api: the generated ``AuthenticatedClient`` whose httpx client carries the Twinkle transport.
    """

    def __init__(self, api: Any) -> None:
        self.api = api

    def call(self, operation: str, *path: Any, body: dict[str, Any] | None = None, **query: Any) -> Any:
        """Send ``operation`` and return its decoded JSON body (None for an empty body).

        Args:
            operation: the operationId, e.g. ``"forward_backward"``.
            *path: the path parameters in spec order (``run_id``, ``checkpoint_id`` ...).
            body: the request body as a plain dict; omitted when None (an empty-body operation).
            **query: query parameters; None values are left out.

        Raises:
            APIStatusError: the server answered an error status (the matching subclass).
            APIConnectionError: no answer after the transport's retries.
        """
        module = operation_module(operation)
        kwargs: dict[str, Any] = {k: v for k, v in query.items() if v is not None}
        model = _body_model(module)
        if model is not None:
            if body is not None:
                kwargs["body"] = _build_body(operation, model, body)
            elif _body_required(module):
                kwargs["body"] = _build_body(operation, model, {})
        elif body:
            raise TwinkleClientError(f"Operation {operation} takes no request body")
        response = check(module.sync_detailed(*path, client=self.api, **kwargs))
        if not response.content:
            return None
        try:
            return json.loads(response.content)
        except ValueError as exc:
            raise TwinkleClientError(
                f"The server answered {operation} with a body that is not JSON "
                f"(status {int(response.status_code)})"
            ) from exc

    def download(self, operation: str, *path: Any, to: IO[bytes], label: str) -> int:
        """Stream ``operation``'s body (a GET without body) into ``to``; the bytes written.

        A progress bar in bytes follows it on a terminal (:class:`TaskBar`). Errors are raised
        as for :meth:`call`, before anything is written.
        """
        from twinkle_client._progress import TaskBar

        kwargs = operation_module(operation)._get_kwargs(*path)
        http = self.api.get_httpx_client()
        written = 0
        with http.stream(
            kwargs["method"].upper(), kwargs["url"], extensions={STREAM_EXTENSION: True}
        ) as response:
            if response.status_code >= 400:
                response.read()
                check(response)
            total = int(response.headers.get("content-length") or 0) or None
            bar = TaskBar(label)
            try:
                for chunk in response.iter_bytes():
                    to.write(chunk)
                    written += len(chunk)
                    bar.update({"done": written, "total": total, "unit": "bytes", "stage": "download"})
            finally:
                bar.close()
        return written

    def raw(self, operation: str, *path: Any, **query: Any) -> bytes:
        """Send ``operation`` (a GET without body) and return its body bytes (a checkpoint archive).

        The body is buffered: LoRA adapter archives are small next to the base model. (The
        transport can stream, but not over every inner transport, so this path stays simple.)
        """
        module = operation_module(operation)
        kwargs = {k: v for k, v in query.items() if v is not None}
        return check(module.sync_detailed(*path, client=self.api, **kwargs)).content


def _build_body(operation: str, model: type, body: dict[str, Any]) -> Any:
    """The generated request model for ``body``; unknown or invalid arguments fail here, by name.

    The generated ``from_dict`` ignores keys it does not know, which would drop a misspelt
    argument without a word; a closed request model therefore refuses them first.
    """
    import attrs  # with the generated models, on first call: keeps `import twinkle_client` light

    known = {f.name for f in attrs.fields(model)}
    if "additional_properties" not in known:
        unknown = sorted(set(body) - known)
        if unknown:
            raise ValueError(
                f"{operation} got unexpected argument(s) {', '.join(unknown)}; "
                f"it accepts: {', '.join(sorted(known)) or 'none'}"
            )
    try:
        return model.from_dict(body)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"Invalid arguments for {operation}: {exc}") from exc


def _body_required(module: ModuleType) -> bool:
    parameter = inspect.signature(module.sync_detailed).parameters["body"]
    return parameter.default is inspect.Parameter.empty
