"""The API on a local Ray cluster: two base models x two engine replicas, four users through the
ordinary client, one replica SIGKILLed mid-training, between a forward_backward and its step, two
steps after the only checkpoint; every run continues from its last acknowledged operation with the
losses it would have had (those of the same loop run in-process with ``twinkle``).

Slow (a Ray cluster and five engine processes on the CPU): ``make test-slow``. Every Ray service
listens on 127.0.0.1; the test records the process ids of the server's process tree and stops
exactly those.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.e2e._server import MODEL_ID, REPO, create_key, free_port, server_env, write_config

pytest.importorskip("ray.serve")
psutil = pytest.importorskip("psutil")

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SECOND_MODEL = "twinkle/tiny-b"
USERS = {"alice": MODEL_ID, "bob": MODEL_ID, "carol": SECOND_MODEL, "dave": SECOND_MODEL}
STEPS = 5
PAUSE_AT = 2  # every user waits after this step's forward_backward; bob's replica is killed meanwhile
START_TIMEOUT_S = 600.0

LOOP = """
import json, os, sys, time
from pathlib import Path
from peft import LoraConfig
from twinkle.dataset import DatasetMeta
face, model_id, steps, pause_at, signals, user = sys.argv[1:7]
if face == "local":
    from twinkle.dataset import Dataset
    from twinkle.model import MultiLoraTransformersModel
else:
    from twinkle_client import init_twinkle_client
    from twinkle_client.dataset import Dataset
    from twinkle_client.model import MultiLoraTransformersModel
    init_twinkle_client()
dataset = Dataset(dataset_meta=DatasetMeta('ms://swift/self-cognition', data_slice=range(24)))
dataset.set_template('Template', model_id='ms://Qwen/Qwen2.5-7B-Instruct', max_length=512)
dataset.map('SelfCognitionProcessor',
            init_args={'model_name': 'twinkle model', 'model_author': 'ModelScope Team'})
dataset.encode(batched=True)
model = MultiLoraTransformersModel(model_id=model_id)
model.add_adapter_to_model('default', LoraConfig(target_modules='all-linear', lora_alpha=16))
model.set_template('Template')
model.set_processor('InputProcessor', padding_side='right')
model.set_loss('CrossEntropyLoss')
model.set_optimizer('AdamW', lr=1e-3)
losses = []
for step in range(int(steps)):
    batch = [dataset[i] for i in range(4 * step, 4 * step + 4)]
    losses.append(model.forward_backward(inputs=batch).loss)
    if step == int(pause_at):
        Path(signals, f'{user}-paused').touch()
        while not Path(signals, f'{user}-go').exists():
            time.sleep(0.1)
    model.clip_grad_norm(1.0)
    model.step()
    model.zero_grad()
    if step == 0:
        model.save(name=f's{step}', save_optimizer=True)
    Path(signals, f'{user}-done-{step}').touch()
print("RESULT " + json.dumps(losses))
"""


class RayServer:
    """``twinkle-server serve --ray`` in a subprocess; the ids of its process tree are recorded."""

    def __init__(self, config: Path, port: int, log: Path) -> None:
        self.config, self.port, self.log_path = config, port, log
        self.pids: set[int] = set()
        env = {**server_env(), "RAY_USAGE_STATS_ENABLED": "0"}
        argv = [sys.executable, "-m", "twinkle_server.cli", "serve", "--config", str(config)]
        argv += ["--port", str(port), "--ray", "--replicas", "2", "--cpus-per-replica", "0.25"]
        with log.open("ab") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        self.pids.add(self.process.pid)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def record(self) -> None:
        """Add every process now below the server to the recorded ids."""
        with contextlib.suppress(psutil.NoSuchProcess):
            self.pids |= {p.pid for p in psutil.Process(self.process.pid).children(recursive=True)}

    def wait_ready(self) -> float:
        started = time.perf_counter()
        while time.perf_counter() - started < START_TIMEOUT_S:
            self.record()
            if self.process.poll() is not None:
                raise AssertionError(f"server exited:\n{self.log()}")
            try:
                caps = httpx.get(f"{self.url}/api/v1/capacity", timeout=2)
                if caps.status_code in (200, 401):
                    return time.perf_counter() - started
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"the Ray server did not come up:\n{self.log()}")

    def replica_process(self, deployment: str):
        self.record()
        for pid in sorted(self.pids):
            try:
                proc = psutil.Process(pid)
                if f"ServeReplica:twinkle:{deployment}" in " ".join(proc.cmdline()):
                    return proc
            except psutil.NoSuchProcess:
                continue
        raise AssertionError(f"no process of replica {deployment} among {sorted(self.pids)}")

    def stop(self) -> None:
        self.record()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        for pid in sorted(self.pids):  # whatever Ray left behind, by the recorded ids only
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-8000:]


@pytest.fixture(scope="module")
def cluster(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    root = tmp_path_factory.mktemp("ray")
    # A wait window longer than a replica's restart: an in-flight call answers its 503 itself (a 202
    # task that fails with replica_lost is sent again too: tests/unit/scale/test_pool_tasks.py).
    config = write_config(root / "data", tiny_model_dir, max_loras=2, wait_window_s=60.0)
    settings = yaml.safe_load(config.read_text())
    second = {**settings["models"][0], "model_id": SECOND_MODEL, "aliases": []}
    settings["models"].append(second)
    config.write_text(yaml.safe_dump(settings))
    keys = {user: create_key(config, user) for user in USERS}
    server = RayServer(config, free_port(), root / "server.log")
    try:
        server.wait_ready()
        yield server, keys, root
    finally:
        server.stop()


def _loop(face: str, env: dict[str, str], model_id: str, signals: Path, user: str) -> subprocess.Popen:
    argv = [sys.executable, "-c", LOOP, face, model_id, str(STEPS), str(PAUSE_AT), str(signals), user]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    return subprocess.Popen(argv, env=env, cwd=REPO, **pipes)


def _result(proc: subprocess.Popen, name: str) -> list[float]:
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, f"{name} failed:\n{err[-5000:]}"
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"the loop ended early:\n{proc.communicate()[1][-4000:]}"
        assert time.monotonic() < deadline, f"{path.name} did not appear"
        time.sleep(0.2)


def _replica_of(data_dir: Path, user: str) -> str:
    with sqlite3.connect(data_dir / "twinkle.db") as conn:
        row = conn.execute(
            "SELECT p.replica FROM run_placements p JOIN training_runs r ON r.id = p.run_id "
            "JOIN users u ON u.id = r.user_id WHERE u.name = ?",
            (user,),
        ).fetchone()
    assert row is not None, f"{user}'s run has no placement"
    return row[0]


def test_a_killed_replica_loses_nothing_and_every_run_continues(cluster, tmp_path: Path) -> None:
    server, keys, root = cluster
    signals = tmp_path / "signals"
    signals.mkdir()
    base = {**server_env(), "TWINKLE_SERVER_URL": server.url}
    loops = {}
    for user, model_id in USERS.items():  # one after another, so placement is deterministic
        loops[user] = _loop("remote", {**base, "TWINKLE_SERVER_TOKEN": keys[user]}, model_id, signals, user)
        _wait_for(signals / f"{user}-done-0", loops[user])
    for user, loop in loops.items():  # every user pauses mid-window at step PAUSE_AT
        _wait_for(signals / f"{user}-paused", loop)
    placements = {user: _replica_of(root / "data", user) for user in USERS}
    assert placements["alice"] != placements["bob"] and placements["carol"] != placements["dave"]

    index = placements["bob"].rsplit("#", 1)[1]
    victim = server.replica_process(f"engine-0-{index}")
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    for user in USERS:
        (signals / f"{user}-go").touch()

    results = {user: _result(proc, user) for user, proc in loops.items()}

    local_settings = yaml.safe_load(server.config.read_text())
    local_settings["data_dir"] = str(tmp_path / "local-data")
    (tmp_path / "local.yaml").write_text(yaml.safe_dump(local_settings))
    local_env = {**server_env(), "TWINKLE_CONFIG": str(tmp_path / "local.yaml")}
    (signals / "ref-go").touch()
    expected = _result(_loop("local", local_env, MODEL_ID, signals, "ref"), "the in-process loop")

    for user, losses in results.items():
        assert losses == pytest.approx(expected, abs=1e-5), user
    log = server.log_path.read_text(errors="replace").splitlines()
    moved = [line for line in log if "re-created" in line]
    # bob's run, rebuilt from its journal (no recovery snapshot yet: 10 steps apart by default)
    assert any("from its start and" in line and "journalled operations" in line for line in moved), moved
