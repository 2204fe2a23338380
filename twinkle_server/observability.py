"""What an operator sees: Prometheus metrics of the server and structured JSON logs.

:class:`ServerMetrics` owns one ``CollectorRegistry`` per app (so several apps in one process, as
in tests, never clash) holding

* ``twinkle_requests_total{operation,status}`` and ``twinkle_request_duration_seconds{operation}``
  (a histogram), counted by :class:`MetricsMiddleware` for every HTTP request;
* ``twinkle_tokens_trained_total{model}``: label tokens of completed ``forward_backward`` calls;
* read from the workers at scrape time: ``twinkle_queue_depth{model}``,
  ``twinkle_operations_total{model,outcome}``, ``twinkle_passes_total{model}``,
  ``twinkle_fused_ops_total{model}``, ``twinkle_pass_seconds_total{model}``,
  ``twinkle_pass_positions_total{model}``, ``twinkle_fusion_wait_seconds_total{model}``,
  ``twinkle_last_pass_{runs,rows,positions,seconds}{model}``,
  ``twinkle_adapters{model,state}`` and, when CUDA is in use, ``twinkle_device_memory_bytes
  {device,kind}``;
* the process collector (resident memory, CPU time, open files) of ``prometheus_client``.

``GET /metrics`` is served by the app when ``metrics_enabled``; see :func:`metrics_access` for who
may read it. ``log_format: json`` turns every server log line into one JSON object carrying the
request id of the request it belongs to (:class:`JsonFormatter`, :data:`request_id_var`).
"""

from __future__ import annotations

import contextvars
import hmac
import json
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

if TYPE_CHECKING:
    from twinkle_server.runtime import Runtime

__all__ = [
    "JsonFormatter",
    "MetricsMiddleware",
    "ServerMetrics",
    "bearer_token",
    "device_memory",
    "metrics_access",
    "request_id_var",
]

access_logger = logging.getLogger("twinkle_server.access")

# The id of the request being served, for log lines (set by MetricsMiddleware).
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "twinkle_request_id", default=None
)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]


class _RuntimeCollector:
    """Figures read from the runtime's workers when Prometheus scrapes."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        queue = GaugeMetricFamily(
            "twinkle_queue_depth", "Operations waiting in the model's queue.", labels=["model"]
        )
        ops = CounterMetricFamily(
            "twinkle_operations", "Engine operations finished, by outcome.", labels=["model", "outcome"]
        )
        passes = CounterMetricFamily(
            "twinkle_passes", "Forward passes over the base model.", labels=["model"]
        )
        fused = CounterMetricFamily(
            "twinkle_fused_ops", "Operations that ran in shared passes.", labels=["model"]
        )
        totals = {
            "pass_seconds": ("twinkle_pass_seconds", "Seconds spent in passes over the base model."),
            "pass_positions": ("twinkle_pass_positions", "Padded positions the passes computed."),
            "fusion_wait_seconds": (
                "twinkle_fusion_wait_seconds",
                "Seconds rounds waited for the runs due to share their pass.",
            ),
        }
        total = {
            field: CounterMetricFamily(name, text, labels=["model"]) for field, (name, text) in totals.items()
        }
        last = {
            field: GaugeMetricFamily(
                f"twinkle_last_pass_{field}", f"The last pass's {field}.", labels=["model"]
            )
            for field in ("runs", "rows", "positions", "seconds")
        }
        adapters = GaugeMetricFamily(
            "twinkle_adapters", "Adapter slots, by state.", labels=["model", "state"]
        )
        for model_id, worker in self.runtime.workers.items():
            stats = worker.stats()
            queue.add_metric([model_id], stats.queued)
            ops.add_metric([model_id, "succeeded"], stats.executed - stats.failed)
            ops.add_metric([model_id, "failed"], stats.failed)
            passes.add_metric([model_id], stats.passes)
            fused.add_metric([model_id], stats.fused_ops)
            for field, family in total.items():
                family.add_metric([model_id], getattr(stats, field))
            if stats.last_pass is not None:
                last["runs"].add_metric([model_id], stats.last_pass.runs)
                last["rows"].add_metric([model_id], stats.last_pass.rows)
                last["positions"].add_metric([model_id], stats.last_pass.tokens)
                last["seconds"].add_metric([model_id], stats.last_pass.seconds)
            cap = worker.capacity()
            adapters.add_metric([model_id, "used"], cap.used)
            adapters.add_metric([model_id, "free"], cap.free)
        yield from (queue, ops, passes, fused, *total.values(), *last.values(), adapters)
        memory = _device_memory()
        if memory is not None:
            yield memory


def device_memory() -> dict[str, dict[str, int]]:
    """Bytes per CUDA device and kind (allocated, reserved, peak_allocated, total, free); empty
    unless the engine has loaded torch and uses CUDA (this never imports torch)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return {}
    out = {}
    for index in range(torch.cuda.device_count()):
        free, total = torch.cuda.mem_get_info(index)
        out[f"cuda:{index}"] = {
            "allocated": torch.cuda.memory_allocated(index),
            "reserved": torch.cuda.memory_reserved(index),
            "peak_allocated": torch.cuda.max_memory_allocated(index),
            "total": total,
            "free": free,
        }
    return out


def _device_memory() -> GaugeMetricFamily | None:
    readings = device_memory()
    if not readings:
        return None
    family = GaugeMetricFamily(
        "twinkle_device_memory_bytes", "Device memory, by kind.", labels=["device", "kind"]
    )
    for device, kinds in readings.items():
        for kind, value in kinds.items():
            family.add_metric([device, kind], value)
    return family


class ServerMetrics:
    """The Prometheus registry of one app and the counters the request path updates."""

    def __init__(self, runtime: Runtime | None = None) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "twinkle_requests",
            "HTTP requests, by operation and status.",
            ["operation", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "twinkle_request_duration_seconds",
            "Time to answer an HTTP request, by operation.",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.tokens_trained = Counter(
            "twinkle_tokens_trained",
            "Label tokens trained (forward_backward), by model.",
            ["model"],
            registry=self.registry,
        )
        ProcessCollector(registry=self.registry)
        if runtime is not None:
            self.registry.register(_RuntimeCollector(runtime))

    def watch_training(self, future: Any, *, model: str, op: str) -> None:
        """Count the label tokens of a completed ``forward_backward``/``backward`` future."""
        if op != "forward_backward":
            return

        def done(f: Any) -> None:
            if not f.cancelled() and f.exception() is None:
                self.tokens_trained.labels(model).inc(int(f.result().get("num_tokens") or 0))

        future.add_done_callback(done)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times every HTTP request by operationId and status; sets the log request id.

    Sits inside ``RequestIdMiddleware`` (it reads the id that one chose). With ``access_log`` it
    also logs one line per request on ``twinkle_server.access``.
    """

    def __init__(self, app: ASGIApp, *, metrics: ServerMetrics, access_log: bool = False) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = request_id_var.set(scope.get("twinkle.request_id"))
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            operation = getattr(route, "operation_id", None) or getattr(route, "name", None) or "unmatched"
            self.metrics.requests.labels(operation, str(status)).inc()
            self.metrics.latency.labels(operation).observe(elapsed)
            if self.access_log:
                access_logger.info(
                    "%s %s %d %.1f ms",
                    scope.get("method", ""),
                    scope.get("path", ""),
                    status,
                    elapsed * 1000,
                    extra={"operation": operation, "status": status, "duration_ms": round(elapsed * 1000, 2)},
                )
            request_id_var.reset(token)


def _is_loopback(host: str | None) -> bool:
    from twinkle_server.runtime import is_loopback

    return host is not None and is_loopback(host)


def metrics_access(runtime: Runtime, *, client_host: str | None, token: str | None) -> tuple[int, str] | None:
    """Who may read ``/metrics``: None when allowed, else (status, reason).

    Allowed: the operator token (the value of the environment variable named by
    ``metrics_token_env``), the API key of a user named in ``metrics_operators``, or, when
    ``metrics_allow_loopback`` is on and neither credential is given, a client on this machine.
    """
    settings = runtime.settings
    expected = os.environ.get(settings.metrics_token_env, "") if settings.metrics_token_env else ""
    if token:
        if expected and hmac.compare_digest(token.encode(), expected.encode()):
            return None
        if settings.metrics_operators:
            from twinkle_server.store import users as user_records

            with runtime.store.read_session() as s:
                user = user_records.authenticate(s, plaintext=token)
            if user is not None and user.name in settings.metrics_operators:
                return None
        return 403, "this key may not read the server metrics; use the operator token or an operator's key"
    if settings.metrics_allow_loopback and _is_loopback(client_host):
        return None
    return 401, (
        "the server metrics need `Authorization: Bearer <operator token>` (the value of "
        f"${settings.metrics_token_env}) or an operator's API key"
    )


def bearer_token(headers: Any) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header, or None."""
    header = headers.get("authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else None


class JsonFormatter(logging.Formatter):
    """One JSON object per log line: time, level, logger, message, request_id and extras."""

    _SKIP = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            out["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in self._SKIP and not key.startswith("_"):
                out[key] = value if isinstance(value, str | int | float | bool | None) else repr(value)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out)
