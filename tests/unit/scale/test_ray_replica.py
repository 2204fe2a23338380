"""RayReplica against a real EngineReplica, without a Ray cluster: the Serve handle is replaced by
a small in-process one that runs each call on a thread (what Serve does across processes). Checks
the ingress side of the Ray deployment: ordered calls per run, the engine's errors arriving as
themselves, and calls meant for an earlier incarnation refused as lost (``make test-slow`` runs
the real cluster)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from twinkle_server.errors import InvalidInput, Unavailable
from twinkle_server.scale.ray_serve import EngineReplica, RayReplica

LORA = {"r": 4, "lora_alpha": 8, "lora_dropout": 0.0}


class _Response:
    def __init__(self, future: Future) -> None:
        self._future = future

    def result(self, timeout_s: float | None = None) -> Any:
        return self._future.result(timeout_s)


class _Method:
    def __init__(self, handle: _Handle, name: str) -> None:
        self._handle, self._name = handle, name

    def remote(self, *args: Any) -> _Response:
        def run() -> Any:
            out = getattr(self._handle.target, self._name)(*args)
            return asyncio.run(out) if inspect.iscoroutine(out) else out

        return _Response(self._handle.threads.submit(run))


class _Handle:
    """Stands in for a Serve deployment handle: ``handle.<method>.remote(...).result()``."""

    def __init__(self, target: EngineReplica) -> None:
        self.target = target
        self.threads = ThreadPoolExecutor(8)

    def __getattr__(self, name: str) -> _Method:
        return _Method(self, name)


@pytest.fixture
def replica(tiny_model_dir: Path, tmp_path: Path, seed_settings) -> Iterator[tuple[RayReplica, _Handle]]:
    settings = seed_settings(tmp_path / "data")
    handle = _Handle(EngineReplica(settings, 0))
    ray_replica = RayReplica("Qwen/Qwen2.5-7B-Instruct#0", handle)
    ray_replica.wait_ready(60)
    yield ray_replica, handle
    ray_replica.stop()
    handle.target.worker.stop(10)
    handle.threads.shutdown()


def test_calls_run_in_order_and_errors_arrive_as_themselves(replica, sc_rows) -> None:
    ray_replica, _ = replica
    assert ray_replica.alive() and ray_replica.capacity().free == 2
    ray_replica.create_run("run_a", lora=LORA, seed=1).result(60)
    sent = [ray_replica.submit("run_a", "set_optimizer", name="AdamW", lr=1e-3)]
    for i in range(3):
        sent.append(ray_replica.submit("run_a", "forward_backward", inputs=sc_rows[2 * i : 2 * i + 2]))
        sent.append(ray_replica.submit("run_a", "step"))
    results = [f.result(60) for f in sent]
    assert [r["optimizer_step"] for r in results[2::2]] == [1, 2, 3]  # each step after its batch
    with pytest.raises(InvalidInput, match="unknown operation"):
        ray_replica.submit("run_a", "no_such_op").result(60)
    ray_replica.refresh()
    assert ray_replica.capacity().used == 1


def test_a_call_meant_for_an_earlier_life_is_refused_as_lost(
    replica, tiny_model_dir, tmp_path, seed_settings
) -> None:
    ray_replica, handle = replica
    ray_replica.create_run("run_a", lora=LORA).result(60)
    before = ray_replica.incarnation()
    # The info thread must not see the new life before the call goes out (on a loaded machine it
    # did, and the call then reached the new replica): this test is about a call sent for the old one.
    ray_replica._stop.set()
    ray_replica._watcher.join(30)
    old = handle.target
    handle.target = EngineReplica(seed_settings(tmp_path / "data2"), 0)  # Serve restarted it
    old.worker.stop(10)
    with pytest.raises(Unavailable, match="retry it: the run continues on another replica"):
        ray_replica.submit("run_a", "get_train_configs").result(60)
    ray_replica.refresh()
    assert ray_replica.incarnation() != before  # the pool sees the new life and moves the run
