"""Small argument checks shared by the engine's registries, so every message reads the same way."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from twinkle_server.errors import InvalidInput

__all__ = ["boolean", "check_kwargs", "check_name", "finite_number", "non_negative", "positive"]


def check_name(kind: str, name: Any, accepted: Iterable[str]) -> str:
    """Return ``name`` if it is one of ``accepted``; else InvalidInput listing the accepted names."""
    names = sorted(accepted)
    if not isinstance(name, str) or name not in names:
        raise InvalidInput(
            f"unknown {kind} {name!r}; accepted: {', '.join(names)}",
            details={"field": kind, "accepted": names},
        )
    return name


def check_kwargs(what: str, kwargs: Mapping[str, Any], accepted: Iterable[str]) -> None:
    """Reject keyword arguments ``what`` does not take, naming them and the accepted ones."""
    allowed = sorted(accepted)
    unknown = sorted(k for k in kwargs if k not in allowed)
    if unknown:
        listed = ", ".join(allowed) if allowed else "none"
        raise InvalidInput(
            f"{what} got unknown argument(s) {', '.join(unknown)}; accepted: {listed}",
            details={"unknown": unknown, "accepted": allowed},
        )


def boolean(field: str, value: Any) -> bool:
    """``true`` or ``false`` only: 0, 1 and "true" are not booleans here."""
    if not isinstance(value, bool):
        raise InvalidInput(f"{field} must be true or false, got {value!r}", details={"field": field})
    return value


def finite_number(field: str, value: Any) -> float:
    """A real number that is neither NaN nor infinite (bools are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{field} must be a number, got {value!r}", details={"field": field})
    if not math.isfinite(value):
        raise InvalidInput(f"{field} must be a finite number, got {value!r}", details={"field": field})
    return float(value)


def non_negative(field: str, value: Any) -> float:
    number = finite_number(field, value)
    if number < 0:
        raise InvalidInput(f"{field} must be >= 0, got {value!r}", details={"field": field})
    return number


def positive(field: str, value: Any) -> float:
    number = finite_number(field, value)
    if number <= 0:
        raise InvalidInput(f"{field} must be > 0, got {value!r}", details={"field": field})
    return number
