"""Named defaults of the client transport: retry policy, timeouts, task polling and header names.

They live in one place so that a reader can see every knob the client turns without reading
the transport, and so that tests and the user classes refer to the same values.
"""

from __future__ import annotations

__all__ = [
    "API_PREFIX",
    "CLIENT_VERSION_HEADER",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_INITIAL_RETRY_DELAY",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_MAX_RETRY_AFTER",
    "DEFAULT_MAX_RETRY_DELAY",
    "DEFAULT_POLL_TIMEOUT",
    "DEFAULT_POLL_WAIT",
    "DEFAULT_POOL_TIMEOUT",
    "DEFAULT_READ_TIMEOUT",
    "DEFAULT_WRITE_TIMEOUT",
    "IDEMPOTENCY_KEY_HEADER",
    "IDEMPOTENT_METHODS",
    "MAX_POLL_INTERVAL",
    "MAX_POLL_WAIT",
    "MIN_POLL_INTERVAL",
    "PROGRESS_POLL_WAIT",
    "REQUEST_ID_HEADER",
    "RERUN_TASK_ERRORS",
    "RETRYABLE_STATUSES",
    "TASK_ID_HEADER",
    "USER_AGENT_PREFIX",
]

# Retries: exponential backoff with full jitter, 0.5 s doubling up to 8 s, at most 5 retries.
DEFAULT_MAX_RETRIES = 5
DEFAULT_INITIAL_RETRY_DELAY = 0.5
DEFAULT_MAX_RETRY_DELAY = 8.0
# A server's Retry-After is honoured up to this many seconds (a hostile or buggy value cannot
# park the client for an hour).
DEFAULT_MAX_RETRY_AFTER = 60.0
# 408 request timeout, 429 capacity or rate limit, and the transient 5xx family.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Methods that may be repeated without a key; every other method gets an Idempotency-Key.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
# Error codes of a failed 202 task that mean "not applied, send the call again": the client sends
# the same request (same Idempotency-Key) again, as after a 503, and the server runs it once more.
RERUN_TASK_ERRORS = frozenset({"replica_lost"})

# Timeouts in seconds. The read timeout is long because an engine operation may hold the
# connection for its short wait window, and a task long-poll for DEFAULT_POLL_WAIT.
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 300.0
DEFAULT_WRITE_TIMEOUT = 300.0
DEFAULT_POOL_TIMEOUT = 10.0

# Task polling: each GET /api/v1/tasks/{id}?wait=S asks the server to hold the answer up to
# S seconds (the spec allows 0..60). No overall limit by default: a training step can be long.
DEFAULT_POLL_WAIT = 30.0
MAX_POLL_WAIT = 60.0
DEFAULT_POLL_TIMEOUT: float | None = None
# When a server answers a long poll at once (it ignores or caps `wait`), the client paces
# itself between these bounds instead of spinning.
MIN_POLL_INTERVAL = 0.1
# With a progress bar on screen, each long poll asks the server to answer within this many seconds.
PROGRESS_POLL_WAIT = 1.0
MAX_POLL_INTERVAL = 2.0

API_PREFIX = "/api/v1"
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
# Carries twinkle_api_client.api_version.API_VERSION, the spec's info.version this client was
# generated from (imported when a client is made, to keep `import twinkle_client` light). The server
# refuses a client it cannot serve with 400 unsupported_client_version, naming the version to install.
CLIENT_VERSION_HEADER = "X-Twinkle-Client-Version"
REQUEST_ID_HEADER = "X-Request-Id"
# Set on a response the transport synthesised from a finished task, naming that task.
TASK_ID_HEADER = "X-Twinkle-Task-Id"
USER_AGENT_PREFIX = "twinkle-client"
