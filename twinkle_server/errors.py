"""Domain errors shared by the engine, the data pipeline, the store and the HTTP layer.

None of these know about HTTP. The HTTP layer maps each class to one status code, so a
component raises the error that describes what went wrong and never picks a status itself::

    TwinkleError                 500 internal_error  (a real bug)
    ├── InvalidInput             400 invalid_input   (the request can never succeed as sent)
    ├── Forbidden                403 forbidden       (valid key, but not allowed to do this)
    ├── NotFound                 404 not_found       (missing, or owned by someone else)
    ├── Conflict                 409 conflict        (valid, but not in the resource's current state)
    │   └── HeldElsewhere        409 held_elsewhere (the run's adapter is in another server process)
    ├── CapacityExceeded         429 capacity_exceeded (retry later; carries retry_after)
    │   ├── QuotaExceeded        429 quota_exceeded (a per-user quota: adapters, concurrent tasks)
    │   └── RateLimited          429 rate_limited (the user's request rate; retry after retry_after)
    └── Unavailable              503 unavailable     (overloaded or not ready; carries retry_after)
        ├── OutOfMemory          503 out_of_memory   (the device ran out of memory for this request)
        └── ReplicaLost          503 replica_lost    (the run's engine replica was lost; not applied)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CapacityExceeded",
    "Conflict",
    "Forbidden",
    "HeldElsewhere",
    "InvalidInput",
    "NotFound",
    "OutOfMemory",
    "QuotaExceeded",
    "RateLimited",
    "ReplicaLost",
    "TwinkleError",
    "Unavailable",
]


class TwinkleError(Exception):
    """Base of every error Twinkle raises on purpose.

    Args:
        message: what went wrong and, where possible, how to fix it. Shown to the user.
        details: machine-readable context (the offending field, the accepted values...).
    """

    code = "internal_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class InvalidInput(TwinkleError):
    code = "invalid_input"


class Forbidden(TwinkleError):
    """The caller is known but may not do this (e.g. publish into another user's hub repository)."""

    code = "forbidden"


class NotFound(TwinkleError):
    code = "not_found"


class Conflict(TwinkleError):
    code = "conflict"


class HeldElsewhere(Conflict):
    """The run's adapter lives in another live server process sharing the database: only that
    process can run its operations (``details.held_by`` names it), so the request goes there."""

    code = "held_elsewhere"


class CapacityExceeded(TwinkleError):
    """A limit (max_loras, max_r, sessions...) is reached; ``retry_after`` is in seconds."""

    code = "capacity_exceeded"

    def __init__(
        self, message: str, *, details: dict[str, Any] | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


class QuotaExceeded(CapacityExceeded):
    """One user's share is used up (adapters on a model, operations at once); others are unaffected.

    ``retry_after=None`` marks a quota that waiting cannot clear (the user must free something
    first): it is answered without Retry-After, so clients give up at once instead of retrying.
    """

    code = "quota_exceeded"


class RateLimited(CapacityExceeded):
    """One user sends requests faster than their rate allows; ``retry_after`` says when a token is back."""

    code = "rate_limited"


class Unavailable(TwinkleError):
    """The service cannot take the request now (model loading, shutting down, overloaded)."""

    code = "unavailable"

    def __init__(
        self, message: str, *, details: dict[str, Any] | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


class OutOfMemory(Unavailable):
    code = "out_of_memory"


class ReplicaLost(Unavailable):
    """The engine replica holding the run died (or its answer was lost) before the operation was
    acknowledged, so it did not take effect. The same request again (same Idempotency-Key) runs it
    once on the moved run, even when its first answer was a 202 task that failed so."""

    code = "replica_lost"
