"""Per-user quotas: adapters per model, operations at once, and a request rate (token bucket).

Why per user rather than per server: the server's own limits (``max_loras``, the pass budget) keep
the machine alive, but one tenant could still take every slot or every worker thread. Each quota
here is counted for one user only, so a user who floods the server is refused (429 with
``Retry-After``) while everybody else's requests go through untouched. The adapters quota is the
exception to Retry-After: only the user closing a session frees one, so its 429 comes without it
and clients report it at once instead of retrying.

The server's settings give the defaults (``max_runs_per_user``, ``max_tasks_per_user``,
``rate_limit_per_s``, ``rate_limit_burst``); an operator can override them for one API key
(``twinkle-server keys limits KEY --max-runs N --rate R``).

Several server processes on one database (docs/scaling.md):

* adapters are counted from the store, and the count and the new run's row are one locked step
  (``store.runs.lock_user_runs``), so the quota holds over every process;
* operations at once are this process's, counted here, plus the other live processes' as each
  published with its last beat (:meth:`Quotas.set_peer_load`): no database write per operation,
  and a peer's count is at most one beat old;
* the request rate is a bucket per process: it guards what a flood exhausts, one process's
  threads and event loop. A user whose requests spread over N processes may send up to N times
  the rate.

Example::

    quotas = Quotas(settings)
    quota = quotas.quota_for(key_limits)        # settings, overridden by the key's own limits
    quotas.admit(user_id, quota)                # RateLimited when the bucket is empty
    release = quotas.claim_task(user_id, quota) # QuotaExceeded at max_tasks
    future.add_done_callback(lambda _: release())
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from twinkle_server.config import Settings
from twinkle_server.errors import QuotaExceeded, RateLimited
from twinkle_server.store.users import KeyLimits

__all__ = ["Quota", "Quotas", "TokenBucket"]


@dataclass(frozen=True)
class Quota:
    """One user's effective limits (None: no limit of that kind besides the server's own)."""

    max_runs_per_model: int | None
    max_tasks: int
    rate_per_s: float | None
    burst: int


class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` per second; a request takes one.

    Not thread-safe by itself: :class:`Quotas` holds the lock.
    """

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = now

    def take(self, now: float) -> float:
        """0.0 if a token was taken, else the seconds until one is back."""
        self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class Quotas:
    """The counters behind every per-user quota of one server process."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, TokenBucket] = {}
        self._tasks: dict[str, int] = {}
        self._peer_tasks: dict[str, int] = {}
        self._run_locks: dict[str, asyncio.Lock] = {}

    def quota_for(self, limits: KeyLimits | None) -> Quota:
        """The settings' quotas, each replaced by the key's own where the operator set one."""
        s = self.settings
        own = limits or KeyLimits()
        return Quota(
            max_runs_per_model=own.max_runs_per_model or s.max_runs_per_user,
            max_tasks=own.max_tasks or s.max_tasks_per_user,
            rate_per_s=own.rate_per_s or s.rate_limit_per_s,
            burst=own.burst or s.rate_limit_burst,
        )

    # -- request rate ---------------------------------------------------------------------------

    def admit(self, user_id: str, quota: Quota) -> None:
        """Take one request token of ``user_id``'s bucket, or raise :class:`RateLimited`."""
        if quota.rate_per_s is None:
            return
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(user_id)
            if bucket is None:
                bucket = self._buckets[user_id] = TokenBucket(quota.rate_per_s, quota.burst, now)
            bucket.rate, bucket.burst = quota.rate_per_s, quota.burst  # an operator may have changed them
            wait = bucket.take(now)
        if wait > 0:
            raise RateLimited(
                f"too many requests: your limit is {quota.rate_per_s:g} requests per second "
                f"(bursts of {quota.burst}); retry after {math.ceil(wait)} s",
                details={"limit": "rate_limit_per_s", "rate_per_s": quota.rate_per_s, "burst": quota.burst},
                retry_after=wait,
            )

    # -- operations at once ---------------------------------------------------------------------

    def claim_task(self, user_id: str, quota: Quota) -> Callable[[], None]:
        """Count one more operation of ``user_id`` in flight; the returned callable releases it
        (once, however often it is called). Raises :class:`QuotaExceeded` at ``max_tasks``,
        counting the user's operations in the other server processes too."""
        with self._lock:
            here = self._tasks.get(user_id, 0)
            held = here + self._peer_tasks.get(user_id, 0)
            if held >= quota.max_tasks:
                raise QuotaExceeded(
                    f"you already have {held} operations queued or running (max_tasks_per_user="
                    f"{quota.max_tasks}); wait for them to finish before sending more",
                    details={"limit": "max_tasks_per_user", "max_tasks": quota.max_tasks, "in_flight": held},
                    retry_after=1.0,
                )
            self._tasks[user_id] = here + 1
        released = threading.Event()

        def release() -> None:
            if released.is_set():
                return
            released.set()
            with self._lock:
                left = self._tasks.get(user_id, 1) - 1
                if left > 0:
                    self._tasks[user_id] = left
                else:
                    self._tasks.pop(user_id, None)

        return release

    def tasks_in_flight(self, user_id: str) -> int:
        """The user's operations in flight in this process."""
        with self._lock:
            return self._tasks.get(user_id, 0)

    def load(self) -> dict[str, int]:
        """Operations in flight per user in this process (what it publishes with its beat)."""
        with self._lock:
            return dict(self._tasks)

    def set_peer_load(self, loads: list[dict[str, int]]) -> None:
        """The loads the other live server processes published: counted from now on."""
        total: dict[str, int] = {}
        for load in loads:
            for user_id, count in load.items():
                total[user_id] = total.get(user_id, 0) + int(count)
        with self._lock:
            self._peer_tasks = total

    # -- adapters per model ---------------------------------------------------------------------

    def run_lock(self, user_id: str) -> asyncio.Lock:
        """Held while one of the user's runs is counted and created, so two concurrent creations
        cannot both pass the adapters-per-model check."""
        with self._lock:
            lock = self._run_locks.get(user_id)
            if lock is None:
                lock = self._run_locks[user_id] = asyncio.Lock()
            return lock

    @staticmethod
    def check_runs(quota: Quota, *, model_id: str, held: int) -> None:
        """Raise :class:`QuotaExceeded` if one more adapter on ``model_id`` is over the quota."""
        if quota.max_runs_per_model is not None and held >= quota.max_runs_per_model:
            raise QuotaExceeded(
                f"you already hold {held} adapters on model {model_id!r} (max_runs_per_user="
                f"{quota.max_runs_per_model}); close a session you no longer need to free them",
                details={
                    "limit": "max_runs_per_user",
                    "max_runs": quota.max_runs_per_model,
                    "base_model": model_id,
                    "held": held,
                },
                retry_after=None,  # only closing a session frees one: retrying cannot help
            )
