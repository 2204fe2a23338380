"""How a model worker reports itself: its life-cycle state, its counters, and the errors an
operation's caller gets when the worker could not, or did not, run it."""

from __future__ import annotations

import enum
import logging
import sys
from dataclasses import dataclass

from twinkle_server.engine.fusion import PassStats
from twinkle_server.errors import OutOfMemory, TwinkleError, Unavailable

__all__ = ["WorkerState", "WorkerStats", "not_serving", "operation_error", "shutting_down"]

logger = logging.getLogger("twinkle_server.engine.worker")


class WorkerState(enum.StrEnum):
    """Lifecycle: new ─start()─► loading ─► ready ─stop()─► stopped; loading ─error─► failed."""

    NEW = "new"
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True)
class WorkerStats:
    """A snapshot for health pages and tests: how busy the worker is and what it has done.

    ``passes`` counts passes over the base model, ``fused_ops`` the ops that ran in them (their
    ratio is the mean number of runs per pass); ``last_pass`` is the most recent pass's shape.
    ``pass_seconds`` and ``pass_positions`` add up every pass's time and padded positions (their
    ratio is the passes' throughput), ``fusion_wait_seconds`` the time rounds waited for partners.
    """

    state: WorkerState
    queued: int
    queued_by_run: dict[str, int]
    executed: int
    failed: int
    passes: int = 0
    fused_ops: int = 0
    last_pass: PassStats | None = None
    pass_seconds: float = 0.0
    pass_positions: int = 0
    fusion_wait_seconds: float = 0.0


def not_serving(state: WorkerState, model_id: str, load_error: BaseException | None) -> Unavailable:
    """Why a worker in ``state`` takes no operation now (503; retry while it loads)."""
    if state is WorkerState.FAILED:
        cause = f"{type(load_error).__name__}: {load_error}"
        return Unavailable(
            f"model {model_id!r} failed to load: {cause}", details={"model_id": model_id, "cause": cause}
        )
    if state is WorkerState.NEW:
        return Unavailable(f"model {model_id!r} is not started; call start() first")
    if state is WorkerState.LOADING:
        return Unavailable(f"model {model_id!r} is still loading", retry_after=5.0)
    return shutting_down(model_id)


def shutting_down(model_id: str) -> Unavailable:
    return Unavailable(
        f"model {model_id!r} is shutting down; the operation did not run", details={"model_id": model_id}
    )


def operation_error(model_id: str, run_id: str, operation: str, exc: BaseException) -> BaseException:
    """What the caller of a failed operation gets: a domain error unchanged, a device
    out-of-memory as OutOfMemory, a bug with its own type (logged with its traceback)."""
    if isinstance(exc, TwinkleError):
        logger.info("run %s op %s failed: %s: %s", run_id, operation, exc.code, exc)
        return exc
    if _is_device_oom(exc):
        logger.warning("run %s op %s ran out of device memory", run_id, operation)
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()
        error = OutOfMemory(
            f"the device ran out of memory during {operation} on model {model_id!r}; "
            "send fewer or shorter rows per call",
            details={"run_id": run_id, "operation": operation},
        )
        error.__cause__ = exc
        return error
    logger.error("run %s op %s raised an unexpected error", run_id, operation, exc_info=exc)
    return exc


def _is_device_oom(exc: BaseException) -> bool:
    torch = sys.modules.get("torch")
    oom_type = getattr(torch, "OutOfMemoryError", None) if torch is not None else None
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
