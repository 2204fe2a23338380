"""Sampling through the real server: checkpoints are the owner's alone, the base model needs no run,
and a stream over a real socket delivers the tokens of the non-streamed sample one event at a time."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from tests.e2e._server import MODEL_ALIAS

pytestmark = pytest.mark.e2e

PROMPT = [5, 17, 33, 2, 9, 41, 7]


def test_sampling_sources_ownership_and_streaming(make_server: Any) -> None:
    from twinkle_client import NotFoundError, TwinkleClient
    from twinkle_client.model import MultiLoraTransformersModel
    from twinkle_client.sampler import SamplingParams, vLLMSampler

    server, keys = make_server()
    alice, bob = TwinkleClient(server.base_url, keys["alice"]), TwinkleClient(server.base_url, keys["bob"])
    try:
        model = MultiLoraTransformersModel(MODEL_ALIAS, client=alice)
        model.add_adapter_to_model("a", {"r": 4, "init_lora_weights": False}, seed=3)
        path = model.save("s0")
        params = SamplingParams(max_tokens=24, seed=11, temperature=1.0)
        ours = vLLMSampler(MODEL_ALIAS, client=alice)
        from_ckpt = ours.sample([PROMPT], params, adapter_uri=path)[0].sequences[0].tokens
        base = ours.sample([PROMPT], params)[0].sequences[0].tokens
        assert from_ckpt != base
        with pytest.raises(NotFoundError):
            vLLMSampler(MODEL_ALIAS, client=bob).sample([PROMPT], params, adapter_uri=path)

        streamed = [t.token for t in ours.sample_stream(PROMPT, params, adapter_uri=path)]
        assert streamed == from_ckpt

        events = _raw_events(server.base_url, keys["alice"], path)
        tokens = [data["token"] for name, data, _ in events if name == "token"]
        assert tokens == from_ckpt and events[-1][0] == "done"
        assert events[-1][1]["sequences"][0]["tokens"] == from_ckpt
        # Tokens are sent as they are decoded: the first arrives before the stream ends.
        assert events[0][2] < events[-1][2]
    finally:
        alice.close()
        bob.close()


def _raw_events(base_url: str, key: str, path: str) -> list[tuple[str, Any, float]]:
    """The stream read line by line off the socket, each event with its arrival time."""
    body = {"model_path": path, "prompts": [{"input_ids": PROMPT}], "max_tokens": 24, "seed": 11}
    events, name = [], None
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.stream(
        "POST", f"{base_url}/api/v1/sample_stream", json=body, headers=headers, timeout=120
    ) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                events.append((name, json.loads(line.split(":", 1)[1]), time.monotonic()))
    return events
