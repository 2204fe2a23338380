"""The data registry: ids it does not hold are rebuilt once, for their owner only."""

from __future__ import annotations

import threading
import time

import pytest

from twinkle_server.api.registry import DataRegistry
from twinkle_server.errors import NotFound


def test_a_missing_id_is_rebuilt_once_for_its_owner_and_is_404_for_others() -> None:
    calls: list[tuple[str, str, str]] = []

    def rebuild(prefix: str, user_id: str, item_id: str) -> object | None:
        calls.append((prefix, user_id, item_id))
        time.sleep(0.05)  # long enough for the other threads to arrive meanwhile
        return {"rebuilt": item_id} if user_id == "alice" else None

    registry = DataRegistry(rebuild=rebuild)
    got: list[object] = []
    threads = [
        threading.Thread(target=lambda: got.append(registry.get("ds", "alice", "ds_1"))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert got == [{"rebuilt": "ds_1"}] * 4 and calls == [("ds", "alice", "ds_1")]
    with pytest.raises(NotFound):
        registry.get("ds", "bob", "ds_1")  # held now, but alice's
    with pytest.raises(NotFound):
        registry.get("ds", "bob", "ds_2")  # no recipe of bob's
    with pytest.raises(NotFound):
        registry.get("dl", "alice", "ds_1")  # a dataset id is not a dataloader id
    assert calls == [("ds", "alice", "ds_1"), ("ds", "bob", "ds_2")]
