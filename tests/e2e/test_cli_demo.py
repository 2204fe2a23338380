"""The command line: keyless exposure refusal, open mode on loopback, and the one-command demo."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from twinkle_api_client.api.data import create_dataset
from twinkle_api_client.api.service import get_capacity, get_server_capabilities
from twinkle_api_client.models import CreateDatasetRequest

from tests.e2e._server import (
    DATASET_ID,
    MODEL_ALIAS,
    REPO,
    ServerProcess,
    api_client,
    cli,
    free_port,
    ok,
    server_env,
    settle,
    start_run,
    write_config,
)

pytestmark = pytest.mark.e2e


def test_a_keyless_server_refuses_a_non_loopback_address(tiny_model_dir: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "data", tiny_model_dir, host="0.0.0.0")
    refused = cli("serve", config=config, check=False)
    assert refused.returncode == 2
    assert "refusing to listen on 0.0.0.0" in refused.stderr
    assert "keys create" in refused.stderr and "allow_unauthenticated_non_loopback" in refused.stderr


def test_a_keyless_loopback_server_runs_open_until_a_key_exists(make_server: Any) -> None:
    srv, _ = make_server(users=())
    anonymous = api_client(srv, None)
    assert ok(get_capacity.sync_detailed(client=anonymous)).models[0].free == 2
    cli("keys", "create", "--user", "alice", config=srv.config)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and get_capacity.sync_detailed(client=anonymous).status_code == 200:
        time.sleep(0.5)
    assert get_capacity.sync_detailed(client=anonymous).status_code == 401


def test_demo_serves_the_seed_examples_names_with_a_printed_key(tmp_path: Path) -> None:
    port = free_port()
    key_file = tmp_path / "demo.key"
    log_path = tmp_path / "demo.log"
    argv = [sys.executable, "-m", "twinkle_server.cli", "demo", "--port", str(port)]
    argv += ["--data-dir", str(tmp_path / "demo-data"), "--key-file", str(key_file), "--log-level", "warning"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=server_env(), cwd=REPO)
    server = ServerProcess(config=tmp_path / "unused.yaml", port=port, log_path=log_path, process=process)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert process.poll() is None, server.log()
            try:
                if httpx.get(f"{server.base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        key = key_file.read_text().strip()
        output = server.log()
        assert key in output, "the key is printed"
        assert "TINY RANDOM" in output and MODEL_ALIAS in output and DATASET_ID in output
        client = api_client(server, key)
        caps = ok(get_server_capabilities.sync_detailed(client=client))
        assert caps.models[0].model_id == "Qwen/Qwen2.5-7B-Instruct"
        body = CreateDatasetRequest.from_dict({"dataset_meta": {"dataset_id": DATASET_ID}})
        # A loaded machine may take longer than the wait window: a 202 task is as good.
        dataset = settle(client, create_dataset.sync_detailed(client=client, body=body), status=201)
        assert dataset["length"] > 50 and dataset["columns"] == ["query", "response"]
        start_run(client)  # base_model "ms://Qwen/Qwen2.5-7B-Instruct"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def test_demo_runs_a_script_against_itself_then_reports_and_stops(tmp_path: Path) -> None:
    """`make demo`'s mode: serve only while the script runs, pass it the key, list what it left."""
    port = free_port()
    script = tmp_path / "train_once.py"
    script.write_text(
        "import os\n"
        "from twinkle_client import init_twinkle_client\n"
        "from twinkle_client.model import MultiLoraTransformersModel\n"
        f"client = init_twinkle_client(base_url='http://127.0.0.1:{port}', "
        "api_key=os.environ['MODELSCOPE_TOKEN'])\n"
        "model = MultiLoraTransformersModel(model_id='ms://Qwen/Qwen2.5-7B-Instruct')\n"
        "model.add_adapter_to_model('default', {'r': 4})\n"
        "model.set_template('Template')\n"
        "model.set_optimizer('AdamW', lr=1e-3)\n"
        "row = {'messages': [{'role': 'user', 'content': 'hi'}, {'role': 'assistant', 'content': 'hello'}]}\n"
        "for _ in range(2):\n"
        "    model.forward_backward(inputs=[row])\n"
        "    model.clip_grad_and_step()\n"
        "print('saved', model.save('only'))\n",
        encoding="utf-8",
    )
    argv = [sys.executable, "-m", "twinkle_server.cli", "demo", "--port", str(port), "--log-level", "warning"]
    argv += ["--data-dir", str(tmp_path / "demo-data"), "--run-example", str(script)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=server_env(), cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "training runs of 'demo': 1" in done.stdout
    assert "checkpoint only: twinkle://run_" in done.stdout
    # It reads like a training run: a line per optimizer step, no line per HTTP request, and at
    # the end how to look at the run's curve.
    steps = re.findall(
        r"twinkle_server\.steps: (run_\S+) step (\d+): loss [0-9.]+, \d+ tokens, \d+ tokens/s", done.stderr
    )
    assert [step for _, step in steps] == ["1", "2"], done.stderr
    assert "HTTP/1.1" not in done.stderr + done.stdout
    assert f"twinkle metrics {steps[0][0]}" in done.stdout and "/dashboard/" in done.stdout
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)

    failing = tmp_path / "fails.py"
    failing.write_text("raise SystemExit(3)\n", encoding="utf-8")
    argv[argv.index(str(script))] = str(failing)
    assert subprocess.run(argv, capture_output=True, timeout=300, env=server_env(), cwd=REPO).returncode == 3
