"""Several replicas of one base model behind the worker interface the HTTP layer already uses.

``Runtime.workers[model_id]`` may be a :class:`ReplicaPool` instead of one ``ModelWorker``: the
HTTP layer calls ``create_run``, ``submit``, ``release_run``, ``capacity`` as before, and the pool

- places a new run on the least-loaded live replica (fewest adapters, then fewest queued ops),
- routes every later operation of the run to that replica (sticky; the placement is kept in the
  store, ``store/placements.py``, so another ingress process routes alike),
- reports capacity as the sum over live replicas,
- keeps each run recoverable: every acknowledged state-changing operation is written to the run's
  journal (``store/journal.py``; which ones: ``journal.py``) before its answer is released, and
  every ``snapshot_every`` optimizer steps (and after a load) the run's replica writes a recovery
  snapshot of its full state under ``data_dir/recovery/`` and the journal before it is trimmed,
- when a replica dies: operations that were in flight on it fail with ``replica_lost`` (503, a
  message that says to retry), and the run's next operation first re-creates the run on a live
  replica from its snapshot and replays the journal after it, then runs. The run continues exactly
  where its last acknowledged operation left it.

Why an operation is never applied twice: the journal, not a replica's memory, is the run's truth.
An operation is acknowledged only once its entry is committed; one whose answer was lost (the
replica died or became unreachable, or the journal write failed) may or may not have run on the old
replica, so the pool stops trusting that copy of the run (a new *epoch*): later answers from it are
refused as lost too, and the next operation rebuilds the run from snapshot and journal, where the
unacknowledged operation is absent. The retry then applies it once.

Operations of one run keep their order: sequence numbers are taken and operations queued under one
lock, and while a run is being moved its operations queue behind the move on the pool's own thread.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from twinkle_server.engine.spec import Capacity
from twinkle_server.engine.worker import WorkerState, WorkerStats
from twinkle_server.errors import (
    CapacityExceeded,
    Conflict,
    InvalidInput,
    ReplicaLost,
    TwinkleError,
    Unavailable,
)
from twinkle_server.scale.journal import SNAPSHOT_AFTER_OPS, PlannedEntry, plan_entry, replay_differs
from twinkle_server.scale.replica import Replica
from twinkle_server.store import journal, placements
from twinkle_server.store.db import Store
from twinkle_server.store.models import TrainingRun

__all__ = ["DEFAULT_SNAPSHOT_EVERY", "RECOVERY_DIR", "ReplicaLost", "ReplicaPool", "replica_lost"]

logger = logging.getLogger(__name__)

MOVE_TIMEOUT_S = 600.0
DEFAULT_SNAPSHOT_EVERY = 10
SNAPSHOT_AFTER_ENTRIES = 256  # also bounds the journal of a run that evaluates or samples without steps
RECOVERY_DIR = "recovery"  # under data_dir: snapshots, never listed as checkpoints


def replica_lost(run_id: str, replica: str) -> ReplicaLost:
    """The error of an operation whose replica died under it: 503, retry (the client does)."""
    return ReplicaLost(
        f"the replica holding training run {run_id} ({replica}) stopped while this operation ran; "
        "retry it: the run continues on another replica from its last acknowledged operation",
        details={"training_run_id": run_id, "replica": replica},
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
        store: the shared database (placements, runs, journals).
        data_dir: where recovery snapshots are written (shared by every replica's machine).
        spec: the model's ``ModelSpec`` (what ``worker.spec`` answers).
        snapshot_every: optimizer steps between a run's recovery snapshots; a move replays at most
            this many steps' worth of operations. 0 turns snapshots off (the journal then grows
            with the run, and a move replays it from the run's start).
    """

    def __init__(
        self,
        model_id: str,
        replicas: Sequence[Replica],
        *,
        store: Store,
        data_dir: Path,
        spec: Any = None,
        snapshot_every: int = DEFAULT_SNAPSHOT_EVERY,
    ) -> None:
        if not replicas:
            raise InvalidInput(f"model {model_id!r} needs at least one replica")
        names = [r.name for r in replicas]
        if len(set(names)) != len(names):
            raise InvalidInput(f"replica names of {model_id!r} must differ, got {names}")
        if snapshot_every < 0:
            raise InvalidInput(f"snapshot_every must be >= 0, got {snapshot_every}")
        self.model_id = model_id
        self.spec = spec
        self.snapshot_every = snapshot_every
        self._replicas = {r.name: r for r in replicas}
        self._store = store
        self._data_dir = Path(data_dir)
        self._lock = threading.Lock()
        self._order = threading.Lock()  # sequence numbers are taken and ops queued under it
        self._placed: dict[str, tuple[str, str]] = {}  # run id -> (replica name, incarnation)
        self._queued_moves: Counter[str] = Counter()  # run id -> its operations waiting on the mover
        self._seq: dict[str, int] = {}  # run id -> last sequence number taken
        self._epoch: Counter[str] = Counter()  # run id -> how often its replica copy was distrusted
        self._stale: set[str] = set()  # runs whose replica copy must be rebuilt before the next op
        self._unsnapshotted: Counter[str] = Counter()  # run id -> entries since its last snapshot
        self._mover = ThreadPoolExecutor(1, thread_name_prefix=f"twinkle-pool-{model_id}")
        self._journal = ThreadPoolExecutor(1, thread_name_prefix=f"twinkle-journal-{model_id}")

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
        """Start the replicas; drop the recovery state of runs no longer active (a restarted server
        released them: their adapters are gone for good)."""
        with self._store.session() as s:
            stale = journal.inactive_run_ids(s)
            for run_id in stale:
                journal.clear_recovery(s, run_id=run_id)
        for run_id in stale:
            self._remove_snapshots(run_id)
        for replica in self._replicas.values():
            replica.start()

    def stop(self, timeout: float | None = None) -> None:
        for replica in self._replicas.values():
            replica.stop(timeout)
        self._mover.shutdown(wait=False, cancel_futures=True)
        self._journal.shutdown(wait=True)  # entries of answered operations are committed first

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
            pass_seconds=sum(s.pass_seconds for s in stats),
            pass_positions=sum(s.pass_positions for s in stats),
            fusion_wait_seconds=sum(s.fusion_wait_seconds for s in stats),
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
        with self._lock:
            if run_id in self._stale:
                return None
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
            self._stale.discard(run_id)
            self._seq.pop(run_id, None)
            self._unsnapshotted.pop(run_id, None)
            self._epoch[run_id] += 1  # answers still on the way are not journalled any more
        with self._store.session() as s:
            placements.clear_placement(s, run_id=run_id)
            journal.clear_recovery(s, run_id=run_id)
        self._remove_snapshots(run_id)
        if replica is None:  # its replica is gone, and the adapter with it
            done: Future[None] = Future()
            done.set_result(None)
            return done
        return replica.release_run(run_id)

    def _remove_snapshots(self, run_id: str) -> None:
        """Delete the run's recovery folder (its snapshot, and any a stop cut short)."""
        shutil.rmtree(self._data_dir / RECOVERY_DIR / run_id, ignore_errors=True)

    # -- running operations ---------------------------------------------------------------------

    def submit(self, run_id: str, op: str, /, **kwargs: Any) -> Future[dict]:
        """Run ``op`` on the replica holding ``run_id``; move the run first when that one is gone.

        The future ends once the operation's journal entry (if it changes the run's state) is
        committed: what it answers is what a moved run will have.
        """
        try:
            entry = plan_entry(op, kwargs)
            with self._order:
                seq = self._next_seq(run_id) if entry is not None else 0
                return self._route(run_id, lambda r: r.submit(run_id, op, **kwargs), entry, seq)
        except TwinkleError as exc:
            return _failed(exc)

    def _route(
        self, run_id: str, call: Callable[[Replica], Future], entry: PlannedEntry | None, seq: int
    ) -> Future[dict]:
        with self._lock:
            behind_move = self._queued_moves[run_id] > 0
            epoch = self._epoch[run_id]
        replica = None if behind_move else self._holder(run_id)
        if replica is not None:
            return self._watch(call(replica), replica, run_id, epoch, entry, seq)
        with self._lock:
            self._queued_moves[run_id] += 1
        try:
            return self._mover.submit(self._move_then, run_id, call, entry, seq)
        except RuntimeError:  # the pool is stopping
            with self._lock:
                self._queued_moves[run_id] -= 1
            return _failed(self._shutting_down())

    def _next_seq(self, run_id: str) -> int:
        """The run's next journal sequence number (called under ``_order``)."""
        last = self._seq.get(run_id)
        if last is None:
            with self._store.read_session() as s:
                last = journal.last_seq(s, run_id=run_id)
        self._seq[run_id] = last + 1
        return last + 1

    def _move_then(
        self, run_id: str, call: Callable[[Replica], Future], entry: PlannedEntry | None, seq: int
    ) -> dict:
        """On the mover thread: make sure the run is placed on a live replica, then run ``call``."""
        try:
            replica = self._holder(run_id) or self._move(run_id)
            with self._lock:
                epoch = self._epoch[run_id]
            return self._watch(call(replica), replica, run_id, epoch, entry, seq).result()
        finally:
            with self._lock:
                self._queued_moves[run_id] -= 1
                if self._queued_moves[run_id] <= 0:
                    del self._queued_moves[run_id]

    # -- moving a run ---------------------------------------------------------------------------

    def _move(self, run_id: str) -> Replica:
        """Re-create ``run_id`` on the least-loaded live replica: its recovery snapshot, then every
        journalled operation after it, in order."""
        self._fence(run_id)
        with self._store.read_session() as s:
            run = s.get(TrainingRun, run_id)
            if run is None or run.status != "active":
                raise Unavailable(f"training run {run_id} is not placed on a replica of {self.model_id!r}")
            created = {
                "lora": dict(run.lora_config),
                "gradient_accumulation_steps": run.gradient_accumulation_steps,
                "seed": run.seed,
                "owner": run.user_id,
            }
            snapshot = journal.get_snapshot(s, run_id=run_id)
            base = (snapshot.path, snapshot.optimizer_step) if snapshot is not None else None
            after = snapshot.seq if snapshot is not None else 0
            entries = [
                (e.op, dict(e.kwargs), dict(e.result))
                for e in journal.entries_after(s, run_id=run_id, seq=after)
            ]
        self._drop_old_copy(run_id)
        target = self._least_loaded()
        target.create_run(run_id, **created).result(MOVE_TIMEOUT_S)
        try:
            self._rebuild(target, run_id, base, entries)
        except BaseException as exc:
            target.release_run(run_id)
            raise Unavailable(
                f"training run {run_id} could not be rebuilt on replica {target.name} ({exc}); retry later",
                retry_after=5.0,
            ) from exc
        self._record(run_id, target)
        with self._lock:
            self._stale.discard(run_id)
        origin = "its start" if base is None else f"its recovery snapshot at step {base[1]}"
        logger.warning(
            "training run %s re-created on replica %s from %s and %d journalled operations",
            run_id,
            target.name,
            origin,
            len(entries),
        )
        return target

    def _rebuild(
        self,
        target: Replica,
        run_id: str,
        base: tuple[str, int] | None,
        entries: list[tuple[str, dict[str, Any], dict[str, Any]]],
    ) -> None:
        if base is not None:
            target.submit(run_id, "recovery_restore", path=self._data_dir / base[0]).result(MOVE_TIMEOUT_S)
        for op, kwargs, recorded in entries:
            replayed = target.submit(run_id, op, **kwargs).result(MOVE_TIMEOUT_S)
            differs = replay_differs(recorded, replayed)
            if differs:
                logger.warning("replay of %s of run %s gave other numbers: %s", op, run_id, differs)

    def _drop_old_copy(self, run_id: str) -> None:
        """Release the run's distrusted copy on a replica that is still alive (its slot, too)."""
        found = self.placement(run_id)
        replica = None if found is None else self._replicas.get(found[0])
        if replica is None or not replica.alive() or replica.incarnation() != found[1]:
            return
        try:
            replica.release_run(run_id).result(MOVE_TIMEOUT_S)
        except Exception as exc:  # gone meanwhile, or never created there: nothing to free
            logger.info("releasing the old copy of run %s on %s: %r", run_id, replica.name, exc)

    # -- answers and the journal ----------------------------------------------------------------

    def _lost_or(self, exc: BaseException, replica: Replica, run_id: str) -> BaseException:
        """``exc``, or a retryable ``ReplicaLost`` when it came from a replica that died meanwhile."""
        if isinstance(exc, ReplicaLost) or replica.alive():
            return exc
        lost = replica_lost(run_id, replica.name)
        lost.__cause__ = exc
        return lost

    def _current(self, run_id: str, epoch: int) -> bool:
        with self._lock:
            return self._epoch[run_id] == epoch

    def _distrust(self, run_id: str, epoch: int) -> None:
        """Stop trusting the run's copy of ``epoch``: it may hold an unacknowledged operation."""
        with self._lock:
            if self._epoch[run_id] == epoch:
                self._epoch[run_id] += 1
                self._stale.add(run_id)

    def _watch(
        self,
        inner: Future,
        replica: Replica,
        run_id: str,
        epoch: int,
        entry: PlannedEntry | None,
        seq: int,
    ) -> Future:
        """The answer of ``inner``, released once its journal entry is committed."""
        outer: Future = Future()

        def relay(done: Future) -> None:
            exc = done.exception()
            if exc is not None:
                error = self._lost_or(exc, replica, run_id)
                if isinstance(error, ReplicaLost):
                    self._distrust(run_id, epoch)
                outer.set_exception(error)
            elif not self._current(run_id, epoch):
                outer.set_exception(replica_lost(run_id, replica.name))
            elif entry is None:
                outer.set_result(done.result())
            else:
                commit = (run_id, epoch, entry, seq, done.result(), outer)
                if not self._journal_later(self._commit, *commit):  # stopping: cannot be recorded
                    self._distrust(run_id, epoch)
                    outer.set_exception(self._shutting_down())

        inner.add_done_callback(relay)
        return outer

    def _fence(self, run_id: str) -> None:
        """Before a move reads the journal: no answer of the run's old copy is journalled after it.

        Runs on the journal thread, so every entry committed before is in the journal, and every
        answer committed after finds a new epoch and is refused as lost: a replica taken for dead
        that still answers cannot add to a journal the move has already read.
        """

        def bump() -> None:
            with self._lock:
                self._epoch[run_id] += 1

        try:
            self._journal.submit(bump).result(MOVE_TIMEOUT_S)
        except RuntimeError as exc:  # the pool is stopping
            raise self._shutting_down() from exc

    def _journal_later(self, fn: Callable[..., None], *args: Any) -> bool:
        """Run ``fn(*args)`` on the journal thread; False once the pool is stopping."""
        try:
            self._journal.submit(fn, *args)
        except RuntimeError:
            return False
        return True

    def _shutting_down(self) -> Unavailable:
        return Unavailable(f"model {self.model_id!r} is shutting down", retry_after=5.0)

    def _commit(
        self, run_id: str, epoch: int, entry: PlannedEntry, seq: int, result: dict, outer: Future
    ) -> None:
        """On the journal thread: record the acknowledged operation, then release its answer."""
        try:
            if not self._current(run_id, epoch):
                raise replica_lost(run_id, "distrusted copy")
            with self._store.session() as s:
                journal.add_entry(
                    s, run_id=run_id, seq=seq, op=entry.op, kwargs=entry.kwargs, result=entry.summary(result)
                )
        except BaseException as exc:
            self._distrust(run_id, epoch)
            error = exc if isinstance(exc, ReplicaLost) else _not_recorded(run_id, exc)
            outer.set_exception(error)
            return
        self._unsnapshotted[run_id] += 1
        if self._snapshot_due(entry, result, self._unsnapshotted[run_id]):
            try:
                self._snapshot(run_id)  # queued before the answer goes: right after this operation
            except Exception as exc:  # the operation stands; a later one takes the snapshot
                logger.warning("recovery snapshot of run %s not requested: %r", run_id, exc)
        outer.set_result(result)

    # -- recovery snapshots ---------------------------------------------------------------------

    def _snapshot_due(self, entry: PlannedEntry, result: dict, unsnapshotted: int) -> bool:
        """Every ``snapshot_every`` optimizer steps, after a load, and after SNAPSHOT_AFTER_ENTRIES
        entries without one (a loop that evaluates or samples without stepping)."""
        if self.snapshot_every <= 0:
            return False
        if entry.op == "load" or unsnapshotted >= SNAPSHOT_AFTER_ENTRIES:
            return True
        if entry.op not in SNAPSHOT_AFTER_OPS:
            return False
        step = result.get("optimizer_step")
        return bool(result.get("applied")) and isinstance(step, int) and step % self.snapshot_every == 0

    def _snapshot(self, run_id: str) -> None:
        """Ask the run's replica for a recovery snapshot, in the run's order (after what was sent)."""
        with self._order:
            with self._lock:
                moving = self._queued_moves[run_id] > 0
                epoch = self._epoch[run_id]
            replica = None if moving else self._holder(run_id)
            if replica is None:
                return  # a later step takes it
            seq = self._next_seq(run_id)
            self._unsnapshotted[run_id] = 0  # a failed snapshot is tried again as many entries later
            folder = Path(RECOVERY_DIR) / run_id / f"{seq:010d}"
            inner = replica.submit(run_id, "recovery_snapshot", path=self._data_dir / folder)
        inner.add_done_callback(
            lambda done: self._journal_later(self._keep_snapshot, run_id, epoch, seq, folder, done)
        )

    def _keep_snapshot(self, run_id: str, epoch: int, seq: int, folder: Path, done: Future) -> None:
        """On the journal thread: make the written snapshot the run's, trim its journal, drop the old."""
        exc = done.exception()
        kept = exc is None and self._current(run_id, epoch)
        if kept:
            try:
                with self._store.session() as s:
                    old = journal.set_snapshot(
                        s,
                        run_id=run_id,
                        seq=seq,
                        path=str(folder),
                        optimizer_step=done.result()["optimizer_step"],
                    )
            except Exception as store_exc:
                exc, kept = store_exc, False
        if not kept:
            shutil.rmtree(self._data_dir / folder, ignore_errors=True)
            if exc is not None and not isinstance(exc, Conflict | ReplicaLost):
                logger.warning("recovery snapshot of run %s not taken: %r", run_id, exc)
            return
        if old is not None and old != str(folder):
            shutil.rmtree(self._data_dir / old, ignore_errors=True)


def _not_recorded(run_id: str, cause: BaseException) -> ReplicaLost:
    error = ReplicaLost(
        f"the answer of this operation of training run {run_id} could not be recorded ({cause}); it is "
        "not applied: retry it",
        details={"training_run_id": run_id},
        retry_after=1.0,
    )
    error.__cause__ = cause
    return error
