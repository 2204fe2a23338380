"""Helpers of the e2e tests: the real server as a subprocess, and the generated client over it.

Each test module gets its own server (``twinkle-server serve`` on a free loopback port, a temp data
dir, the tiny model on the CPU), configured by a YAML file written here; keys are made with the
``twinkle-server keys`` command. Nothing of the server is imported into the test process.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

REPO = Path(__file__).resolve().parents[2]
MODEL_ID = "Qwen/Qwen2.5-7B-Instruct"
MODEL_ALIAS = "ms://Qwen/Qwen2.5-7B-Instruct"
DATASET_ID = "ms://swift/self-cognition"
STARTUP_TIMEOUT_S = 180.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWINKLE_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "generated"), env.get("PYTHONPATH", "")])
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def cli(
    *args: str, config: Path | None = None, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run ``twinkle-server <args>`` (``--config`` goes right after the subcommand)."""
    argv = [sys.executable, "-m", "twinkle_server.cli", args[0]]
    if config is not None:
        argv += ["--config", str(config)]
    argv += list(args[1:])
    result = subprocess.run(argv, capture_output=True, text=True, env=server_env(), timeout=timeout, cwd=REPO)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def create_key(config: Path, user: str) -> str:
    out = cli("keys", "create", "--user", user, config=config).stdout
    match = re.search(r"^(tw-\S+)$", out, re.MULTILINE)
    assert match, f"no key printed by keys create:\n{out}"
    return match.group(1)


@dataclass
class ServerProcess:
    """One ``twinkle-server serve`` process; :meth:`restart` keeps its data dir and port."""

    config: Path
    port: int
    log_path: Path
    log_level: str = "warning"
    process: subprocess.Popen | None = None
    startup_s: list[float] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> float:
        log = self.log_path.open("ab")
        argv = [sys.executable, "-m", "twinkle_server.cli", "serve", "--config", str(self.config)]
        argv += ["--port", str(self.port), "--log-level", self.log_level]
        started = time.perf_counter()
        self.process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=server_env(), cwd=REPO
        )
        deadline = started + STARTUP_TIMEOUT_S
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1.0).status_code == 200:
                    elapsed = time.perf_counter() - started
                    self.startup_s.append(elapsed)
                    return elapsed
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"server did not answer /healthz within {STARTUP_TIMEOUT_S} s:\n{self.log()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def restart(self) -> float:
        self.stop()
        return self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:] if self.log_path.exists() else ""


def face_envs(server: ServerProcess, key: str, tmp_path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Environments for one script run both ways: in-process (``twinkle``, reading the server's own
    YAML file with a data dir of its own) and against ``server`` (``twinkle_client``)."""
    settings = yaml.safe_load(server.config.read_text())
    settings["data_dir"] = str(tmp_path / "local-data")
    local_config = tmp_path / "local.yaml"
    local_config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    local = {**server_env(), "TWINKLE_CONFIG": str(local_config)}
    remote = {**server_env(), "TWINKLE_SERVER_URL": server.base_url, "TWINKLE_SERVER_TOKEN": key}
    return local, remote


def write_config(data_dir: Path, model_dir: Path, *, max_loras: int = 2, **overrides: Any) -> Path:
    """A server config serving the tiny model under the seed example's names."""
    from twinkle_server import assets  # only to locate the shipped file; nothing is run from it

    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "data_dir": str(data_dir),
        "models": [
            {
                "model_id": MODEL_ID,
                "aliases": [MODEL_ALIAS],
                "path": str(model_dir),
                "device": "cpu",
                "max_loras": max_loras,
                "max_r": 16,
                "max_length": 512,
            }
        ],
        "dataset_aliases": {DATASET_ID: str(assets.path("self_cognition.jsonl"))},
        "hubs": {"default": "local"},
        "session_timeout_s": 60.0,
        "heartbeat_interval_s": 5.0,
        "wait_window_s": 5.0,
        "max_body_bytes": 4 * 1024 * 1024,
    }
    settings.update(overrides)
    path = data_dir.parent / f"{data_dir.name}.yaml"
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return path


def api_client(server: ServerProcess, key: str | None, **headers: str) -> Any:
    """The generated client for ``server``, authenticated with ``key`` (or without a key)."""
    from twinkle_api_client import AuthenticatedClient, Client

    timeout = httpx.Timeout(120.0)
    if key is None:
        return Client(base_url=server.base_url, timeout=timeout, headers=headers)
    return AuthenticatedClient(base_url=server.base_url, token=key, timeout=timeout, headers=headers)


def ok(response: Any, status: int = 200) -> Any:
    """The parsed body of a generated-client response, after checking its status."""
    assert response.status_code == status, (
        f"expected {status}, got {response.status_code}: {response.content[:800]!r}"
    )
    return response.parsed


def settle(client: Any, response: Any, *, timeout: float = 120.0, status: int = 200) -> dict[str, Any]:
    """The final body (a dict) of an operation that may answer 202: polls its task to the end."""
    from twinkle_api_client.api.tasks import get_task

    if response.status_code != 202:
        return ok(response, status).to_dict()
    task_id = response.parsed.task_id
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = ok(get_task.sync_detailed(task_id, client=client, wait=10.0))
        if task.status in ("succeeded", "failed"):
            assert task.status == "succeeded", task.to_dict()
            return task.result.to_dict()
    raise AssertionError(f"task {task_id} did not finish within {timeout} s")


def settled_json(http: httpx.Client, response: httpx.Response, status: int = 200) -> dict[str, Any]:
    """The final body of a raw HTTP request that may answer 202 on a loaded machine."""
    if response.status_code == 202:
        task = http.get(f"/api/v1/tasks/{response.json()['task_id']}", params={"wait": 60}).json()
        assert task["status"] == "succeeded", task
        return task["result"]
    assert response.status_code == status, response.text
    return response.json()


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass
class Run:
    """A session and a training run made through the API, ready for compute."""

    session_id: str
    run_id: str


def start_run(client: Any, *, steps: int = 1, r: int = 4, setup: bool = True) -> Run:
    """Create a session and a run on the tiny model, with template, loss and optimizer set."""
    from twinkle_api_client.api.run_config import set_loss, set_optimizer, set_template
    from twinkle_api_client.api.sessions import create_session
    from twinkle_api_client.api.training_runs import create_training_run
    from twinkle_api_client.models import (
        CreateSessionRequest,
        CreateTrainingRunRequest,
        SetLossRequest,
        SetOptimizerRequest,
        SetTemplateRequest,
    )

    session = ok(create_session.sync_detailed(client=client, body=CreateSessionRequest.from_dict({})), 201)
    body = CreateTrainingRunRequest.from_dict(
        {
            "session_id": session.session_id,
            "base_model": MODEL_ALIAS,
            "adapter_name": "default",
            "lora_config": {"r": r, "target_modules": "all-linear"},
            "gradient_accumulation_steps": steps,
            "seed": 0,
        }
    )
    run = ok(create_training_run.sync_detailed(client=client, body=body), 201)
    if setup:
        rid = run.training_run_id
        settle(
            client,
            set_template.sync_detailed(
                rid, client=client, body=SetTemplateRequest.from_dict({"template_name": "Template"})
            ),
        )
        settle(
            client,
            set_loss.sync_detailed(
                rid, client=client, body=SetLossRequest.from_dict({"loss_name": "CrossEntropyLoss"})
            ),
        )
        settle(
            client,
            set_optimizer.sync_detailed(
                rid,
                client=client,
                body=SetOptimizerRequest.from_dict({"optimizer_name": "AdamW", "lr": 1e-3}),
            ),
        )
    return Run(session_id=session.session_id, run_id=run.training_run_id)


def chat_rows(n: int = 2) -> list[dict[str, Any]]:
    """``n`` chat rows the server encodes with the run's template."""
    return [
        {
            "messages": [
                {"role": "user", "content": f"who are you? ({i})"},
                {"role": "assistant", "content": "I am twinkle model."},
            ]
        }
        for i in range(n)
    ]
