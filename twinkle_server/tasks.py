"""Long work behind a short HTTP answer: wait a little, then hand out a task to poll.

An operation that may take long (an engine step, a dataset encode, a checkpoint save) is started as
a :class:`concurrent.futures.Future`. :meth:`TaskRunner.run` waits for it up to the wait window:

* finished in time: the caller gets the result and answers 200 (no task row is written, so the
  common fast path costs no database write);
* failed in time: the caller gets the exception and answers the error;
* still running: a task row is written and the caller answers 202 with it. When the future ends,
  its result or error is recorded on the row, where ``GET /tasks/{id}?wait=S`` finds it (a waiter
  in this process is woken at once; results stay in the database).

The work is never cancelled when a client disconnects or times out: it finishes, and the task or
the idempotency record keeps the outcome for the retry (design §8).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from twinkle_server.errors import NotFound, TwinkleError
from twinkle_server.progress import Progress, Throttle
from twinkle_server.requests.statuses import status_for
from twinkle_server.store import tasks as task_records
from twinkle_server.store.db import Store
from twinkle_server.store.models import Task, utcnow

__all__ = ["MAX_POLL_WAIT_S", "TaskFailed", "TaskRunner", "TaskView", "chain", "error_of"]

logger = logging.getLogger("twinkle_server.tasks")

MAX_POLL_WAIT_S = 60.0
ROW_POLL_INTERVAL_S = 0.25
"""How often a long-poll of a task run by another server process reads its row again."""
PROGRESS_WRITE_INTERVAL_S = 1.0
"""A running task's progress is written to its row at most this often (pollers in this process
read it live; the row serves other processes and keeps the last figure after the task ends)."""


class TaskFailed(TwinkleError):
    """A recorded failure replayed to a caller: keeps the status and code it had the first time."""

    def __init__(
        self, http_status: int, code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, details=details)
        self.http_status = http_status
        self.code = code


def error_of(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """(http status, error body without request id) for an exception raised by the work."""
    if isinstance(exc, TaskFailed):
        return exc.http_status, {"code": exc.code, "message": exc.message, "details": exc.details}
    if isinstance(exc, TwinkleError):
        return status_for(exc), {"code": exc.code, "message": exc.message, "details": exc.details}
    logger.error("task work failed with an unexpected error", exc_info=exc)
    return 500, {
        "code": "internal_error",
        "message": "internal server error while running the task",
        "details": {},
    }


@dataclass(frozen=True)
class TaskView:
    """What the API shows of a task (the spec's ``Task``)."""

    task_id: str
    status: str
    operation: str
    training_run_id: str | None
    created_at: datetime
    finished_at: datetime | None
    result: Any | None
    error: dict[str, Any] | None
    http_status: int | None
    progress: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "status": self.status,
            "operation": self.operation,
            "training_run_id": self.training_run_id,
            "created_at": self.created_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "result": self.result,
            "error": {"request_id": "", **self.error} if self.error is not None else None,
            "http_status": self.http_status,
            "progress": self.progress,
        }

    def raise_if_failed(self) -> None:
        if self.status == "failed":
            error = self.error or {}
            raise TaskFailed(
                self.http_status or 500,
                str(error.get("code", "internal_error")),
                str(error.get("message", "the task failed")),
                error.get("details") or {},
            )


def _view(row: Task) -> TaskView:
    return TaskView(
        task_id=row.id,
        status=row.status,
        operation=row.operation,
        training_run_id=row.run_id,
        created_at=row.created_at,
        finished_at=row.finished_at,
        result=row.result,
        error=row.error,
        http_status=row.http_status,
        progress=row.progress,
    )


@dataclass
class _Live:
    """A task whose future this process holds (until its outcome is in the row)."""

    future: Future[Any]
    row: TaskView
    success_status: int = 200
    request_id: str = ""
    progress: Progress | None = None


def chain(future: Future[Any], then: Callable[[Any], Any], executor: ThreadPoolExecutor) -> Future[Any]:
    """A future for ``then(future.result())``, run on ``executor``; errors pass through unchanged.

    Used where the answer needs a step after the engine's, e.g. recording a checkpoint row once
    the engine has written the files.
    """
    out: Future[Any] = Future()

    def _run(value: Any) -> None:
        if not out.set_running_or_notify_cancel():
            return
        try:
            out.set_result(then(value))
        except BaseException as exc:
            out.set_exception(exc)

    def _done(f: Future[Any]) -> None:
        exc = f.exception()
        if exc is not None:
            out.set_exception(exc)
        else:
            executor.submit(_run, f.result())

    future.add_done_callback(_done)
    return out


class TaskRunner:
    """Runs callables in a thread pool, waits the window, records tasks that outlive it.

    Args:
        store: where task rows live.
        wait_window_s: how long an operation's HTTP request waits before answering 202.
        threads: size of the pool for work that is not engine work (data ops, uploads, follow-ups).
        instance_id: the server instance recorded on the tasks (``store/instances.py``); its
            tasks are left alone by other processes while it lives.
    """

    def __init__(
        self, store: Store, *, wait_window_s: float, threads: int = 8, instance_id: str | None = None
    ) -> None:
        self.store = store
        self.wait_window_s = wait_window_s
        self.instance_id = instance_id
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="twinkle-task")
        self._recorder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="twinkle-task-record")
        self._live: dict[str, _Live] = {}
        self._lock = threading.Lock()
        self._progress: weakref.WeakKeyDictionary[Future[Any], Progress] = weakref.WeakKeyDictionary()

    # -- life cycle -------------------------------------------------------------------------

    def recover(self) -> int:
        """Mark failed the unfinished tasks and uploads that no live server instance runs; how many."""
        with self.store.session() as s:
            return len(task_records.fail_orphaned_tasks(s))

    def close(self, *, wait: bool = True) -> None:
        self.executor.shutdown(wait=wait, cancel_futures=not wait)
        self._recorder.shutdown(wait=wait)

    # -- starting work ----------------------------------------------------------------------

    def start(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Run ``fn`` on the task pool (for work that is not already an engine future).

        ``fn`` runs with a :class:`Progress` bound, so what it reports shows on its task.
        """
        progress = Progress()
        future = self.executor.submit(progress.run, fn, *args, **kwargs)
        with self._lock:
            self._progress[future] = progress
        return future

    def watch_queue(self, future: Future[Any], ops_ahead: Callable[[Future[Any]], int | None]) -> None:
        """Report ``future``'s place in an engine queue (``ops_ahead(future)``) while it waits."""
        ref = weakref.ref(future)  # the progress must not keep its own key alive

        def probe() -> int | None:
            held = ref()
            return ops_ahead(held) if held is not None else None

        with self._lock:
            self._progress[future] = Progress(probe=probe)

    def _follows(self, out: Future[Any], source: Future[Any]) -> Future[Any]:
        """``out`` continues ``source``: it shows ``source``'s progress."""
        with self._lock:
            progress = self._progress.get(source)
            if progress is not None:
                self._progress[out] = progress
        return out

    def then(self, future: Future[Any], fn: Callable[[Any], Any]) -> Future[Any]:
        """See :func:`chain`; runs ``fn`` on this runner's pool."""
        return self._follows(chain(future, fn, self.executor), future)

    def after(self, future: Future[Any], fn: Callable[[Future[Any]], Any]) -> Future[Any]:
        """A future for ``fn(future)`` run on this pool once ``future`` is done, failed or not.

        For follow-ups that must also clean up after a failure (a checkpoint's temporary folder).
        """
        out: Future[Any] = Future()

        def _run(done: Future[Any]) -> None:
            if not out.set_running_or_notify_cancel():
                return
            try:
                out.set_result(fn(done))
            except BaseException as exc:
                out.set_exception(exc)

        future.add_done_callback(lambda f: self.executor.submit(_run, f))
        return self._follows(out, future)

    async def run(
        self,
        future: Future[Any],
        *,
        user_id: str,
        operation: str,
        run_id: str | None = None,
        wait_s: float | None = None,
        success_status: int = 200,
        request_id: str = "",
    ) -> tuple[Any, TaskView | None]:
        """Wait for ``future`` up to the window: ``(result, None)`` when done, else ``(None, task)``.

        Raises:
            whatever the future raised, when it failed within the window.
        """
        window = self.wait_window_s if wait_s is None else wait_s
        wrapped = asyncio.wrap_future(future)
        # A failure after the window is reported through the task; mark it retrieved here so
        # asyncio does not log it as lost.
        wrapped.add_done_callback(lambda f: f.cancelled() or f.exception())
        try:
            result = await asyncio.wait_for(asyncio.shield(wrapped), timeout=window)
        except TimeoutError:
            task = await asyncio.to_thread(
                self._record_pending, future, user_id, operation, run_id, success_status, request_id
            )
            return None, task
        return result, None

    def _record_pending(
        self,
        future: Future[Any],
        user_id: str,
        operation: str,
        run_id: str | None,
        success_status: int,
        request_id: str,
    ) -> TaskView:
        with self.store.session() as s:
            row = task_records.create_task(
                s, user_id=user_id, operation=operation, run_id=run_id, instance_id=self.instance_id
            )
            if future.running():
                row = task_records.start_task(s, task_id=row.id)
            view = _view(row)
        with self._lock:
            progress = self._progress.get(future)
        live = _Live(
            future=future,
            row=view,
            success_status=success_status,
            request_id=request_id,
            progress=progress,
        )
        with self._lock:
            self._live[view.task_id] = live
        if progress is not None:
            write = Throttle(
                lambda snap: self._recorder.submit(self._record_progress, view.task_id, snap),
                PROGRESS_WRITE_INTERVAL_S,
            )
            progress.listen(write)
        future.add_done_callback(
            lambda f: self._recorder.submit(self._record_outcome, view.task_id, f, success_status, request_id)
        )
        return view

    def _record_progress(self, task_id: str, snapshot: dict[str, Any]) -> None:
        try:
            with self.store.session() as s:
                task_records.set_task_progress(s, task_id=task_id, progress=snapshot)
        except Exception:
            logger.exception("could not record the progress of task %s", task_id)

    def _record_outcome(
        self, task_id: str, future: Future[Any], success_status: int, request_id: str
    ) -> None:
        try:
            exc = future.exception()
            with self._lock:
                live = self._live.get(task_id)
            progress = live.progress.snapshot() if live is not None and live.progress else None
            with self.store.session() as s:
                if exc is None:
                    task_records.finish_task(
                        s,
                        task_id=task_id,
                        result=future.result(),
                        http_status=success_status,
                        progress=progress,
                    )
                else:
                    status, error = error_of(exc)
                    error["request_id"] = request_id
                    task_records.finish_task(
                        s, task_id=task_id, error=error, http_status=status, progress=progress
                    )
        except Exception:
            logger.exception("could not record the outcome of task %s", task_id)
        finally:
            with self._lock:
                self._live.pop(task_id, None)

    # -- reading tasks ----------------------------------------------------------------------

    def _read(self, task_id: str, user_id: str) -> TaskView:
        with self.store.read_session() as s:  # a long-poll reads often: never wait for writers
            row = task_records.get_task(s, user_id=user_id, task_id=task_id)
            if row is None:
                raise NotFound(f"task {task_id!r} not found", details={"task_id": task_id})
            return _view(row)

    def _from_live(self, live: _Live) -> TaskView:
        """The live task's state straight from its future (the row may not be updated yet)."""
        future = live.future
        progress = live.progress.snapshot() if live.progress is not None else live.row.progress
        if not future.done():
            status = "running" if future.running() else live.row.status
            return replace(live.row, status=status, progress=progress)
        exc = future.exception()
        if exc is None:
            return replace(
                live.row,
                progress=progress,
                status="succeeded",
                result=future.result(),
                http_status=live.success_status,
                finished_at=utcnow(),
            )
        http_status, error = error_of(exc)
        error["request_id"] = live.request_id
        return replace(
            live.row,
            status="failed",
            error=error,
            http_status=http_status,
            finished_at=utcnow(),
            progress=progress,
        )

    async def get(self, task_id: str, *, user_id: str, wait_s: float = 0.0) -> TaskView:
        """The task, after waiting up to ``wait_s`` (capped at 60 s) for it to finish.

        Raises:
            NotFound: no such task, or another user's.
        """
        view = await asyncio.to_thread(self._read, task_id, user_id)
        if view.status in ("succeeded", "failed"):
            return view
        with self._lock:
            live = self._live.get(task_id)
        wait = min(max(wait_s, 0.0), MAX_POLL_WAIT_S)
        if live is None:
            # Finished since the read (its row, written before it left _live, is final now), or
            # run by another server process: read the row again rather than answer the older view,
            # whose progress can be behind what a poll of the live task already showed.
            return await self._read_until_finished(task_id, user_id, wait)
        if wait > 0:
            try:
                await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(live.future)), timeout=wait)
            except TimeoutError:
                pass
            except BaseException:  # the failure is reported through the task, not raised here
                pass
        return self._from_live(live)

    async def _read_until_finished(self, task_id: str, user_id: str, wait_s: float) -> TaskView:
        """The task's row, read again every :data:`ROW_POLL_INTERVAL_S` until it has finished or
        ``wait_s`` has passed: a long-poll of a task that another server process runs."""
        deadline = asyncio.get_running_loop().time() + wait_s
        while True:
            view = await asyncio.to_thread(self._read, task_id, user_id)
            left = deadline - asyncio.get_running_loop().time()
            if view.status in ("succeeded", "failed") or left <= 0:
                return view
            await asyncio.sleep(min(ROW_POLL_INTERVAL_S, left))

    def view_of_live(self, task_id: str) -> TaskView | None:
        """The in-process state of a task this runner holds, or None."""
        with self._lock:
            live = self._live.get(task_id)
        return self._from_live(live) if live is not None else None
