"""Several replicas of one base model behind the worker interface the HTTP layer already uses.

``Runtime.workers[model_id]`` may be a :class:`ReplicaPool` instead of one ``ModelWorker``: the
HTTP layer calls ``create_run``, ``submit``, ``release_run``, ``capacity`` as before, and the pool

- places a new run on the least-loaded live replica (fewest adapters, then fewest queued ops),
- routes every later operation of the run to that replica (sticky; the placement is kept in the
  store, ``store/placements.py``, so another ingress process routes alike),
- reports capacity as the sum over live replicas,
- when a replica dies: operations that were in flight on it fail with ``Unavailable`` (503, a
  message that says to retry), and the run's next operation first re-creates the run on a live
  replica from its last checkpoint (weights, and optimizer state when the checkpoint holds it),
  then runs. Nothing acknowledged is lost: a checkpoint is listed only once its files are
  durable, and a step not covered by a checkpoint was never acknowledged as saved.

Operations of one run keep their order: while a run is being moved, its operations queue behind
the move on the pool's own thread instead of reaching a replica directly.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from twinkle_server.engine.spec import Capacity
from twinkle_server.engine.worker import WorkerState, WorkerStats
from twinkle_server.errors import CapacityExceeded, InvalidInput, Unavailable
from twinkle_server.scale.replica import Replica
from twinkle_server.store import placements
from twinkle_server.store.checkpoints import latest_checkpoint
from twinkle_server.store.db import Store
from twinkle_server.store.models import TrainingRun

__all__ = ["ReplicaPool", "replica_lost"]

logger = logging.getLogger(__name__)

MOVE_TIMEOUT_S = 600.0


def replica_lost(run_id: str, replica: str) -> Unavailable:
    """The error of an operation whose replica died under it: 503, retry (the client does)."""
    return Unavailable(
        f"the replica holding training run {run_id} ({replica}) stopped while this operation ran; "
        "retry it: the run continues on another replica from its last checkpoint",
        retry_after=1.0,
    )


def _failed(exc: BaseException) -> Future:
    future: Future = Future()
    future.set_exception(exc)
    return future


class ReplicaPool:
    """The worker of one base model served by several replicas (see the module doc).

    Args:
        model_id: the served model's id (what placements are recorded under).
        replicas: its replicas, each with a distinct ``name``.
        store: the shared database (placements, runs, checkpoints).
        data_dir: where checkpoint paths in the store are relative to.
        spec: the model's ``ModelSpec`` (what ``worker.spec`` answers).
    """

    def __init__(
        self, model_id: str, replicas: Sequence[Replica], *, store: Store, data_dir: Path, spec: Any = None
    ) -> None:
        if not replicas:
            raise InvalidInput(f"model {model_id!r} needs at least one replica")
        names = [r.name for r in replicas]
        if len(set(names)) != len(names):
            raise InvalidInput(f"replica names of {model_id!r} must differ, got {names}")
        self.model_id = model_id
        self.spec = spec
        self._replicas = {r.name: r for r in replicas}
        self._store = store
        self._data_dir = Path(data_dir)
        self._lock = threading.Lock()
        self._placed: dict[str, tuple[str, str]] = {}  # run id -> (replica name, incarnation)
        self._queued_moves: Counter[str] = Counter()  # run id -> its operations waiting on the mover
        self._mover = ThreadPoolExecutor(1, thread_name_prefix=f"twinkle-pool-{model_id}")

    # -- life cycle -----------------------------------------------------------------------------

    @property
    def replicas(self) -> list[Replica]:
        return list(self._replicas.values())

    @property
    def state(self) -> WorkerState:
        """READY when any live replica serves; LOADING while none does and some are (re)starting."""
        states = {r.name: r.state() for r in self._replicas.values()}
        if any(r.alive() and states[r.name] is WorkerState.READY for r in self._replicas.values()):
            return WorkerState.READY
        if WorkerState.LOADING in states.values() or WorkerState.NEW in states.values():
            return WorkerState.LOADING
        return WorkerState.FAILED

    def start(self) -> None:
        for replica in self._replicas.values():
            replica.start()

    def stop(self, timeout: float | None = None) -> None:
        for replica in self._replicas.values():
            replica.stop(timeout)
        self._mover.shutdown(wait=False, cancel_futures=True)

    def wait_ready(self, timeout: float | None = None) -> None:
        """Return once one replica serves (the others may still load).

        Raises:
            Unavailable: none serves within ``timeout`` seconds, or every replica failed.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            state = self.state
            if state is WorkerState.READY:
                return
            if state is WorkerState.FAILED:
                raise Unavailable(f"no replica of {self.model_id!r} is alive", retry_after=5.0)
            if deadline is not None and time.monotonic() >= deadline:
                raise Unavailable(f"model {self.model_id!r} is still loading", retry_after=5.0)
            time.sleep(0.1)

    @property
    def token_budget(self) -> int | None:
        """Positions one pass may hold, for the check before queueing: the configured
        ``pass_token_budget``. None when each replica derives its own from its device memory,
        which the pool does not see: that check is then left out, and each replica's planner
        still sizes its passes."""
        return getattr(self.spec, "pass_token_budget", None)

    def reference_rows(self, run_id: str, rows: int, *, loss_name: str | None, given: bool) -> int:
        """Rows a forward adds to score a preference loss's reference (``ModelWorker.reference_rows``),
        asked of the replica holding the run when it runs in this process. Of a run on another
        process the pool knows no loss: only this call's ``loss_name`` counts."""
        worker = getattr(self._holder(run_id), "worker", None)
        if worker is not None:
            return worker.reference_rows(run_id, rows, loss_name=loss_name, given=given)
        if loss_name is None:
            return 0
        from twinkle_server.engine.reference import reference_rows

        return reference_rows(rows, loss_name=loss_name, given=given)

    def capacity(self) -> Capacity:
        caps = [r.capacity() for r in self._live()]
        limit = sum(c.max_loras for c in caps)
        used = sum(c.used for c in caps)
        return Capacity(max_loras=limit, used=used, free=max(limit - used, 0))

    def stats(self) -> WorkerStats:
        stats = [r.stats() for r in self._live()]
        by_run: dict[str, int] = {}
        for one in stats:
            by_run.update(one.queued_by_run)
        return WorkerStats(
            state=self.state,
            queued=sum(s.queued for s in stats),
            queued_by_run=by_run,
            executed=sum(s.executed for s in stats),
            failed=sum(s.failed for s in stats),
            passes=sum(s.passes for s in stats),
            fused_ops=sum(s.fused_ops for s in stats),
        )

    # -- placing runs ---------------------------------------------------------------------------

    def _live(self) -> list[Replica]:
        return [r for r in self._replicas.values() if r.alive()]

    def _least_loaded(self) -> Replica:
        """The live, ready replica with the most free adapter slots (then the shortest queue)."""
        candidates = []
        for replica in self._live():
            if replica.state() is not WorkerState.READY:
                continue
            cap = replica.capacity()
            if cap.free > 0:
                candidates.append((-cap.free, replica.stats().queued, replica.name, replica))
        if not candidates:
            raise CapacityExceeded(f"every replica of {self.model_id!r} is full or down; retry later")
        return min(candidates, key=lambda c: c[:3])[3]

    def _record(self, run_id: str, replica: Replica) -> None:
        incarnation = replica.incarnation()
        with self._store.session() as s:
            placements.set_placement(
                s, run_id=run_id, base_model=self.model_id, replica=replica.name, incarnation=incarnation
            )
        with self._lock:
            self._placed[run_id] = (replica.name, incarnation)

    def placement(self, run_id: str) -> tuple[str, str] | None:
        """(replica name, incarnation) holding ``run_id``, from memory or the store."""
        with self._lock:
            found = self._placed.get(run_id)
        if found is not None:
            return found
        with self._store.read_session() as s:
            row = placements.get_placement(s, run_id=run_id)
        return None if row is None else (row.replica, row.incarnation)

    def _holder(self, run_id: str) -> Replica | None:
        """The replica holding ``run_id``'s adapter now, or None when it must be (re)created."""
        found = self.placement(run_id)
        if found is None:
            return None
        replica = self._replicas.get(found[0])
        if replica is None or not replica.alive() or replica.incarnation() != found[1]:
            return None
        return replica

    def create_run(
        self,
        run_id: str,
        *,
        lora: dict,
        gradient_accumulation_steps: int = 1,
        seed: int | None = None,
        owner: str | None = None,
    ) -> Future[dict]:
        try:
            replica = self._least_loaded()
        except CapacityExceeded as exc:
            return _failed(exc)
        inner = replica.create_run(
            run_id, lora=lora, gradient_accumulation_steps=gradient_accumulation_steps, seed=seed, owner=owner
        )
        outer: Future[dict] = Future()

        def placed(done: Future) -> None:
            try:
                result = done.result()
                self._record(run_id, replica)
            except BaseException as exc:
                outer.set_exception(self._lost_or(exc, replica, run_id))
            else:
                outer.set_result(result)

        inner.add_done_callback(placed)
        return outer

    def release_run(self, run_id: str) -> Future[None]:
        replica = self._holder(run_id)
        with self._lock:
            self._placed.pop(run_id, None)
        with self._store.session() as s:
            placements.clear_placement(s, run_id=run_id)
        if replica is None:  # its replica is gone, and the adapter with it
            done: Future[None] = Future()
            done.set_result(None)
            return done
        return replica.release_run(run_id)

    # -- running operations ---------------------------------------------------------------------

    def submit(self, run_id: str, op: str, /, **kwargs: Any) -> Future[dict]:
        """Run ``op`` on the replica holding ``run_id``; move the run first when that one is gone."""
        with self._lock:
            behind_move = self._queued_moves[run_id] > 0
        replica = None if behind_move else self._holder(run_id)
        if replica is not None:
            return self._watch(replica.submit(run_id, op, **kwargs), replica, run_id)
        with self._lock:
            self._queued_moves[run_id] += 1
        try:
            return self._mover.submit(self._move_then, run_id, lambda r: r.submit(run_id, op, **kwargs))
        except RuntimeError:  # the pool is stopping
            with self._lock:
                self._queued_moves[run_id] -= 1
            return _failed(Unavailable(f"model {self.model_id!r} is shutting down", retry_after=5.0))

    def _move_then(self, run_id: str, call: Callable[[Replica], Future]) -> dict:
        """On the mover thread: make sure the run is placed on a live replica, then run ``call``."""
        try:
            replica = self._holder(run_id) or self._move(run_id)
            return self._watch(call(replica), replica, run_id).result()
        finally:
            with self._lock:
                self._queued_moves[run_id] -= 1
                if self._queued_moves[run_id] <= 0:
                    del self._queued_moves[run_id]

    def _move(self, run_id: str) -> Replica:
        """Re-create ``run_id`` on the least-loaded live replica from its last checkpoint."""
        with self._store.read_session() as s:
            run = s.get(TrainingRun, run_id)
            checkpoint = None if run is None else latest_checkpoint(s, user_id=run.user_id, run_id=run_id)
        if run is None or run.status != "active":
            raise Unavailable(f"training run {run_id} is not placed on a replica of {self.model_id!r}")
        target = self._least_loaded()
        target.create_run(
            run_id,
            lora=dict(run.lora_config),
            gradient_accumulation_steps=run.gradient_accumulation_steps,
            seed=run.seed,
            owner=run.user_id,
        ).result(MOVE_TIMEOUT_S)
        if checkpoint is not None:
            path = self._data_dir / checkpoint.path
            target.submit(run_id, "load", path=path, load_optimizer=checkpoint.has_optimizer).result(
                MOVE_TIMEOUT_S
            )
        self._record(run_id, target)
        origin = "its start"
        if checkpoint is not None:
            origin = f"checkpoint {checkpoint.name!r} (step {checkpoint.optimizer_step})"
        logger.warning("training run %s re-created on replica %s from %s", run_id, target.name, origin)
        return target

    def _lost_or(self, exc: BaseException, replica: Replica, run_id: str) -> BaseException:
        """``exc``, or a retryable ``Unavailable`` when it came from a replica that died meanwhile."""
        if replica.alive():
            return exc
        lost = replica_lost(run_id, replica.name)
        lost.__cause__ = exc
        return lost

    def _watch(self, inner: Future, replica: Replica, run_id: str) -> Future:
        outer: Future = Future()

        def relay(done: Future) -> None:
            exc = done.exception()
            if exc is None:
                outer.set_result(done.result())
            else:
                outer.set_exception(self._lost_or(exc, replica, run_id))

        inner.add_done_callback(relay)
        return outer
