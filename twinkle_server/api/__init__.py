"""The HTTP face of the server: the generated ``TwinkleService`` implemented on the runtime.

One module per spec tag (``service``, ``sessions``, ``training_runs``, ``run_config``,
``run_compute``, ``checkpoints``, ``data``, ``tasks``, ``history``, ``account``), each a thin
mixin (``run_calls``, several run_compute calls in one request, has a module of its own);
:class:`TwinkleServer` combines them. Cross-cutting pieces: ``errors`` (the one error
schema), ``middleware`` (request id, body limit), ``ordering`` (a run's POSTs numbered on
arrival), ``deps`` (auth). The plumbing the runtime shares with this layer (idempotency, run
ordering, error statuses) lives below it, in ``twinkle_server.requests``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Request
from twinkle_api_server.service import TwinkleService

from twinkle_server.api.account import AccountOps
from twinkle_server.api.checkpoints import CheckpointOps
from twinkle_server.api.data import DataOps
from twinkle_server.api.deps import Authenticator, Caller
from twinkle_server.api.history import HistoryOps
from twinkle_server.api.registry import DataRegistry
from twinkle_server.api.run_calls import RunCallsOps
from twinkle_server.api.run_compute import RunComputeOps
from twinkle_server.api.run_config import RunConfigOps
from twinkle_server.api.sampling import SamplingOps
from twinkle_server.api.service import ServiceOps
from twinkle_server.api.sessions import SessionOps
from twinkle_server.api.tasks import TaskOps
from twinkle_server.api.training_runs import TrainingRunOps
from twinkle_server.data_recipes import DataRecipes

if TYPE_CHECKING:
    from twinkle_server.runtime import Runtime

__all__ = ["TwinkleServer"]


class TwinkleServer(
    ServiceOps,
    SessionOps,
    TrainingRunOps,
    RunConfigOps,
    RunComputeOps,
    RunCallsOps,
    SamplingOps,
    CheckpointOps,
    DataOps,
    TaskOps,
    HistoryOps,
    AccountOps,
    TwinkleService,
):
    """Every operation of openapi.yaml, served from one :class:`~twinkle_server.runtime.Runtime`."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.recipes = DataRecipes(
            runtime.store,
            resolver=runtime.resolver,
            settings=runtime.settings,
            processes=lambda: self.encode_processes,
        )
        self.data = DataRegistry(rebuild=self.recipes.rebuild)
        self._authenticator = Authenticator(runtime)

    async def authenticate(self, request: Request, token: str | None) -> Caller:
        """The caller behind ``token``, after taking one token of the caller's request rate
        (429 rate_limited when it is used up; other users are not affected)."""
        caller = await self._authenticator(token)
        quotas = self.runtime.quotas
        quotas.admit(caller.user_id, quotas.quota_for(caller.limits))
        return caller

    def __repr__(self) -> str:
        return f"TwinkleServer(models={list(self.runtime.workers)!r})"
