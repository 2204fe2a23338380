"""Server-generated ids: a short prefix naming the kind of thing, then URL-safe randomness."""

from __future__ import annotations

import re
import secrets

__all__ = ["ID_PATTERN", "new_id"]

ID_PATTERN = re.compile(r"^[a-z]+_[A-Za-z0-9_-]{16,}$")


def new_id(prefix: str) -> str:
    """``prefix`` + ``_`` + 22 characters of [A-Za-z0-9_-] (128 random bits), e.g. ``run_4fQ…``.

    Random rather than sequential, so an id reveals nothing about other users' resources and
    cannot be guessed.
    """
    if not prefix.isalpha() or not prefix.islower():
        raise ValueError(f"id prefix must be lowercase letters, not {prefix!r}")
    return f"{prefix}_{secrets.token_urlsafe(16)}"
