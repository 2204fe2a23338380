"""``TwinkleClient``: the connection to a Twinkle server, and the management calls on it.

``init_twinkle_client`` is the entry point of the seed example: it connects, opens a session that
a heartbeat thread keeps alive, and makes the client current, so that ``Dataset``, ``DataLoader``
and ``MultiLoraTransformersModel`` built afterwards use it without being told.

Example:
    >>> from twinkle_client import init_twinkle_client
    >>> client = init_twinkle_client(base_url="http://127.0.0.1:8000", api_key="tw-...")
    >>> for run in client.list_training_runs():
    ...     print(run.training_run_id, client.get_latest_checkpoint_path(run.training_run_id))
    >>> client.close()
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from twinkle_client._archive import safe_extract
from twinkle_client._calls import OPERATION_TAGS, ApiCaller
from twinkle_client._constants import DEFAULT_MAX_RETRIES, DEFAULT_POLL_TIMEOUT
from twinkle_client._deferred import DeferredCalls
from twinkle_client._http import DEFAULT_TIMEOUT, RetryPolicy, build_httpx_client
from twinkle_client._session import Heartbeat, set_current_client
from twinkle_client.types import (
    Capacity,
    Checkpoint,
    Health,
    HistoryPoint,
    Page,
    ServerCapabilities,
    Session,
    Task,
    TrainingRun,
    UploadTask,
    WeightsInfo,
    WhoAmI,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "ENV_API_KEY",
    "ENV_BASE_URL",
    "TwinkleClient",
    "init_twinkle_client",
    "parse_twinkle_path",
]

logger = logging.getLogger("twinkle_client")

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
ENV_BASE_URL = "TWINKLE_SERVER_URL"
ENV_API_KEY = "TWINKLE_SERVER_TOKEN"
# Seconds allowed to close a session while the interpreter exits.
_EXIT_TIMEOUT_S = 3.0
# Clients with an open session, closed at interpreter exit if the script did not close them.
_open_clients: weakref.WeakSet[TwinkleClient] = weakref.WeakSet()
# The largest page the API serves; used when the client walks a whole list.
_MAX_PAGE = 100
_MAX_HISTORY_PAGE = 1000
# First and longest pause between polls of a hub upload, in seconds.
_UPLOAD_POLL_S = (0.2, 2.0)

_TWINKLE_PATH = re.compile(
    r"^twinkle://(?P<run>[A-Za-z0-9_-]{1,128})/weights/(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,127})$"
)


def parse_twinkle_path(path: str) -> tuple[str, str]:
    """Split ``twinkle://<run_id>/weights/<name>`` into ``(run_id, name)``.

    Raises:
        ValueError: ``path`` is not a twinkle checkpoint path.
    """
    match = _TWINKLE_PATH.match(path or "")
    if match is None or ".." in match["name"]:
        raise ValueError(
            f"Not a twinkle checkpoint path: {path!r} (expected twinkle://<run_id>/weights/<name>)"
        )
    return match["run"], match["name"]


class TwinkleClient:
    """A connection to a Twinkle server, with an optional session kept alive in the background.

    Args:
        base_url: the server; default ``$TWINKLE_SERVER_URL`` or ``http://127.0.0.1:8000``.
        api_key: the API key; default ``$TWINKLE_SERVER_TOKEN``. Required.
        timeout: seconds (or an ``httpx.Timeout``) for one HTTP exchange; long operations are
            followed as tasks, so this does not bound a training step.
        max_retries: retries of a failed exchange (connection errors, 408, 429, 5xx).
        transport: the inner httpx transport; tests pass an in-process app transport.
        poll_timeout: the most seconds to wait for one long operation; None waits as long as needed.
        open_session: open a session (and start its heartbeat) now. Training runs belong to a
            session, so a client that trains needs one; ``init_twinkle_client`` always opens it.
        session_metadata: labels stored with the session.
        defer_calls: ``clip_grad_norm``, ``step``, ``zero_grad``, ``lr_step`` and
            ``clip_grad_and_step`` return at once and travel with the run's next call (one round
            trip per micro-batch; their errors raise there, see ``twinkle_client._deferred``).
            False sends every call as it is made.

    Raises:
        ValueError: no API key was given or found in the environment, or the URL is not http(s).
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        transport: httpx.BaseTransport | None = None,
        poll_timeout: float | None = DEFAULT_POLL_TIMEOUT,
        open_session: bool = False,
        session_metadata: Mapping[str, str] | None = None,
        defer_calls: bool = True,
    ) -> None:
        from twinkle_api_client import AuthenticatedClient

        self.base_url = (base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL).rstrip("/")
        api_key = api_key or os.environ.get(ENV_API_KEY)
        if not api_key:
            raise ValueError(
                f"No API key: pass api_key= to init_twinkle_client or set {ENV_API_KEY}. The seed "
                "example passes os.environ.get('MODELSCOPE_TOKEN'): set MODELSCOPE_TOKEN to your "
                "Twinkle key (a local demo server prints one at start-up: twinkle-server demo)."
            )
        self._http = build_httpx_client(
            self.base_url,
            api_key,
            timeout=timeout,
            retry_policy=RetryPolicy(max_retries=max_retries),
            transport=transport,
            poll_timeout=poll_timeout,
        )
        self._api_key = api_key
        self._inner_transport = transport
        api = AuthenticatedClient(base_url=self.base_url, token=api_key).set_httpx_client(self._http)
        self._caller = ApiCaller(api)
        self.deferred = DeferredCalls(self._caller.call, OPERATION_TAGS.get) if defer_calls else None
        self._lock = threading.Lock()
        self.session: Session | None = None
        self._heartbeat: Heartbeat | None = None
        self.closed = False
        if open_session:
            try:
                self.open_session(session_metadata)
            except BaseException:
                self._http.close()
                self.closed = True
                raise

    # -- lifecycle -----------------------------------------------------------------------------

    def call(self, operation: str, *path: Any, body: dict[str, Any] | None = None, **query: Any) -> Any:
        """Call any API operation by its operationId and return the decoded JSON (low level)."""
        if self.closed:
            raise RuntimeError("This TwinkleClient is closed; create a new one with init_twinkle_client")
        if self.deferred is not None:
            return self.deferred.call(operation, path, body, query)
        return self._caller.call(operation, *path, body=body, **query)

    def open_session(self, metadata: Mapping[str, str] | None = None) -> Session:
        """Open a session and keep it alive with a daemon heartbeat thread.

        Returns:
            The session; its ``heartbeat_interval_s`` sets the heartbeat's pace.
        """
        with self._lock:
            if self.session is not None:
                return self.session
            body = {"metadata": dict(metadata)} if metadata else {}
            session = Session.model_validate(self.call("create_session", body=body))
            self.session = session
            self._heartbeat = Heartbeat(self._beat, session.heartbeat_interval_s)
            self._heartbeat.start()
            _open_clients.add(self)
            return session

    @property
    def session_id(self) -> str:
        """The open session's id; opens one when there is none yet."""
        return (self.session or self.open_session()).session_id

    def _beat(self) -> None:
        session = self.session
        if session is not None and not self.closed:
            self.call("session_heartbeat", session.session_id, body={})

    def close(self) -> None:
        """Close the session (the server frees its adapters; runs and checkpoints stay) and the connection."""
        with self._lock:
            if self.closed:
                return
            if self._heartbeat is not None:
                self._heartbeat.stop()
            try:
                unsent = self._send_deferred()
                if self.session is not None:
                    self.call("close_session", self.session.session_id, body={})
                if unsent is not None:
                    raise unsent
            finally:
                self.closed = True
                self._http.close()
                from twinkle_client import _session

                if _session._current is self:
                    set_current_client(None)

    def _send_deferred(self) -> Exception | None:
        """Send the runs' deferred calls; their error is returned, for after the session is closed."""
        try:
            if self.deferred is not None:
                self.deferred.flush()
        except Exception as exc:
            return exc
        return None

    def _close_at_exit(self) -> None:
        """Close the session once, quickly, as the interpreter exits (a script that never calls close).

        Frees the session's adapters at once instead of after the server's heartbeat timeout. One
        attempt with a short timeout and no retries: exiting must not hang on an unreachable server.
        """
        if self.closed:
            return
        if self._heartbeat is not None:
            self._heartbeat.stop(timeout=1.0)
        if self.deferred is not None:
            self.deferred.flush_quietly()
        self.closed = True
        session = self.session
        try:
            if session is not None:
                quick = build_httpx_client(
                    self.base_url,
                    self._api_key,
                    timeout=_EXIT_TIMEOUT_S,
                    retry_policy=RetryPolicy(max_retries=0),
                    transport=self._inner_transport,
                )
                with quick:
                    quick.post(f"/api/v1/sessions/{session.session_id}/close", json={})
        except Exception:  # best effort: the server expires the session anyway
            pass
        finally:
            self._http.close()

    def __enter__(self) -> TwinkleClient:
        return self

    def __exit__(self, exc_type: object, *exc_info: object) -> None:
        if exc_type is None:
            self.close()
            return
        try:  # an error is already on its way out: do not hide it behind a failed close
            self.close()
        except Exception as exc:
            logger.warning("Closing the Twinkle session failed: %s", exc)

    def __repr__(self) -> str:
        session = self.session.session_id if self.session else None
        return f"TwinkleClient(base_url={self.base_url!r}, session={session!r}, closed={self.closed})"

    # -- service -------------------------------------------------------------------------------

    def health_check(self) -> Health:
        """Whether the server is up (``status == "ok"``) and its version."""
        return Health.model_validate(self.call("healthz"))

    def get_server_capabilities(self) -> ServerCapabilities:
        """The served models and the names of the losses, optimizers, templates... the server accepts."""
        return ServerCapabilities.model_validate(self.call("get_server_capabilities"))

    def whoami(self) -> WhoAmI:
        """The user this client's API key belongs to."""
        return WhoAmI.model_validate(self.call("whoami"))

    def get_capacity(self) -> Capacity:
        """Free adapter slots per served model."""
        return Capacity.model_validate(self.call("get_capacity"))

    # -- training runs -------------------------------------------------------------------------

    def list_training_runs(self, limit: int = 20, offset: int = 0) -> Page[TrainingRun]:
        """One page of your training runs, newest first.

        Args:
            limit: page size (1..100).
            offset: runs to skip.

        Returns:
            A list-like page; ``page.cursor.total_count`` counts all runs.

        Example:
            >>> for run in client.list_training_runs(limit=20):
            ...     print(run.training_run_id, run.status)
        """
        data = self.call("list_training_runs", limit=limit, offset=offset)
        return _page(data, "training_runs", TrainingRun)

    def iter_training_runs(self, page_size: int = _MAX_PAGE) -> Iterator[TrainingRun]:
        """Every training run, fetched page by page as the iteration goes."""
        yield from _walk(lambda limit, offset: self.list_training_runs(limit, offset), page_size)

    def get_training_run(self, run_id: str) -> TrainingRun:
        """One training run by id (``run_...``)."""
        return TrainingRun.model_validate(self.call("get_training_run", run_id))

    # -- checkpoints ---------------------------------------------------------------------------

    def list_checkpoints(self, run_id: str, limit: int = _MAX_PAGE, offset: int = 0) -> Page[Checkpoint]:
        """One page of a run's checkpoints (the first 100 by default).

        Example:
            >>> for ckpt in client.list_checkpoints(run_id):
            ...     print(ckpt.twinkle_path)
        """
        data = self.call("list_checkpoints", run_id, limit=limit, offset=offset)
        return _page(data, "checkpoints", Checkpoint)

    def iter_checkpoints(self, run_id: str, page_size: int = _MAX_PAGE) -> Iterator[Checkpoint]:
        """Every checkpoint of a run, page by page."""
        yield from _walk(lambda limit, offset: self.list_checkpoints(run_id, limit, offset), page_size)

    def get_checkpoint(self, run_id: str, checkpoint_id: str) -> Checkpoint:
        """One checkpoint by its ``ckpt_...`` id or its name."""
        return Checkpoint.model_validate(self.call("get_checkpoint_path", run_id, checkpoint_id))

    def get_checkpoint_path(self, run_id: str, checkpoint_id: str) -> str:
        """The ``twinkle://`` path of a checkpoint, for ``MultiLoraTransformersModel.load``."""
        return self.get_checkpoint(run_id, checkpoint_id).twinkle_path

    def get_latest_checkpoint_path(self, run_id: str) -> str | None:
        """The ``twinkle://`` path of the run's newest checkpoint, or None when it has none."""
        last = self.get_training_run(run_id).last_checkpoint
        return last.twinkle_path if last is not None else None

    def delete_checkpoint(self, run_id: str, checkpoint_id: str) -> None:
        """Delete a checkpoint (its files and its listing)."""
        self.call("delete_checkpoint", run_id, checkpoint_id)

    def get_weights_info(self, run_id: str, checkpoint_id: str | None = None) -> WeightsInfo:
        """The tensors (names, shapes, dtypes) and LoRA settings of a saved adapter.

        Args:
            run_id: the run, with ``checkpoint_id`` (name or ``ckpt_`` id); or alone, a
                ``twinkle://<run_id>/weights/<name>`` path as ``save`` returns and
                ``download_checkpoint`` takes.
        """
        if checkpoint_id is None:
            run_id, checkpoint_id = parse_twinkle_path(run_id)
        return WeightsInfo.model_validate(self.call("get_weights_info", run_id, checkpoint_id))

    def download_checkpoint(
        self,
        twinkle_path: str | tuple[str, str] | None = None,
        *,
        run_id: str | None = None,
        checkpoint_id: str | None = None,
        to: str | os.PathLike[str],
    ) -> Path:
        """Download a checkpoint as a PEFT adapter folder.

        Args:
            twinkle_path: ``twinkle://<run_id>/weights/<name>``, or a ``(run_id, checkpoint_id)``
                pair; or give ``run_id`` and ``checkpoint_id`` by keyword.
            to: the folder to write (created if missing); ``adapter_config.json`` and
                ``adapter_model.safetensors`` land in it.

        Returns:
            The folder, loadable with ``peft.PeftModel.from_pretrained(base_model, folder)``.

        Raises:
            UnsafeArchiveError: the archive holds links, absolute paths or ``..`` (nothing is written).
        """
        if isinstance(twinkle_path, tuple):
            (run_id, checkpoint_id), twinkle_path = twinkle_path, None
        run_id, checkpoint_id = _checkpoint_ref(twinkle_path, run_id, checkpoint_id)
        dest = Path(to).expanduser()
        dest.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".twinkle-ckpt-", suffix=".tar.gz", dir=dest)
        try:
            with os.fdopen(fd, "wb") as out:
                self._caller.download(
                    "download_checkpoint", run_id, checkpoint_id, to=out, label=checkpoint_id
                )
            return safe_extract(tmp_name, dest, strip_root=True)
        finally:
            Path(tmp_name).unlink(missing_ok=True)

    # -- training history ----------------------------------------------------------------------

    def get_run_history(
        self, run_id: str, limit: int = _MAX_HISTORY_PAGE, offset: int = 0, kind: str | None = None
    ) -> Page[HistoryPoint]:
        """One page of a run's recorded history, oldest first.

        Args:
            run_id: the run (``run_...``); its history stays after its session ended.
            limit: page size (1..1000).
            offset: points to skip.
            kind: only ``"train"`` (optimizer steps), ``"eval"`` or ``"train_metrics"`` points.

        Example:
            >>> for point in client.get_run_history(run_id, kind="train"):
            ...     print(point.step, point.loss, point.lr)
        """
        data = self.call("get_run_history", run_id, limit=limit, offset=offset, kind=kind)
        return _page(data, "points", HistoryPoint)

    def iter_run_history(
        self, run_id: str, kind: str | None = None, page_size: int = _MAX_HISTORY_PAGE
    ) -> Iterator[HistoryPoint]:
        """Every point of a run's history, fetched page by page as the iteration goes."""
        yield from _walk(
            lambda limit, offset: self.get_run_history(run_id, limit, offset, kind),
            page_size,
            _MAX_HISTORY_PAGE,
        )

    def export_run_history(self, run_id: str, format: str = "csv", kind: str | None = None) -> bytes:
        """A run's whole history as a file's bytes: ``format`` ``"csv"`` or ``"json"``."""
        if format not in ("csv", "json"):
            raise ValueError(f"format must be 'csv' or 'json', not {format!r}")
        return self._caller.raw(f"export_run_history_{format}", run_id, kind=kind)

    def get_upload_task(self, upload_id: str) -> UploadTask:
        """The state of a hub upload (``upl_...``)."""
        return UploadTask.model_validate(self.call("get_upload_task", upload_id))

    def upload_checkpoint(
        self,
        twinkle_path: str | None = None,
        *,
        run_id: str | None = None,
        checkpoint_id: str | None = None,
        hub_model_id: str,
        hub: str | None = None,
        private: bool = True,
        include_training_state: bool = False,
        hub_token: str | None = None,
    ) -> UploadTask:
        """Start publishing a checkpoint to a model hub; returns the pending upload.

        Args:
            twinkle_path: ``twinkle://<run_id>/weights/<name>``; or give ``run_id`` and
                ``checkpoint_id`` (its name or ``ckpt_`` id) by keyword.
            hub_model_id: ``org/name`` on the hub.
            hub: ``modelscope``, ``huggingface`` or ``local``; default the server's choice.
            private: create the hub repository private.
            include_training_state: also publish optimizer, scheduler and trainer state (private only).
            hub_token: your own hub token for this upload; sent once, never stored by the server.

        Returns:
            The upload; follow it with :meth:`wait_upload` or :meth:`get_upload_task`.
        """
        run_id, checkpoint_id = _checkpoint_ref(twinkle_path, run_id, checkpoint_id)
        body: dict[str, Any] = {"hub_model_id": hub_model_id, "private": bool(private)}
        if hub is not None:
            body["hub"] = hub
        if include_training_state:
            body["include_training_state"] = True
        if hub_token is not None:
            body["hub_token"] = hub_token
        return UploadTask.model_validate(
            self.call("upload_checkpoint_to_hub", run_id, checkpoint_id, body=body)
        )

    def wait_upload(self, upload: UploadTask, timeout: float | None = None) -> UploadTask:
        """Poll ``upload`` until it ends; the succeeded upload (``url`` set).

        Raises:
            RuntimeError: the upload failed (the message says why).
            TimeoutError: it did not end within ``timeout`` seconds (None: no limit).
        """
        from twinkle_client._progress import TaskBar

        deadline = None if timeout is None else time.monotonic() + timeout
        pause = _UPLOAD_POLL_S[0]
        bar = TaskBar(upload.hub_model_id)
        try:
            while upload.status not in ("succeeded", "failed"):
                bar.update(upload.progress)
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(
                        f"Upload {upload.upload_id} is still {upload.status} after {timeout:g} s"
                    )
                time.sleep(pause)
                pause = min(pause * 2, _UPLOAD_POLL_S[1])
                upload = self.get_upload_task(upload.upload_id)
            bar.update(upload.progress)
        finally:
            bar.close()
        if upload.status == "failed":
            message = (upload.error or {}).get("message", "no reason given")
            raise RuntimeError(
                f"Upload {upload.upload_id} to {upload.hub}:{upload.hub_model_id} failed: {message}"
            )
        return upload

    def get_task(self, task_id: str, wait: float | None = None) -> Task:
        """A long-running operation by id; ``wait`` long-polls up to that many seconds."""
        return Task.model_validate(self.call("get_task", task_id, wait=wait))


def _checkpoint_ref(
    twinkle_path: str | None, run_id: str | None, checkpoint_id: str | None
) -> tuple[str, str]:
    if twinkle_path is not None:
        if run_id is not None or checkpoint_id is not None:
            raise ValueError("Give a twinkle_path or run_id and checkpoint_id, not both")
        return parse_twinkle_path(twinkle_path)
    if not run_id or not checkpoint_id:
        raise ValueError("Give a twinkle_path, or both run_id and checkpoint_id")
    return run_id, checkpoint_id


def _page(data: Mapping[str, Any], key: str, model: type) -> Page:
    from twinkle_client.types import Cursor

    items = [model.model_validate(item) for item in data.get(key) or []]
    return Page(items, Cursor.model_validate(data["cursor"]))


def _walk(fetch: Any, page_size: int, max_page: int = _MAX_PAGE) -> Iterator[Any]:
    if not 1 <= page_size <= max_page:
        raise ValueError(f"page_size must be between 1 and {max_page}, got {page_size}")
    offset = 0
    while True:
        page = fetch(page_size, offset)
        yield from page
        offset += len(page)
        if not page or offset >= page.total_count:
            return


@atexit.register
def _close_open_clients() -> None:
    for client in list(_open_clients):
        client._close_at_exit()


def init_twinkle_client(
    base_url: str | None = None,
    api_key: str | None = None,
    *,
    timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
    max_retries: int = DEFAULT_MAX_RETRIES,
    transport: httpx.BaseTransport | None = None,
    poll_timeout: float | None = DEFAULT_POLL_TIMEOUT,
    session_metadata: Mapping[str, str] | None = None,
    defer_calls: bool = True,
) -> TwinkleClient:
    """Connect to a Twinkle server, open a session and make the client current.

    Args:
        base_url: the server; default ``$TWINKLE_SERVER_URL``, else ``http://127.0.0.1:8000``.
        api_key: the API key; default ``$TWINKLE_SERVER_TOKEN``. A missing key is an error.
        timeout, max_retries, transport, poll_timeout, session_metadata, defer_calls: see
            ``TwinkleClient``.

    Returns:
        The client. ``Dataset``, ``DataLoader`` and ``MultiLoraTransformersModel`` use it when
        built without ``client=``. Close it (or use it in a ``with`` block) to free the session's
        adapters at once; otherwise the server frees them after the heartbeats stop.

    Example:
        >>> client = init_twinkle_client("http://127.0.0.1:8000", api_key=os.environ["TWINKLE_SERVER_TOKEN"])
        >>> client.health_check().status
        'ok'
    """
    client = TwinkleClient(
        base_url,
        api_key,
        timeout=timeout,
        max_retries=max_retries,
        transport=transport,
        poll_timeout=poll_timeout,
        open_session=True,
        session_metadata=session_metadata,
        defer_calls=defer_calls,
    )
    set_current_client(client)
    return client
