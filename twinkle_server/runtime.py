"""The server's live state in one object: settings, database, resolver, model workers, tasks.

The HTTP service (``twinkle_server.api``) is a thin translation over a :class:`Runtime`; everything
that outlives a request lives here, with its start-up and shutdown order in one place:

start-up: open the database (migrating it), mark runs left active by a previous process as
released (adapters live in memory only), fail its unfinished tasks, drop its unfinished
idempotency claims, start one worker per served model (they load in the background), start the
session sweeper. shutdown: stop the sweeper, stop the workers, close the task pools and database.
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
from twinkle_server.quotas import Quotas
from twinkle_server.requests.idempotency import IdempotencyGuard
from twinkle_server.requests.ordering import RunSequencer
from twinkle_server.store import idempotency as idem_records
from twinkle_server.store import runs as run_records
from twinkle_server.store import sessions as session_records
from twinkle_server.store.db import Store, open_store
from twinkle_server.store.models import TrainingRun
from twinkle_server.store.runs import RunRoute
from twinkle_server.tasks import TaskRunner
from twinkle_server.workers import build_resolver, build_worker

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
    """

    def __init__(self, settings: Settings, store: Store, *, workers: dict[str, Any] | None = None) -> None:
        self.settings = settings
        self.store = store
        self.resolver = self._build_resolver(settings)
        self.workers: dict[str, Any] = workers if workers is not None else {}
        self.tasks = TaskRunner(store, wait_window_s=settings.wait_window_s)
        self.idempotency = IdempotencyGuard(store, self.tasks, ttl_s=settings.idempotency_ttl_s)
        self.sequencer = RunSequencer()
        self.quotas = Quotas(settings)
        self.history = HistoryRecorder(store, flush_interval_s=settings.history_flush_interval_s)
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None
        self._started = False
        self.open_mode = False

    @classmethod
    def open(cls, settings: Settings) -> Runtime:
        """Open the database and create (not start) one worker per served model."""
        store = open_store(str(settings.database_url))
        runtime = cls(settings, store)
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
        """Recover from the previous process, start the workers and the session sweeper."""
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
        with self.store.session() as s:
            released = run_records.release_active_runs(s)
            purged = idem_records.purge_idempotency(s, include_pending=True)
        failed = self.tasks.recover()
        if released or failed or purged:
            logger.info(
                "recovered from the previous process: %d runs released (continue them from a checkpoint), "
                "%d unfinished tasks failed, %d idempotency records dropped",
                len(released),
                failed,
                purged,
            )
        for worker in self.workers.values():
            worker.start()
        self._sweeper = threading.Thread(target=self._sweep_loop, name="twinkle-session-sweeper", daemon=True)
        self._sweeper.start()

    def close(self) -> None:
        self._stop.set()
        if self._sweeper is not None:
            self._sweeper.join(timeout=5)
        for worker in self.workers.values():
            worker.stop(timeout=30)
        self.history.close()
        self.tasks.close(wait=False)
        self.store.close()

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
        """
        if run.status != "active":
            raise Conflict(
                f"training run {run.id} is {run.status}: its adapter is no longer loaded; create a new "
                "training run and load one of this run's checkpoints to continue",
                details={"training_run_id": run.id, "status": run.status},
            )
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
        """Release the adapters of runs whose sessions just ended (rows already marked)."""
        run_ids = [run_id for item in ended for run_id in item.run_ids]
        if not run_ids:
            return
        with self.store.session() as s:
            pairs = [(rid, row.base_model) for rid in run_ids if (row := s.get(TrainingRun, rid)) is not None]
        self.release_adapters(pairs)

    # -- the session sweeper ------------------------------------------------------------------

    def sweep_once(self) -> int:
        """Expire sessions past their timeout, free their adapters, purge old idempotency records."""
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
        with self.store.session() as s:
            idem_records.purge_idempotency(s)
        return len(ended)

    def _sweep_loop(self) -> None:
        interval = max(0.2, min(self.settings.heartbeat_interval_s, self.settings.session_timeout_s / 4))
        while not self._stop.wait(interval):
            try:
                self.sweep_once()
            except Exception:
                logger.exception("session sweep failed; trying again in %.1f s", interval)
