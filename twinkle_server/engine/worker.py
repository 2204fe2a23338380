"""The work queue of one served base model: one thread owns the device, tenants share it fairly.

Why a dedicated thread: the model (`MultiLoraModel`) is not thread-safe and every operation
touches the device, so exactly one thread may drive it. The HTTP layer, the local face and the
session reaper all call in from their own threads; they get a `concurrent.futures.Future` back and
never touch the model themselves.

Scheduling::

    submit(run, op) ──► per-run FIFO (bounded) ──┐
                                                 ├─► round = one head op per waiting owner
    submit(other, op) ─► per-run FIFO (bounded) ─┘        │
                                                          ▼
                         other ops: one after another ◄── Rounds.run ──► forward work: fused passes
                                                          (rounds.py)

- Operations of one run execute in submission order: a run contributes at most one op per round
  and rounds run one after another.
- Owners are served round robin, then their runs: every owner with work gets exactly one op per
  round, taken from its runs in turn, so a tenant that submits continuously, or from many runs,
  cannot starve another; the owner that starts a round rotates. A run's owner is the opaque string
  given to `create_run` (the server's user id), by default the run itself. Fairness is
  counted in operations, not device seconds: a tenant sending bigger batches gets more time per op
  (bounded by the model's `max_length` and the server's batch limits).
- Forward work of a round (forward, forward_only, forward_backward, backward; the model's
  ``FUSABLE_OPS``) is checked per op first (`prepare`: a bad op fails alone), then packed into
  passes under the model's token budget (``planner.py``) and run as few passes over the base model.
  When a round holds forward work but misses runs that shared the previous pass, the worker waits
  up to ``fusion_wait_s`` for their forward work (running their other ops as they come): tenants
  in lockstep then keep sharing passes. Fairness orders turns, it excludes nobody from a pass: the
  forward work at the head of runs whose owner's turn went to another run joins the pass too.
- Creating and releasing a run go through the same queue (they mutate the model), so an op
  submitted after `create_run` sees the run, and `release_run` waits for the ops queued before it.
- A failing op (any exception, OutOfMemory included) fails only its own future.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from twinkle_server.engine.fusion import DEFAULT_FUSION_WAIT_S, PassStats
from twinkle_server.engine.queues import (
    CREATE_RUN,
    DEFAULT_MAX_QUEUE_PER_RUN,
    RELEASE_RUN,
    QueuedOp,
    RunQueues,
)
from twinkle_server.engine.rounds import Rounds, fail_op
from twinkle_server.engine.worker_status import WorkerState, WorkerStats, not_serving, shutting_down
from twinkle_server.errors import (
    CapacityExceeded,
    Conflict,
    InvalidInput,
    Unavailable,
)

if TYPE_CHECKING:
    from twinkle_server.engine.spec import Capacity, ModelSpec

__all__ = [
    "DEFAULT_FUSION_WAIT_S",
    "DEFAULT_MAX_QUEUE_PER_RUN",
    "ModelWorker",
    "PassStats",
    "WorkerState",
    "WorkerStats",
]

logger = logging.getLogger(__name__)


class ModelWorker:
    """Serves one base model: loads it on its own thread and runs every tenant's operations there.

    Args:
        spec: the model to serve and its limits.
        resolver: passed to the model to find the weights (`twinkle_server.resolver.Resolver`).
        model_factory: builds the model on the worker thread as ``model_factory(spec, resolver=...)``;
            unless given, `MultiLoraModel`, or `ShardedReplica` (``replica.py``) when
            ``spec.shard_ranks`` > 1. A model with a ``failure`` attribute that becomes set (a
            sharded replica that lost a rank) makes the worker FAILED: its ops then get that error.
        max_queue_per_run: ops one run may have waiting; more fail with CapacityExceeded.
        fuse: run several runs' forward work in shared passes (the model's ``FUSABLE_OPS``); False
            runs every op on its own, one after another.
        fusion_wait_s: how long a round with forward work may wait for the runs of the last pass.

    Every call returns a future (errors included: a rejected submit gives a failed future), so a
    caller handles success and failure in one place. Futures fail with the model's domain errors
    unchanged (InvalidInput, NotFound, ...), with `Unavailable` when the model is not loaded or the
    worker shuts down, with `OutOfMemory` when the device ran out of memory for that op, and with
    the original exception for a bug (logged with its traceback).

    Example:
        >>> worker = ModelWorker(ModelSpec("tiny", path=model_dir))
        >>> worker.start()
        >>> worker.create_run("run_a", lora={"r": 8}).result()
        >>> worker.submit("run_a", "forward_backward", inputs=rows).result()["loss"]
    """

    def __init__(
        self,
        spec: ModelSpec,
        *,
        resolver: Any = None,
        model_factory: Callable[..., Any] | None = None,
        max_queue_per_run: int = DEFAULT_MAX_QUEUE_PER_RUN,
        fuse: bool = True,
        fusion_wait_s: float = DEFAULT_FUSION_WAIT_S,
    ) -> None:
        if max_queue_per_run < 1:
            raise InvalidInput(f"max_queue_per_run must be at least 1, got {max_queue_per_run}")
        self._spec = spec
        self._resolver = resolver
        self._factory = model_factory
        self._cond = threading.Condition()
        self._queues = RunQueues(max_queue_per_run)
        self._state = WorkerState.NEW
        self._load_error: BaseException | None = None
        self._lost: BaseException | None = None  # why a loaded model stopped serving (``failure``)
        self._stop_requested = False
        self._model: Any = None
        self._capacity: Capacity | None = None
        self._thread: threading.Thread | None = None
        self._rounds = Rounds(
            spec.model_id,
            self._queues,
            self._cond,
            fuse=fuse,
            fusion_wait_s=fusion_wait_s,
            call_model=self._call_model,
            stopping=lambda: self._stop_requested,
            after_failure=self._model_lost,
        )

    # ------------------------------------------------------------------ lifecycle

    @property
    def model_id(self) -> str:
        return self._spec.model_id

    @property
    def spec(self) -> ModelSpec:
        return self._spec

    @property
    def state(self) -> WorkerState:
        return self._state

    def start(self) -> None:
        """Start the worker thread; it loads the model, then serves. Returns at once.

        Operations submitted while the model loads wait for it. Use `wait_ready` to block.
        """
        with self._cond:
            if self._state is not WorkerState.NEW:
                raise Conflict(f"worker for {self.model_id!r} was already started (state {self._state})")
            self._state = WorkerState.LOADING
            self._thread = threading.Thread(
                target=self._main, name=f"twinkle-worker-{self.model_id}", daemon=True
            )
            self._thread.start()

    def wait_ready(self, timeout: float | None = None) -> None:
        """Block until the model is loaded; raise Unavailable if it failed, stopped or took too long."""
        with self._cond:
            ready = self._cond.wait_for(lambda: self._state is not WorkerState.LOADING, timeout)
            if not ready:
                raise Unavailable(f"model {self.model_id!r} is still loading", retry_after=5.0)
            if self._state is not WorkerState.READY:
                raise self._not_serving()

    def stop(self, timeout: float | None = None) -> None:
        """Shut down: the op already running finishes, every op not yet started fails.

        Queued futures fail at once with Unavailable("... shutting down"), even while a long op
        runs; then this waits up to `timeout` seconds for the running op and the thread to end.
        Calling it again, or before `start`, is harmless.
        """
        with self._cond:
            self._stop_requested = True
            dropped = self._queues.drain()
            if self._state is WorkerState.NEW:
                self._state = WorkerState.STOPPED
            self._cond.notify_all()
        for op in dropped:
            fail_op(op, shutting_down(self.model_id))
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def __enter__(self) -> ModelWorker:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ model facts

    @property
    def tokenizer(self) -> Any:
        """The model's tokenizer; Unavailable until the model is loaded."""
        model = self._model
        if self._state is not WorkerState.READY or model is None:
            raise self._not_serving()
        return model.tokenizer

    @property
    def token_budget(self) -> int | None:
        """Positions one pass may hold (the planner's budget): the loaded model's, else the setting's
        (None before load when it is derived from device memory). A request over it is refused."""
        model = self._model
        budget = getattr(model, "token_budget", None) if model is not None else None
        return budget if isinstance(budget, int) else self._spec.pass_token_budget

    def reference_rows(self, run_id: str, rows: int, *, loss_name: str | None, given: bool) -> int:
        """Rows a forward of ``rows`` rows adds to its pass to score a preference loss's reference
        policy (``MultiLoraModel.reference_rows``); 0 before the model is loaded. They count
        against the token budget like the rows themselves."""
        model = self._model
        if self._state is not WorkerState.READY or model is None or not hasattr(model, "reference_rows"):
            return 0
        return model.reference_rows(run_id, rows, loss_name=loss_name, given=given)

    def capacity(self) -> Capacity:
        """How many adapters the model holds and can still take. Safe from any thread.

        A snapshot taken on the worker thread after every create and release; before the model has
        loaded it reports the configured limit with nothing used.
        """
        snapshot = self._capacity
        if snapshot is not None:
            return snapshot
        from twinkle_server.engine.spec import Capacity

        limit = self._spec.max_loras
        return Capacity(max_loras=limit, used=0, free=limit)

    def stats(self) -> WorkerStats:
        fused = self._rounds.fused
        with self._cond:
            by_run = self._queues.depths()
            return WorkerStats(
                state=self._state,
                queued=sum(by_run.values()),
                queued_by_run=by_run,
                executed=self._rounds.executed,
                failed=self._rounds.failed,
                passes=fused.passes,
                fused_ops=fused.fused_ops,
                last_pass=fused.last_pass,
                pass_seconds=fused.pass_seconds,
                pass_positions=fused.pass_positions,
                fusion_wait_seconds=fused.wait_seconds,
            )

    def ops_ahead(self, future: Future) -> int | None:
        """How many queued ops run before the one of ``future``; None once it left the queue."""
        with self._cond:
            return self._queues.ahead_of(future)

    # ------------------------------------------------------------------ submitting work

    def submit(self, run_id: str, op: str, /, *, owner: str | None = None, **kwargs: Any) -> Future[dict]:
        """Queue operation `op` of run `run_id`; the future gets the model's result dict.

        Operations of one run run in the order submitted. Unknown operation names, a full queue,
        a failed or stopped worker give an already-failed future. ``owner`` files a queue that was
        never created as a run (a sampler's) under an owner's turns; a created run keeps its own.
        """
        accepted = self._operations()
        if accepted is not None and op not in accepted:
            return _failed_future(
                InvalidInput(
                    f"unknown operation {op!r}; accepted: {', '.join(sorted(accepted))}",
                    details={"operation": op, "accepted": sorted(accepted)},
                )
            )
        return self._enqueue(QueuedOp(run_id, op, kwargs), owner=owner, replace=False)

    def create_run(
        self,
        run_id: str,
        *,
        lora: dict,
        gradient_accumulation_steps: int = 1,
        seed: int | None = None,
        owner: str | None = None,
    ) -> Future[dict]:
        """Add run `run_id`'s adapter to the model (queued like any op of that run).

        ``owner`` (opaque; default the run id) groups runs for fair share: rounds take turns per
        owner first, then per run within an owner, so many runs of one owner get one owner's share.
        """
        kwargs = {"lora": lora, "gradient_accumulation_steps": gradient_accumulation_steps, "seed": seed}
        return self._enqueue(QueuedOp(run_id, CREATE_RUN, kwargs), owner=owner or run_id)

    def release_run(self, run_id: str) -> Future[None]:
        """Free run `run_id`'s adapter after the ops queued before this call have run."""
        return self._enqueue(QueuedOp(run_id, RELEASE_RUN, {}))

    def _enqueue(self, op: QueuedOp, *, owner: str | None = None, replace: bool = True) -> Future:
        with self._cond:
            if self._stop_requested:
                return _failed_future(shutting_down(self.model_id))
            if self._state is WorkerState.FAILED:
                return _failed_future(self._not_serving())
            if owner is not None:
                self._queues.set_owner(op.run_id, owner, replace=replace)
            try:
                self._queues.put(op)
            except CapacityExceeded as exc:
                return _failed_future(exc)
            if op.name == RELEASE_RUN:
                self._queues.forget_owner(op.run_id)  # its waiting ops keep their owner's turns
            self._cond.notify_all()
        return op.future

    def _operations(self) -> frozenset[str] | None:
        """The op names the model accepts, when it declares them (checked before queueing)."""
        source = self._model if self._model is not None else self._factory or _default_factory(self._spec)
        accepted = getattr(source, "OPERATIONS", None)
        return frozenset(accepted) if accepted is not None else None

    # ------------------------------------------------------------------ the worker thread

    def _not_serving(self) -> BaseException:
        return self._lost or not_serving(self._state, self.model_id, self._load_error)

    def _main(self) -> None:
        if not self._load():
            return
        while True:
            ops = self._next_round()
            if ops is None:
                break
            self._rounds.run(self._model, ops)
            if self._model_lost():
                break
        self._unload()

    def _model_lost(self) -> bool:
        """A model that can break while serving (a sharded replica that lost a rank) sets its
        ``failure``: the worker then fails, and every queued or later op gets that error (503)."""
        failure = getattr(self._model, "failure", None)
        if failure is None:
            return False
        if self._lost is None:  # first noticed: by the op that failed with it, or after its round
            logger.error("model %r stopped serving: %s", self.model_id, failure)
            self._fail_serving(lost=failure)
        return True

    def _fail_serving(
        self, *, load_error: BaseException | None = None, lost: BaseException | None = None
    ) -> None:
        """The worker reports FAILED, and every queued op fails with the reason (503)."""
        with self._cond:
            self._load_error, self._lost = load_error, lost
            self._state = WorkerState.FAILED
            dropped = self._queues.drain()
            self._cond.notify_all()
        for op in dropped:
            fail_op(op, self._not_serving())

    def _load(self) -> bool:
        started = time.perf_counter()
        try:
            factory = self._factory or _default_factory(self._spec)
            model = factory(self._spec, resolver=self._resolver)
            capacity = model.capacity()
        except BaseException as exc:
            logger.exception("model %r failed to load", self.model_id)
            self._fail_serving(load_error=exc)
            return False
        with self._cond:
            self._model = model
            self._capacity = capacity
            self._state = WorkerState.READY
            self._cond.notify_all()
        logger.info("model %r ready in %.1fs", self.model_id, time.perf_counter() - started)
        return True

    def _unload(self) -> None:
        model = self._model
        with self._cond:
            self._model = None
            if self._state is not WorkerState.FAILED:
                self._state = WorkerState.STOPPED
            self._cond.notify_all()
        close = getattr(model, "close", None)
        if close is not None:
            close()  # a sharded replica stops its other ranks
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _next_round(self) -> list[QueuedOp] | None:
        """Wait for work; take the head op of every waiting run. None once stop() was called."""
        with self._cond:
            self._cond.wait_for(lambda: self._stop_requested or bool(self._queues))
            if self._stop_requested:
                return None
            return self._queues.next_round()

    def _call_model(self, op: QueuedOp) -> Any:
        model = self._model
        if op.name not in (CREATE_RUN, RELEASE_RUN):
            return model.run_op(op.run_id, op.name, **op.kwargs)
        try:
            if op.name == CREATE_RUN:
                return model.add_run(op.run_id, **op.kwargs)
            model.remove_run(op.run_id)
            return None
        finally:
            self._capacity = model.capacity()


def _default_factory(spec: ModelSpec) -> Callable[..., Any]:
    """``MultiLoraModel``, or its sharded replica when the spec spreads the model over processes."""
    if getattr(spec, "shard_ranks", 1) > 1:
        from twinkle_server.engine.replica import ShardedReplica

        return ShardedReplica
    from twinkle_server.engine.multilora import MultiLoraModel

    return MultiLoraModel


def _failed_future(error: BaseException) -> Future:
    future: Future = Future()
    future.set_exception(error)
    return future
