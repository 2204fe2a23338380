"""Datasets and dataloaders a user builds on the server, held in memory and owned by the user.

They are working state of a training script, not records: they live as long as the server
process (a restarted server asks the script to build them again, which it does from its own code).
Another user's id answers 404 exactly as a missing one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
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


class DataRegistry:
    """Thread-safe map of ``ds_...``/``dl_...`` ids to objects, filtered by owner."""

    def __init__(self, *, max_per_user: int = MAX_OBJECTS_PER_USER) -> None:
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self.max_per_user = max_per_user

    def add(self, prefix: str, user_id: str, value: Any, *, parent: str | None = None) -> str:
        with self._lock:
            owned = sum(1 for e in self._entries.values() if e.user_id == user_id)
            if owned >= self.max_per_user:
                raise CapacityExceeded(
                    f"you already hold {owned} datasets and dataloaders on this server (limit "
                    f"{self.max_per_user}); reuse them or restart your script's session",
                    details={"limit": self.max_per_user},
                    retry_after=60.0,
                )
            item_id = new_id(prefix)
            self._entries[item_id] = _Entry(user_id, value, parent)
            return item_id

    def get(self, prefix: str, user_id: str, item_id: str) -> Any:
        return self.entry(prefix, user_id, item_id).value

    def entry(self, prefix: str, user_id: str, item_id: str) -> _Entry:
        with self._lock:
            entry = self._entries.get(item_id)
        if entry is None or entry.user_id != user_id or not item_id.startswith(prefix + "_"):
            kind = {"ds": "dataset", "dl": "dataloader"}.get(prefix, prefix)
            raise NotFound(f"{kind} {item_id} not found", details={f"{kind}_id": item_id})
        return entry
