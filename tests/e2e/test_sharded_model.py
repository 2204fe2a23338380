"""A served model sharded over two processes (``shard_ranks: 2``, gloo on the CPU) trains through the
real server and the Python client exactly like the same model served whole, and its second rank
stops with the server."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch

from tests.e2e._server import MODEL_ALIAS, MODEL_ID, process_alive

pytestmark = pytest.mark.e2e

SHARDED = "tiny/sharded"
STEPS = 3
LORA = {"r": 4, "lora_alpha": 8, "lora_dropout": 0.0, "target_modules": "all-linear"}


def _models(model_dir: Path) -> list[dict[str, Any]]:
    """The tiny model served twice: whole, and sharded over two processes under another id."""
    whole = {"path": str(model_dir), "device": "cpu", "max_loras": 2, "max_r": 16, "max_length": 512}
    return [
        {"model_id": MODEL_ID, "aliases": [MODEL_ALIAS], **whole},
        {"model_id": SHARDED, **whole, "shard_ranks": 2},
    ]


def _batches(vocab: int) -> list[list[dict]]:
    gen = torch.Generator().manual_seed(11)
    out = []
    for _ in range(STEPS):
        rows = []
        for length in (9, 14):
            ids = torch.randint(0, vocab, (length,), generator=gen).tolist()
            rows.append({"input_ids": ids, "labels": [*ids[1:], -100]})
        out.append(rows)
    return out


def _train(base_url: str, key: str, model_id: str, batches: list[list[dict]]) -> dict[str, Any]:
    from twinkle_client import TwinkleClient
    from twinkle_client.model import MultiLoraTransformersModel

    client = TwinkleClient(base_url, key)
    try:
        model = MultiLoraTransformersModel(model_id, client=client)
        model.add_adapter_to_model("default", LORA, seed=3)
        model.set_optimizer("AdamW", lr=1e-2)
        losses, norms = [], []
        for rows in batches:
            losses.append(model.forward_backward(inputs=rows).loss)
            norms.append(model.clip_grad_norm(1.0).grad_norm)
            model.step()
            model.zero_grad()
        saved = model.save("final")
        return {"losses": losses, "norms": norms, "saved": saved, "run_id": model.training_run_id}
    finally:
        client.close()


def _ranks(pid: int) -> list[int]:
    """The rank processes started by process ``pid`` (``python -m twinkle_server.engine.rank``)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            argv = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid and "twinkle_server.engine.rank" in argv:
            found.append(int(proc.name))
    return found


def test_a_sharded_model_trains_like_the_whole_one(make_server: Any, tiny_model_dir: Path) -> None:
    server, keys = make_server(users=("alice",), models=_models(tiny_model_dir))
    vocab = json.loads((tiny_model_dir / "config.json").read_text())["vocab_size"]
    batches = _batches(vocab)
    followers = _ranks(server.process.pid)
    assert len(followers) == 1, f"the sharded model started {len(followers)} other ranks:\n{server.log()}"

    whole = _train(server.base_url, keys["alice"], MODEL_ALIAS, batches)
    sharded = _train(server.base_url, keys["alice"], SHARDED, batches)

    assert whole["losses"][0] != whole["losses"][-1]
    assert sharded["losses"] == pytest.approx(whole["losses"], abs=1e-5, rel=0)
    assert sharded["norms"] == pytest.approx(whole["norms"], abs=1e-5, rel=0)
    assert sharded["saved"].endswith("/weights/final")

    server.stop()
    assert not any(process_alive(pid) for pid in followers), "a rank outlived the server"


@pytest.mark.slow  # a server of its own; the worker's side is in tests/unit/engine/test_replica.py
def test_a_lost_rank_answers_503_naming_it(make_server: Any, tiny_model_dir: Path) -> None:
    from twinkle_client import TwinkleClient
    from twinkle_client.model import MultiLoraTransformersModel

    server, keys = make_server(users=("alice",), models=_models(tiny_model_dir))
    vocab = json.loads((tiny_model_dir / "config.json").read_text())["vocab_size"]
    rows = _batches(vocab)[0]
    client = TwinkleClient(server.base_url, keys["alice"])
    try:
        model = MultiLoraTransformersModel(SHARDED, client=client)
        model.add_adapter_to_model("default", LORA, seed=3)
        model.forward_backward(inputs=rows)
        (rank,) = _ranks(server.process.pid)
        os.kill(rank, signal.SIGKILL)
        path = f"/api/v1/training_runs/{model.training_run_id}/forward_backward"
        headers = {"Authorization": f"Bearer {keys['alice']}"}
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=60.0) as http:
            for _ in range(2):  # the op that finds the rank gone, and every later one
                response = http.post(path, json={"inputs": rows})
                assert response.status_code == 503, response.text
                assert "rank 1" in response.json()["error"]["message"]
    finally:
        client.close()
    whole = _train(server.base_url, keys["alice"], MODEL_ALIAS, _batches(vocab)[:1])
    assert whole["saved"].endswith("/weights/final")  # the server and its other model keep serving
