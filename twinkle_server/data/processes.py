"""Worker processes for dataset encoding, owned by the server: bounded in total, never orphaned.

A user's ``num_proc`` is a wish, not an order. :class:`EncodeProcesses` holds the server's budget
of worker processes (``encode_max_procs``, never above the CPU count) shared by every encode at
once: a request gets at most what is free and at most one process per chunk of work, and with one
or none it encodes in its own thread. Workers die with the server: each asks the kernel to kill it
when its parent dies (Linux), and :meth:`EncodeProcesses.shutdown` terminates running pools, so
neither SIGTERM nor SIGKILL of the server leaves encoders behind.

Example::

    processes = EncodeProcesses(max_procs=2)
    results = processes.map(encode_chunk, jobs, num_proc=64)   # runs on at most 2 processes
    processes.shutdown()                                       # at server shutdown
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from twinkle_server.errors import Unavailable

__all__ = ["EncodeProcesses", "cpu_limit"]

_POLL_S = 0.2
_PR_SET_PDEATHSIG = 1


def cpu_limit() -> int:
    """CPUs this process may run on (its affinity where the OS reports it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _die_with_parent(parent_pid: int) -> None:
    """Pool initializer: be killed when the server dies, even by SIGKILL (Linux only)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


class EncodeProcesses:
    """A budget of ``max_procs`` worker processes (capped by the CPU count) shared by all encodes."""

    def __init__(self, max_procs: int) -> None:
        self.max_procs = max(1, min(int(max_procs), cpu_limit()))
        self._free = self.max_procs
        self._lock = threading.Lock()
        self._pools: set[Any] = set()
        self._closed = False

    def _take(self, wanted: int) -> int:
        with self._lock:
            if self._closed:
                raise Unavailable("the server is shutting down; encode again after it restarts")
            granted = min(wanted, self._free)
            if granted < 2:  # one process buys nothing over the calling thread
                return 0
            self._free -= granted
            return granted

    def _give_back(self, count: int) -> None:
        with self._lock:
            self._free += count

    def map(self, fn: Callable[[Any], Any], jobs: Sequence[Any], *, num_proc: int | None) -> list[Any]:
        """``[fn(job) for job in jobs]``, on up to ``num_proc`` worker processes when free.

        Raises:
            Unavailable: the server shut down while (or before) the work ran.
        """
        wanted = min(num_proc or 1, self.max_procs, len(jobs))
        granted = self._take(wanted) if wanted > 1 else 0
        if granted == 0:
            return [fn(job) for job in jobs]
        try:
            return self._run(fn, jobs, granted)
        finally:
            self._give_back(granted)

    def _run(self, fn: Callable[[Any], Any], jobs: Sequence[Any], processes: int) -> list[Any]:
        pool = multiprocessing.get_context("spawn").Pool(
            processes, initializer=_die_with_parent, initargs=(os.getpid(),)
        )
        try:
            with self._lock:
                if self._closed:
                    raise Unavailable("the server is shutting down; encode again after it restarts")
                self._pools.add(pool)
            result = pool.map_async(fn, jobs)
            while True:
                try:
                    return result.get(timeout=_POLL_S)
                except multiprocessing.TimeoutError:
                    if self._closed:
                        raise Unavailable(
                            "the server shut down during this encode; encode again after it restarts"
                        ) from None
        finally:
            pool.terminate()
            pool.join()
            with self._lock:
                self._pools.discard(pool)

    @property
    def busy(self) -> int:
        """Worker processes running now."""
        with self._lock:
            return self.max_procs - self._free

    def shutdown(self) -> None:
        """Terminate every running pool; later encodes are refused (503)."""
        with self._lock:
            self._closed = True
            pools = list(self._pools)
        for pool in pools:
            pool.terminate()
