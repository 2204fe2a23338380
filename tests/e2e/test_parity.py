"""Parity: the seed's loop gives the same losses, step by step, in-process and against a server.

The loop is one script, run twice in fresh interpreters: once with ``twinkle`` imports (the engine
in-process, configured by ``TWINKLE_CONFIG`` from the server's own YAML file) and once with
``twinkle_client`` imports against a real server subprocess (configured by ``TWINKLE_SERVER_URL``
and ``TWINKLE_SERVER_TOKEN``). Only the import lines differ.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e._server import face_envs

pytestmark = pytest.mark.e2e

LOOP = """
import json, sys
from peft import LoraConfig
from twinkle.dataset import DatasetMeta
if sys.argv[1] == "local":
    from twinkle.dataloader import DataLoader
    from twinkle.dataset import Dataset
    from twinkle.model import MultiLoraTransformersModel
else:
    from twinkle_client import init_twinkle_client
    from twinkle_client.dataloader import DataLoader
    from twinkle_client.dataset import Dataset
    from twinkle_client.model import MultiLoraTransformersModel
    init_twinkle_client()  # TWINKLE_SERVER_URL, TWINKLE_SERVER_TOKEN

dataset = Dataset(dataset_meta=DatasetMeta('ms://swift/self-cognition', data_slice=range(40)))
dataset.set_template('Template', model_id='ms://Qwen/Qwen2.5-7B-Instruct', max_length=512)
dataset.map('SelfCognitionProcessor',
            init_args={'model_name': 'twinkle model', 'model_author': 'ModelScope Team'})
dataset.encode(batched=True)
dataloader = DataLoader(dataset=dataset, batch_size=8, shuffle=True, seed=3)
model = MultiLoraTransformersModel(model_id='ms://Qwen/Qwen2.5-7B-Instruct')
lora_config = LoraConfig(target_modules='all-linear', lora_alpha=16)
model.add_adapter_to_model('default', lora_config, gradient_accumulation_steps=2)
model.set_template('Template')
model.set_processor('InputProcessor', padding_side='right')
model.set_loss('CrossEntropyLoss')
model.set_optimizer('AdamW', lr=1e-3)
model.set_lr_scheduler('LinearLR')
record = []
for step, batch in enumerate(dataloader):
    output = model.forward_backward(inputs=batch)
    norm = model.clip_grad_norm(1.0).grad_norm
    model.step()
    model.zero_grad()
    lr = model.lr_step().lr
    record.append({"loss": output.loss, "num_tokens": output.num_tokens, "grad_norm": norm, "lr": lr})
samples = model.sample([[{"role": "user", "content": "Who are you?"}]], num_samples=2, max_tokens=8,
                       temperature=0.8, seed=5, logprobs=True)
print("SAMPLES " + json.dumps([s.model_dump() for s in samples.sequences]))
print("RESULT " + json.dumps(record))
"""


def _run(face: str, env: dict[str, str], cwd: Path) -> tuple[list[dict], list[dict]]:
    """The loop's per-step record and the sequences it sampled after training."""
    result = subprocess.run(
        [sys.executable, "-c", LOOP, face], capture_output=True, text=True, timeout=600, cwd=cwd, env=env
    )
    assert result.returncode == 0, f"{face} loop failed:\n{result.stderr[-5000:]}"
    lines = result.stdout.splitlines()
    record = next(x for x in lines if x.startswith("RESULT "))
    samples = next(x for x in lines if x.startswith("SAMPLES "))
    return json.loads(record[len("RESULT ") :]), json.loads(samples[len("SAMPLES ") :])


def test_local_and_remote_losses_match_step_by_step(make_server, tmp_path: Path) -> None:
    server, keys = make_server(users=("alice",))
    local_env, remote_env = face_envs(server, keys["alice"], tmp_path)
    local, local_samples = _run("local", local_env, tmp_path)
    remote, remote_samples = _run("remote", remote_env, tmp_path)

    print("local losses ", [round(r["loss"], 6) for r in local])
    print("remote losses", [round(r["loss"], 6) for r in remote])
    assert len(local) == len(remote) == 5
    for step, (a, b) in enumerate(zip(local, remote, strict=True)):
        assert b["num_tokens"] == a["num_tokens"], step
        assert b["loss"] == pytest.approx(a["loss"], abs=1e-5), step
        assert (a["grad_norm"] is None) == (b["grad_norm"] is None), step
        if a["grad_norm"] is not None:
            assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=1e-5), step
        assert b["lr"] == pytest.approx(a["lr"], rel=1e-9), step
    assert len({round(r["loss"], 6) for r in local}) > 1
    # Sampling from the trained adapter: the same tokens under both faces (same seed).
    assert len(local_samples) == len(remote_samples) == 2
    for a, b in zip(local_samples, remote_samples, strict=True):
        assert a["tokens"] == b["tokens"] and a["stop_reason"] == b["stop_reason"]
        assert b["logprobs"] == pytest.approx(a["logprobs"], abs=1e-4)
