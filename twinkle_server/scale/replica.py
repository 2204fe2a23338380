"""One replica of a served base model, as the replica pool sees it: a worker with a name and a life.

The pool (``pool.py``) routes runs to replicas through this interface only, so a replica may be a
``ModelWorker`` in this process (:class:`LocalReplica`) or an engine worker in another process or
on another machine (``ray_serve.py``). Each call mirrors the public ``ModelWorker`` interface the
HTTP layer already uses (``submit``, ``create_run``, ``release_run``, ``capacity``), plus:

- ``name``: stable across restarts (``model#0``): what the store records for a run's placement.
- ``incarnation()``: a new value each time the replica (re)starts. Adapters live in memory, so a
  run placed in an earlier incarnation is gone from the replica even though its name is the same.
- ``alive()``: False once the replica stopped or its process died.
"""

from __future__ import annotations

import uuid
from concurrent.futures import Future
from typing import Any, Protocol

from twinkle_server.engine.worker import ModelWorker, WorkerState, WorkerStats

__all__ = ["LocalReplica", "Replica"]


class Replica(Protocol):
    name: str

    def incarnation(self) -> str: ...
    def alive(self) -> bool: ...
    def state(self) -> WorkerState: ...
    def start(self) -> None: ...
    def stop(self, timeout: float | None = None) -> None: ...
    def wait_ready(self, timeout: float | None = None) -> None: ...
    def capacity(self) -> Any: ...
    def stats(self) -> WorkerStats: ...
    def submit(self, run_id: str, op: str, /, **kwargs: Any) -> Future[dict]: ...
    def create_run(
        self,
        run_id: str,
        *,
        lora: dict,
        gradient_accumulation_steps: int = 1,
        seed: int | None = None,
        owner: str | None = None,
    ) -> Future[dict]: ...
    def release_run(self, run_id: str) -> Future[None]: ...


class LocalReplica:
    """A ``ModelWorker`` of this process as a replica (tests, and one machine with several devices)."""

    def __init__(self, name: str, worker: ModelWorker) -> None:
        self.name = name
        self.worker = worker
        self._incarnation = uuid.uuid4().hex
        self._stopping = False

    def incarnation(self) -> str:
        return self._incarnation

    def alive(self) -> bool:
        # Set before the worker fails its queued ops, so the pool sees those failures as a loss.
        if self._stopping:
            return False
        return self.worker.state in (WorkerState.NEW, WorkerState.LOADING, WorkerState.READY)

    def state(self) -> WorkerState:
        return self.worker.state

    def start(self) -> None:
        self.worker.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stopping = True
        self.worker.stop(timeout)

    def wait_ready(self, timeout: float | None = None) -> None:
        self.worker.wait_ready(timeout)

    def capacity(self) -> Any:
        return self.worker.capacity()

    def stats(self) -> WorkerStats:
        return self.worker.stats()

    def submit(self, run_id: str, op: str, /, **kwargs: Any) -> Future[dict]:
        return self.worker.submit(run_id, op, **kwargs)

    def create_run(
        self,
        run_id: str,
        *,
        lora: dict,
        gradient_accumulation_steps: int = 1,
        seed: int | None = None,
        owner: str | None = None,
    ) -> Future[dict]:
        return self.worker.create_run(
            run_id, lora=lora, gradient_accumulation_steps=gradient_accumulation_steps, seed=seed, owner=owner
        )

    def release_run(self, run_id: str) -> Future[None]:
        return self.worker.release_run(run_id)
