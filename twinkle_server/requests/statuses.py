"""The HTTP status of each kind of domain error, in one table.

Kept below the HTTP layer because failures are also recorded on tasks (``twinkle_server.tasks``),
whose rows carry the status the request would have answered. An error class may name its own
status in ``http_status`` (the HTTP layer's ``Unauthorized``; a recorded failure replayed as
``tasks.TaskFailed``); everything else is mapped here from the classes of ``twinkle_server.errors``.
"""

from __future__ import annotations

from twinkle_server.errors import (
    CapacityExceeded,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TwinkleError,
    Unavailable,
)

__all__ = ["status_for"]

_STATUSES: tuple[tuple[type[TwinkleError], int], ...] = (
    (InvalidInput, 400),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (CapacityExceeded, 429),
    (Unavailable, 503),  # OutOfMemory is an Unavailable
)


def status_for(exc: TwinkleError) -> int:
    """The HTTP status of a domain error: its own ``http_status`` if it has one, else by class."""
    own = getattr(exc, "http_status", None)
    if isinstance(own, int):
        return own
    for cls, status in _STATUSES:
        if isinstance(exc, cls):
            return status
    return 500
