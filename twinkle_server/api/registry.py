"""Datasets and dataloaders a user builds on the server, held in memory and owned by the user.

The objects live in the process; their recipes live in the store (``twinkle_server.data_recipes``),
so after a restart an id the registry does not hold is rebuilt by ``rebuild`` the first time it is
used. Another user's id answers 404 exactly as a missing one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twinkle_server.errors import CapacityExceeded, NotFound
from twinkle_server.store.ids import new_id

__all__ = ["MAX_OBJECTS_PER_USER", "DataRegistry"]

# Datasets plus dataloaders one user may hold at once (each holds rows in memory).
MAX_OBJECTS_PER_USER = 256


@dataclass
class _Entry:
    user_id: str
    value: Any
    parent: str | None = None  # a dataloader's dataset id
    lock: threading.Lock = field(default_factory=threading.Lock)  # one step at a time, in recipe order


Rebuild = Callable[[str, str, str], Any]


class DataRegistry:
    """Thread-safe map of ``ds_...``/``dl_...`` ids to objects, filtered by owner."""

    def __init__(self, *, max_per_user: int = MAX_OBJECTS_PER_USER, rebuild: Rebuild | None = None) -> None:
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._rebuilding = threading.Lock()  # rebuilds are rare: one at a time, none twice
        self.max_per_user = max_per_user
        self.rebuild = rebuild  # (prefix, user_id, item_id) -> the object again, or None

    def add(
        self, prefix: str, user_id: str, value: Any, *, parent: str | None = None, item_id: str | None = None
    ) -> str:
        with self._lock:
            owned = sum(1 for e in self._entries.values() if e.user_id == user_id)
            if owned >= self.max_per_user:
                raise CapacityExceeded(
                    f"you already hold {owned} datasets and dataloaders on this server (limit "
                    f"{self.max_per_user}); reuse them or restart your script's session",
                    details={"limit": self.max_per_user},
                    retry_after=60.0,
                )
            item_id = item_id or new_id(prefix)
            self._entries[item_id] = _Entry(user_id, value, parent)
            return item_id

    def get(self, prefix: str, user_id: str, item_id: str) -> Any:
        return self.entry(prefix, user_id, item_id).value

    def entry(self, prefix: str, user_id: str, item_id: str) -> _Entry:
        """The caller's entry; one this process does not hold is rebuilt from its recipe (blocking:
        call it off the event loop). NotFound when neither holds it."""
        with self._lock:
            entry = self._entries.get(item_id)
        if entry is None and self.rebuild is not None and item_id.startswith(prefix + "_"):
            entry = self._rebuilt(prefix, user_id, item_id)
        if entry is None or entry.user_id != user_id or not item_id.startswith(prefix + "_"):
            kind = {"ds": "dataset", "dl": "dataloader"}.get(prefix, prefix)
            raise NotFound(f"{kind} {item_id} not found", details={f"{kind}_id": item_id})
        return entry

    def _rebuilt(self, prefix: str, user_id: str, item_id: str) -> _Entry | None:
        assert self.rebuild is not None
        with self._rebuilding:
            with self._lock:
                entry = self._entries.get(item_id)
            if entry is not None:  # built by the request that held the lock before us
                return entry
            value = self.rebuild(prefix, user_id, item_id)
            if value is None:
                return None
            self.add(prefix, user_id, value, item_id=item_id)
            with self._lock:
                return self._entries.get(item_id)
