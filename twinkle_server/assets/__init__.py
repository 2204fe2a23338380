"""Data files shipped with the server: the self-cognition set and a small instruction sample.

They live inside the package so an installed wheel finds them without a checkout; ``path`` is the
one way to locate them, so callers never build paths relative to this file themselves.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["available", "path"]


def available() -> list[str]:
    """Names of the shipped data files, sorted."""
    root = resources.files(__name__)
    return sorted(p.name for p in root.iterdir() if p.is_file() and not p.name.endswith((".py", ".pyc")))


def path(name: str) -> Path:
    """Return the filesystem path of the asset ``name`` (for example ``"self_cognition.jsonl"``).

    Raises FileNotFoundError naming the assets that do exist, so a typo is easy to fix.
    """
    names = available()
    if name not in names:
        raise FileNotFoundError(f"unknown asset {name!r}; available assets: {', '.join(names)}")
    return Path(str(resources.files(__name__).joinpath(name)))
