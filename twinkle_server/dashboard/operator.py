"""The operator's view of the server as one JSON object: models, devices and users.

The same figures as ``/metrics`` (read from the workers and the store when asked), shaped for the
dashboard's tables instead of for Prometheus.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from twinkle_server.observability import device_memory
from twinkle_server.store.usage import usage_by_user

if TYPE_CHECKING:
    from twinkle_server.runtime import Runtime

__all__ = ["operator_snapshot"]


def _model(model_id: str, worker: Any) -> dict[str, Any]:
    stats = worker.stats()
    cap = worker.capacity()
    last = stats.last_pass
    return {
        "model_id": model_id,
        "state": getattr(stats.state, "value", str(stats.state)),
        "capacity": {"max_loras": cap.max_loras, "used": cap.used, "free": cap.free},
        "queue_depth": stats.queued,
        "queued_by_run": stats.queued_by_run,
        "executed": stats.executed,
        "failed": stats.failed,
        "passes": stats.passes,
        "fused_ops": stats.fused_ops,
        "pass_seconds": stats.pass_seconds,
        "pass_positions": stats.pass_positions,
        "fusion_wait_seconds": stats.fusion_wait_seconds,
        "last_pass": None
        if last is None
        else {"runs": last.runs, "rows": last.rows, "positions": last.tokens, "seconds": last.seconds},
    }


def _resident_bytes() -> int | None:
    """This process's resident memory (Linux), the device memory of a CPU-only server."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def operator_snapshot(runtime: Runtime) -> dict[str, Any]:
    """Capacity, queue depth and pass sizes per model, device memory, and per-user usage."""
    with runtime.store.read_session() as s:
        users = usage_by_user(s)
    return {
        "models": [_model(model_id, worker) for model_id, worker in runtime.workers.items()],
        "devices": device_memory(),
        "process_resident_bytes": _resident_bytes(),
        "users": users,
    }
