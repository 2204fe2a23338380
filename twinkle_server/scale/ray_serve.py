"""The same API on a Ray cluster: Ray Serve runs the ingress and the engine replicas.

Layout of the Serve application ``twinkle``::

    ingress (the FastAPI app, one replica)          engine-<m>-<r>  one engine worker each
      Runtime.workers[model] = ReplicaPool  ──────►  engine-0-0, engine-0-1   (first served model)
        over RayReplica handles                      engine-1-0, engine-1-1   (second served model)

Why one Serve deployment per replica slot (``num_replicas=1`` each) rather than one deployment
with N replicas: a run's adapter, optimizer and accumulation window live in one replica's memory,
so its operations must reach exactly that replica, and Serve's router picks among a deployment's
replicas by load, with no way to name one. Each slot is still a Serve deployment: Serve places it
(``ray_actor_options``: GPUs, CPUs), checks its health and restarts it when its process dies; the
ingress's ``ReplicaPool`` (``pool.py``) does the sticky routing, least-loaded placement, capacity
sums and the moving of a lost replica's runs, with placements in the shared store.

A restarted replica comes back empty, with a new *incarnation*; every call carries the incarnation
it was meant for, and a replica answers "lost" to calls meant for an earlier life, so an operation
never reaches a replica that no longer holds its run's adapter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from twinkle_server.config import Settings
from twinkle_server.engine.spec import Capacity
from twinkle_server.engine.worker import WorkerState, WorkerStats
from twinkle_server.errors import InvalidInput, TwinkleError, Unavailable
from twinkle_server.runtime import is_loopback
from twinkle_server.scale.pool import ReplicaPool, replica_lost

__all__ = [
    "APP_NAME",
    "EngineReplica",
    "RayLayout",
    "RayReplica",
    "build_application",
    "run",
    "serve_on_ray",
]

logger = logging.getLogger(__name__)

APP_NAME = "twinkle"
INFO_TIMEOUT_S = 5.0
INFO_INTERVAL_S = 0.5  # how often the ingress asks each replica for its state
INFO_STALE_S = 10.0  # a replica whose state is older than this counts as down
CALL_TIMEOUT_S = 3600.0
_LOST = "lost"


@dataclass(frozen=True)
class RayLayout:
    """How many replicas each served model gets and what one replica needs.

    Attributes:
        replicas: replicas per served model (each one engine worker).
        gpus_per_replica: GPUs Ray reserves for each replica (0 on a CPU-only cluster).
        cpus_per_replica: CPUs Ray reserves for each replica.
    """

    replicas: int = 1
    gpus_per_replica: float = 0.0
    cpus_per_replica: float = 1.0


class EngineReplica:
    """A Serve replica: one engine worker serving one base model (``settings.models[index]``)."""

    def __init__(self, settings: Settings, index: int) -> None:
        from twinkle_server.workers import build_resolver, build_worker

        self.served = settings.models[index]
        self.worker = build_worker(self.served, build_resolver(settings))
        self.worker.start()
        self.incarnation = uuid.uuid4().hex

    def check_health(self) -> None:
        """Serve calls this periodically; a replica whose model failed to load is restarted."""
        if self.worker.state in (WorkerState.FAILED, WorkerState.STOPPED):
            raise RuntimeError(f"the engine worker of {self.served.model_id!r} is {self.worker.state}")

    def info(self) -> dict[str, Any]:
        stats = self.worker.stats()
        return {
            "incarnation": self.incarnation,
            "state": str(self.worker.state),
            "capacity": asdict(self.worker.capacity()),
            "stats": {**asdict(stats), "state": str(stats.state), "last_pass": None},
        }

    async def call(self, incarnation: str, method: str, run_id: str, args: tuple, kwargs: dict) -> tuple:
        """Run ``worker.<method>(run_id, *args, **kwargs)``; ``("ok", result)``, ``("error", exc)``
        for the engine's own errors (sent as values, so they arrive unwrapped), or ``("lost",)``
        when the call was meant for an earlier incarnation."""
        if incarnation != self.incarnation:
            return (_LOST,)
        future = getattr(self.worker, method)(run_id, *args, **kwargs)
        try:
            return ("ok", await asyncio.wrap_future(future))
        except TwinkleError as exc:
            return ("error", exc)


class RayReplica:
    """The ingress's view of one engine replica (the ``Replica`` interface of ``replica.py``).

    Operations of one run are sent one after another (the next once the previous has answered),
    because calls through a Serve handle may overtake each other on the way.
    """

    def __init__(self, name: str, handle: Any, *, max_threads: int = 64) -> None:
        self.name = name
        self._handle = handle
        self._info: dict[str, Any] | None = None
        self._info_at = 0.0
        self._lock = threading.Lock()
        self._tails: dict[str, Future] = {}
        self._threads = ThreadPoolExecutor(max_threads, thread_name_prefix=f"twinkle-ray-{name}")
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name=f"twinkle-ray-info-{name}", daemon=True)
        self._watcher.start()

    # -- facts: read from the replica's info, which a thread of its own keeps fresh ---------------
    # (The HTTP layer asks for capacity and state on its event loop, where waiting on a Serve
    # handle is not allowed; so these never call out.)

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(INFO_INTERVAL_S)

    def refresh(self) -> dict[str, Any] | None:
        """Ask the replica for its info now (blocking; not on an event loop)."""
        try:
            info = self._handle.info.remote().result(timeout_s=INFO_TIMEOUT_S)
        except Exception as exc:  # the replica is down or restarting
            logger.warning("replica %s did not answer: %r", self.name, exc)
            self._info = None
            return None
        self._info, self._info_at = info, time.monotonic()
        return info

    def _fresh(self) -> dict[str, Any] | None:
        info = self._info
        if info is None or time.monotonic() - self._info_at > INFO_STALE_S:
            return None
        return info

    def incarnation(self) -> str:
        info = self._fresh()
        return info["incarnation"] if info else "unreachable"

    def alive(self) -> bool:
        return self._fresh() is not None

    def state(self) -> WorkerState:
        """Without an answer: LOADING, as Serve is starting the replica or restarting a dead one."""
        info = self._fresh()
        return WorkerState(info["state"]) if info else WorkerState.LOADING

    def capacity(self) -> Capacity:
        info = self._fresh()
        if info is None:
            return Capacity(max_loras=0, used=0, free=0)
        return Capacity(**info["capacity"])

    def stats(self) -> WorkerStats:
        info = self._fresh()
        if info is None:
            return WorkerStats(state=WorkerState.FAILED, queued=0, queued_by_run={}, executed=0, failed=0)
        stats = dict(info["stats"])
        stats["state"] = WorkerState(stats["state"])
        return WorkerStats(**stats)

    # -- life cycle: Serve starts and stops the replica ---------------------------------------------

    def start(self) -> None:
        pass

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        self._threads.shutdown(wait=False, cancel_futures=True)

    def wait_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout if timeout is not None else CALL_TIMEOUT_S)
        while True:
            state = self.state()
            if state is WorkerState.READY:
                return
            if time.monotonic() >= deadline:
                raise Unavailable(f"replica {self.name} is {state}", retry_after=5.0)
            time.sleep(0.2)

    # -- calls -----------------------------------------------------------------------------------

    def submit(self, run_id: str, op: str, /, **kwargs: Any) -> Future[dict]:
        return self._send(run_id, "submit", (op,), kwargs)

    def create_run(
        self,
        run_id: str,
        *,
        lora: dict,
        gradient_accumulation_steps: int = 1,
        seed: int | None = None,
        owner: str | None = None,
    ) -> Future[dict]:
        kwargs = {
            "lora": lora,
            "gradient_accumulation_steps": gradient_accumulation_steps,
            "seed": seed,
            "owner": owner,
        }
        return self._send(run_id, "create_run", (), kwargs)

    def release_run(self, run_id: str) -> Future[None]:
        return self._send(run_id, "release_run", (), {})

    def _send(self, run_id: str, method: str, args: tuple, kwargs: dict) -> Future:
        incarnation = self.incarnation()
        with self._lock:
            previous = self._tails.get(run_id)
            future = self._threads.submit(self._call, previous, incarnation, method, run_id, args, kwargs)
            self._tails[run_id] = future
        future.add_done_callback(lambda done: self._forget(run_id, done))
        return future

    def _forget(self, run_id: str, done: Future) -> None:
        with self._lock:
            if self._tails.get(run_id) is done:
                del self._tails[run_id]

    def _call(self, previous: Future | None, incarnation: str, method: str, run_id: str, args, kwargs):
        if previous is not None:
            with contextlib.suppress(BaseException):  # wait for it, whatever its outcome
                previous.exception()
        try:
            reply = self._handle.call.remote(incarnation, method, run_id, args, kwargs).result(
                timeout_s=CALL_TIMEOUT_S
            )
        except Exception as exc:  # the replica died under the call, or is unreachable
            logger.warning("%s of run %s on replica %s failed: %r", method, run_id, self.name, exc)
            self.refresh()
            raise replica_lost(run_id, self.name) from exc
        if reply[0] == _LOST:
            logger.warning("replica %s restarted: %s of run %s not sent", self.name, method, run_id)
            self.refresh()
            raise replica_lost(run_id, self.name)
        if reply[0] == "error":
            raise reply[1]
        return reply[1]


def _deployment_name(model_index: int, replica: int) -> str:
    return f"engine-{model_index}-{replica}"


class Ingress:
    """The Serve ingress: the ordinary FastAPI app over a Runtime whose workers are replica pools."""

    def __init__(self, settings: Settings, engines: dict[str, list[Any]]) -> None:
        from twinkle_server.runtime import Runtime
        from twinkle_server.store.db import open_store

        store = open_store(str(settings.database_url))
        pools = {}
        for model_id, handles in engines.items():
            replicas = [RayReplica(f"{model_id}#{i}", handle) for i, handle in enumerate(handles)]
            spec = next(m for m in settings.models if m.model_id == model_id)
            pools[model_id] = ReplicaPool(
                model_id,
                replicas,
                store=store,
                data_dir=settings.data_dir,
                spec=spec,
                snapshot_every=settings.recovery_snapshot_every,
            )
        self.settings = settings
        self.runtime = Runtime(settings, store, workers=pools)

    def __serve_build_asgi_app__(self) -> Any:
        from twinkle_server.app import create_app

        return create_app(self.settings, runtime=self.runtime)


def build_application(settings: Settings, layout: RayLayout) -> Any:
    """The Serve application: one deployment per (served model, replica) and the ingress."""
    from ray import serve

    engine = serve.deployment(EngineReplica)
    engines: dict[str, list[Any]] = {}
    for m, served in enumerate(settings.models):
        engines[served.model_id] = [
            engine.options(
                name=_deployment_name(m, r),
                num_replicas=1,
                max_ongoing_requests=1024,
                health_check_period_s=2,
                ray_actor_options={"num_gpus": layout.gpus_per_replica, "num_cpus": layout.cpus_per_replica},
            ).bind(settings, m)
            for r in range(layout.replicas)
        ]
    ingress = serve.deployment(serve.ingress()(Ingress))
    return ingress.options(
        name="ingress",
        num_replicas=1,
        max_ongoing_requests=1024,
        ray_actor_options={"num_cpus": layout.cpus_per_replica},
    ).bind(settings, engines)


def _local_cluster_on_loopback(settings: Settings) -> None:
    """Make a local cluster advertise 127.0.0.1 when the server listens on loopback.

    Ray picks the machine's outward address even when told 127.0.0.1; this switch (named for
    Windows and macOS, read on every platform) makes it pick loopback. Ray reads it when imported,
    so this runs before the first ``import ray``.
    """
    if is_loopback(settings.host):
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def run(settings: Settings, layout: RayLayout, *, address: str | None = None, blocking: bool = True) -> None:
    """Join the Ray cluster at ``address`` (or start one on this machine, on ``settings.host``),
    start Serve's HTTP proxy on ``settings.host:port`` and deploy the application."""
    if address is None:
        _local_cluster_on_loopback(settings)
    import ray
    from ray import serve

    if not ray.is_initialized():
        if address is None:  # a single-machine cluster owned by this process
            ray.init(address="local", include_dashboard=False)
        else:
            ray.init(address=address, include_dashboard=False)
    serve.start(http_options={"host": settings.host, "port": settings.port})
    serve.run(build_application(settings, layout), name=APP_NAME, route_prefix="/", blocking=blocking)


def serve_on_ray(
    config: Any, layout: RayLayout, *, address: str | None, host: str | None, port: int | None
) -> int:
    """``twinkle-server serve --ray``: deploy, then serve until interrupted; 2 on a settings error."""
    import sys

    from twinkle_server.config import load_settings
    from twinkle_server.serve import configure_logging

    configure_logging("info")
    try:
        settings = load_settings(config)
        if host is not None:
            settings.host = host
        if port is not None:
            settings.port = port
        if layout.replicas < 1:
            raise InvalidInput("--replicas must be at least 1")
    except TwinkleError as exc:
        print(f"twinkle-server serve --ray: error: {exc.message}", file=sys.stderr)
        return 2
    if address is None:
        _local_cluster_on_loopback(settings)
    try:
        import ray  # noqa: F401
    except ModuleNotFoundError:
        missing = "Ray is not installed; pip install 'twinkle[ray]'"
        print(f"twinkle-server serve --ray: error: {missing}", file=sys.stderr)
        return 2
    run(settings, layout, address=address, blocking=True)
    return 0
