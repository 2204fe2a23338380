"""The server's live state in one object: settings, database, resolver, model workers, tasks.

The HTTP service (``twinkle_server.api``) is a thin translation over a :class:`Runtime`; everything
that outlives a request lives here, with its start-up and shutdown order in one place:

start-up: open the database (migrating it), register this process as a server instance, then
recover what instances that are gone left behind (this server's previous life, or a peer that
stopped beating; ``twinkle_server.liveness``): mark their runs released (adapters live in memory
only), fail their unfinished tasks, drop their unanswered idempotency claims. A live peer's are
never touched: several processes may share one database. Then start one worker per served model
(they load in the background) and the sweeper, which beats this instance, recovers peers that
went away, frees adapters of runs released elsewhere and expires sessions. shutdown: stop the
sweeper, stop the workers, close the task pools, deregister, close the database.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from concurrent.futures import wait
from typing import Any

from twinkle_server.config import ServedModel, Settings
from twinkle_server.errors import Conflict, InvalidInput
from twinkle_server.history import HistoryRecorder
from twinkle_server.instance import ThisInstance
from twinkle_server.quotas import Quotas
from twinkle_server.requests.idempotency import IdempotencyGuard
from twinkle_server.requests.ordering import RunSequencer
from twinkle_server.store import runs as run_records
from twinkle_server.store import sessions as session_records
from twinkle_server.store.db import Store, open_store
from twinkle_server.store.models import TrainingRun
from twinkle_server.store.recovery import Recovery
from twinkle_server.store.runs import RunRoute
from twinkle_server.tasks import TaskRunner
from twinkle_server.workers import build_resolver, build_worker, share_cpu_threads

__all__ = ["OPEN_MODE_USER", "Runtime", "check_exposure", "is_loopback"]

logger = logging.getLogger("twinkle_server.runtime")

OPEN_MODE_USER = "local"
# How long ending a session waits for its adapters to be dropped (queued ops finish first).
RELEASE_WAIT_S = 30.0
_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "ip6-localhost"}


def is_loopback(host: str) -> bool:
    """True when ``host`` only accepts connections from this machine."""
    if host in _LOOPBACK_HOSTS:
        return True
    import ipaddress

    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _count_keys(store: Store) -> int:
    from twinkle_server.store.users import count_active_api_keys

    with store.session() as s:
        return count_active_api_keys(s)


def check_exposure(settings: Settings, store: Store | None = None) -> int:
    """Refuse to serve a keyless (open) server beyond this machine unless explicitly allowed.

    With no API key in the database the server runs open: every request acts as the local user.
    That is fine on a loopback address and dangerous anywhere else, so a non-loopback ``host``
    needs ``allow_unauthenticated_non_loopback: true``. Returns the number of active keys.

    Raises:
        Conflict: the server has no keys and would listen on a non-loopback address.
    """
    own = store is None
    store = store or open_store(str(settings.database_url))
    try:
        keys = _count_keys(store)
    finally:
        if own:
            store.close()
    if keys == 0 and not is_loopback(settings.host) and not settings.allow_unauthenticated_non_loopback:
        raise Conflict(
            f"refusing to listen on {settings.host}: the server has no API keys, so anyone who can reach "
            "it could use it. Create one with `twinkle-server keys create --user NAME`, listen on "
            "127.0.0.1, or set allow_unauthenticated_non_loopback: true to run open on purpose"
        )
    return keys


class Runtime:
    """Everything the service needs between requests. Build with :meth:`open`, then :meth:`start`.

    Attributes:
        settings: the validated server settings.
        store: the database.
        resolver: turns model and dataset ids into local files.
        workers: served model_id -> its ``ModelWorker``.
        tasks: the task runner (wait window, 202 tasks).
        idempotency: the Idempotency-Key guard.
        sequencer: keeps one run's operations in arrival order.
        history: records every run's steps (``twinkle_server.history``).
        quotas: per-user quotas (adapters per model, operations at once, request rate).
        instance: this server instance among the processes sharing the database; its id is
            recorded on the runs, tasks and idempotency claims it holds (``twinkle_server.instance``).
    """

    def __init__(self, settings: Settings, store: Store, *, workers: dict[str, Any] | None = None) -> None:
        self.settings = settings
        self.store = store
        self.resolver = self._build_resolver(settings)
        self.workers: dict[str, Any] = workers if workers is not None else {}
        self.instance = ThisInstance(store, timeout_s=settings.instance_timeout_s)
        self.tasks = TaskRunner(store, wait_window_s=settings.wait_window_s, instance_id=self.instance.id)
        self.idempotency = IdempotencyGuard(store, self.tasks, ttl_s=settings.idempotency_ttl_s)
        self.sequencer = RunSequencer()
        self.quotas = Quotas(settings)
        self.history = HistoryRecorder(store, flush_interval_s=settings.history_flush_interval_s)
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None
        self._beater: threading.Thread | None = None
        self._started = False
        self.open_mode = False

    @classmethod
    def open(cls, settings: Settings) -> Runtime:
        """Open the database and create (not start) one worker per served model."""
        store = open_store(str(settings.database_url))
        runtime = cls(settings, store)
        if settings.models:
            share_cpu_threads(settings)
        for served in settings.models:
            runtime.workers[served.model_id] = runtime._build_worker(served)
        return runtime

    @staticmethod
    def _build_resolver(settings: Settings) -> Any:
        return build_resolver(settings)

    def _build_worker(self, served: ServedModel) -> Any:
        return build_worker(served, self.resolver)

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Register this instance, recover what gone instances left, start the workers and the
        sweeper."""
        if self._started:
            return
        keys = check_exposure(self.settings, self.store)
        self.open_mode = keys == 0
        if self.open_mode:
            logger.warning(
                "no API keys exist: the server runs open, every request acts as user %r, until a key "
                "is created (`twinkle-server keys create --user NAME`)",
                OPEN_MODE_USER,
            )
        self._started = True
        self.instance.register()
        self.recover_gone()
        for worker in self.workers.values():
            worker.start()
        self._sweeper = threading.Thread(target=self._sweep_loop, name="twinkle-session-sweeper", daemon=True)
        self._sweeper.start()
        # Its own thread: a sweep may wait for adapters to be freed, and a late beat would make
        # peers take this instance for gone.
        self._beater = threading.Thread(target=self._beat_loop, name="twinkle-instance-beat", daemon=True)
        self._beater.start()

    def close(self) -> None:
        """Stop; then deregister, so that peers recover what this instance held at their next sweep
        (its runs' adapters are gone with it), not only after the heartbeat timeout."""
        self._stop.set()
        for thread in (self._sweeper, self._beater):
            if thread is not None:
                thread.join(timeout=5)
        for worker in self.workers.values():
            worker.stop(timeout=30)
        self.history.close()
        self.tasks.close(wait=False)
        if self._started:
            self.instance.retire()
        self.store.close()

    # -- this server instance among those sharing the database ----------------------------------

    @property
    def instance_id(self) -> str:
        """This server instance's id, recorded on the runs, tasks and claims it holds."""
        return self.instance.id

    def recover_gone(self) -> Recovery:
        """Beat this instance, recover what gone instances held, and count the live peers'
        operations in this process's quotas (``twinkle_server.instance``)."""
        recovery = self.instance.beat(self.quotas.load())
        self.quotas.set_peer_load(self.instance.peer_loads)
        return recovery

    # -- models and runs ----------------------------------------------------------------------

    def served_model(self, model_id: str) -> tuple[ServedModel, Any]:
        """The served model named ``model_id`` (id or alias) and its worker.

        Raises:
            InvalidInput: no served model has that name (the message lists the served ones).
        """
        served = self.settings.find_model(model_id)
        if served is None:
            names = ", ".join(name for m in self.settings.models for name in m.ids) or "(none)"
            raise InvalidInput(
                f"model {model_id!r} is not served here; served models: {names}",
                details={"base_model": model_id, "served": [m.model_id for m in self.settings.models]},
            )
        return served, self.workers[served.model_id]

    def worker_of(self, run: TrainingRun | RunRoute) -> Any:
        """The worker holding ``run``'s adapter.

        Raises:
            Conflict: the run is released (its session ended, or the server restarted).
            HeldElsewhere: another live server process holds the adapter (409, naming it).
            Unavailable: the process that held it is gone and not yet recovered (503).
        """
        if run.status != "active":
            raise Conflict(
                f"training run {run.id} is {run.status}: its adapter is no longer loaded; create a new "
                "training run and load one of this run's checkpoints to continue",
                details={"training_run_id": run.id, "status": run.status},
            )
        if run.instance_id != self.instance.id:
            raise self.instance.refusal(run)
        return self.served_model(run.base_model)[1]

    def release_adapters(self, runs: Iterable[tuple[str, str]], *, wait_s: float = RELEASE_WAIT_S) -> None:
        """Free the adapters of ``(run_id, base_model)`` pairs whose rows are already released.

        Waits up to ``wait_s`` for the engine to drop them (each after the ops queued before it),
        so that capacity is back when a close_session answers.
        """
        futures = []
        for run_id, base_model in runs:
            served = self.settings.find_model(base_model)
            if served is not None:
                futures.append(self.workers[served.model_id].release_run(run_id))
        done, pending = wait(futures, timeout=wait_s)
        for future in done:
            if future.exception() is not None:
                logger.warning("releasing an adapter failed: %s", future.exception())
        if pending:
            logger.warning("%d adapters are still being released after %.0f s", len(pending), wait_s)

    def end_sessions(self, ended: list[session_records.EndedSession]) -> None:
        """Release the adapters of runs whose sessions just ended (rows already marked) that this
        instance holds; another process's adapters are freed by that process's sweeper."""
        run_ids = [run_id for item in ended for run_id in item.run_ids]
        if not run_ids:
            return
        self.free_released(run_ids)

    def free_released(self, run_ids: list[str] | None = None) -> int:
        """Free the adapters this instance holds of runs released in the store (of ``run_ids``, or
        all: those released by another process too); how many."""
        with self.store.session() as s:
            pairs = run_records.take_released_runs(s, instance_id=self.instance_id, run_ids=run_ids)
        if pairs:
            self.release_adapters(pairs)
        return len(pairs)

    # -- the session sweeper ------------------------------------------------------------------

    def sweep_once(self) -> int:
        """Expire sessions past their timeout, free the adapters of runs released here or by
        another process; how many sessions expired."""
        with self.store.session() as s:
            ended = session_records.expire_sessions(s, timeout_s=self.settings.session_timeout_s)
        if ended:
            logger.info(
                "expired %d sessions without heartbeat for %.0f s; released %d adapters",
                len(ended),
                self.settings.session_timeout_s,
                sum(len(e.run_ids) for e in ended),
            )
        self.end_sessions(ended)
        self.free_released()
        return len(ended)

    def _sweep_loop(self) -> None:
        interval = max(0.2, min(self.settings.heartbeat_interval_s, self.settings.session_timeout_s / 4))
        self._every(interval, self.sweep_once, "session sweep")

    def _beat_loop(self) -> None:
        """Beat every sixth of the timeout (recovering gone peers and purging old idempotency
        records as it goes), so that a few late beats do not make peers take this one for gone."""
        self._every(max(0.1, self.settings.instance_timeout_s / 6), self.recover_gone, "instance beat")

    def _every(self, interval: float, step: Any, what: str) -> None:
        while not self._stop.wait(interval):
            try:
                step()
            except Exception:
                logger.exception("%s failed; trying again in %.1f s", what, interval)
