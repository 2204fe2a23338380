"""The ``twinkle`` user CLI against a real server: login, runs, metrics, checkpoints, exit codes."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from twinkle_api_client.api.checkpoints import save_checkpoint
from twinkle_api_client.api.run_compute import clip_grad_and_step, forward_backward
from twinkle_api_client.models import ClipGradNormRequest, ForwardRequest, SaveCheckpointRequest

from tests.e2e._server import REPO, api_client, chat_rows, server_env, settle, start_run

pytestmark = pytest.mark.e2e

STEPS = 3


@pytest.fixture(scope="module")
def world(make_server: Any) -> dict[str, Any]:
    srv, keys = make_server()
    alice = api_client(srv, keys["alice"])
    run = start_run(alice)
    losses = []
    for _ in range(STEPS):
        body = ForwardRequest.from_dict({"inputs": chat_rows(2)})
        losses.append(
            settle(alice, forward_backward.sync_detailed(run.run_id, client=alice, body=body))["loss"]
        )
        clip = ClipGradNormRequest.from_dict({"max_norm": 1.0})
        settle(alice, clip_grad_and_step.sync_detailed(run.run_id, client=alice, body=clip))
    save = SaveCheckpointRequest.from_dict({"name": "final"})
    settle(alice, save_checkpoint.sync_detailed(run.run_id, client=alice, body=save))
    return {"server": srv, "keys": keys, "run_id": run.run_id, "losses": losses}


def twinkle(
    *args: str, home: Path, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess:
    """Run ``twinkle ARGS`` in a fresh process with its own config file under ``home``."""
    base = {k: v for k, v in server_env().items() if k not in ("TWINKLE_SERVER_URL", "TWINKLE_SERVER_TOKEN")}
    base["TWINKLE_CLI_CONFIG"] = str(home / "cli.json")
    return subprocess.run(
        [sys.executable, "-m", "twinkle_client.cli", *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        cwd=REPO,
        timeout=120,
        input=stdin,
    )


def test_login_remembers_the_server_and_key_privately(world: dict[str, Any], tmp_path: Path) -> None:
    url, key = world["server"].base_url, world["keys"]["alice"]
    assert twinkle("whoami", home=tmp_path).returncode == 3  # no key anywhere
    refused = twinkle("login", "--server", url, "--key", "tw-wrong", home=tmp_path)
    assert refused.returncode == 3 and "refused" in refused.stderr
    assert not (tmp_path / "cli.json").exists()
    done = twinkle("login", "--server", url, home=tmp_path, stdin=key + "\n")  # the key asked for, hidden
    assert done.returncode == 0, done.stderr
    assert "as alice" in done.stdout and key not in done.stdout
    assert stat.S_IMODE(os.stat(tmp_path / "cli.json").st_mode) == 0o600
    me = json.loads(twinkle("whoami", "--json", home=tmp_path).stdout)
    assert (me["user_name"], me["server"], me["key"]) == ("alice", url, "saved")
    # The environment wins over the saved key.
    env = {"TWINKLE_SERVER_TOKEN": world["keys"]["bob"]}
    assert json.loads(twinkle("whoami", "--json", home=tmp_path, env=env).stdout)["user_name"] == "bob"
    assert twinkle("logout", home=tmp_path).returncode == 0
    assert twinkle("whoami", home=tmp_path).returncode == 3


@pytest.fixture
def as_alice(world: dict[str, Any]) -> dict[str, str]:
    return {"TWINKLE_SERVER_URL": world["server"].base_url, "TWINKLE_SERVER_TOKEN": world["keys"]["alice"]}


def test_runs_list_and_show(world: dict[str, Any], as_alice: dict[str, str], tmp_path: Path) -> None:
    table = twinkle("runs", "list", home=tmp_path, env=as_alice)
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.splitlines()[:2]
    assert header.split()[:3] == ["RUN", "STATUS", "BASE_MODEL"]
    assert row.split()[:2] == [world["run_id"], "active"] and row.split()[-1] == "final"
    listed = json.loads(twinkle("runs", "list", "--json", home=tmp_path, env=as_alice).stdout)
    assert [r["training_run_id"] for r in listed] == [world["run_id"]]
    shown = json.loads(twinkle("runs", "show", world["run_id"], "--json", home=tmp_path, env=as_alice).stdout)
    assert shown["last_step"]["step"] == STEPS
    assert shown["last_checkpoint"]["twinkle_path"] == f"twinkle://{world['run_id']}/weights/final"
    text = twinkle("runs", "show", world["run_id"], home=tmp_path, env=as_alice).stdout
    assert f"optimizer_steps              {STEPS}" in text


def test_metrics_table_json_csv_and_plot(
    world: dict[str, Any], as_alice: dict[str, str], tmp_path: Path
) -> None:
    run_id = world["run_id"]
    table = twinkle("metrics", run_id, home=tmp_path, env=as_alice)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == [
        "STEP",
        "LOSS",
        "NUM_TOKENS",
        "GRAD_NORM",
        "LR",
        "STEP_TIME_S",
        "TOKENS_PER_S",
    ]
    assert [line.split()[0] for line in lines[1:]] == ["1", "2", "3"]
    assert [float(line.split()[1]) for line in lines[1:]] == pytest.approx(world["losses"], rel=1e-3)
    points = json.loads(
        twinkle("metrics", run_id, "--json", "--last", "2", home=tmp_path, env=as_alice).stdout
    )
    assert [p["step"] for p in points] == [2, 3]
    rows = list(
        csv.DictReader(io.StringIO(twinkle("metrics", run_id, "--csv", home=tmp_path, env=as_alice).stdout))
    )
    assert [float(r["loss"]) for r in rows] == pytest.approx(world["losses"])
    png = tmp_path / "curves.png"
    plotted = twinkle("metrics", run_id, "--plot", str(png), home=tmp_path, env=as_alice)
    assert plotted.returncode == 0, plotted.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_checkpoints_upload_to_the_local_hub(
    world: dict[str, Any], as_alice: dict[str, str], tmp_path: Path
) -> None:
    from urllib.parse import unquote, urlparse

    path = f"twinkle://{world['run_id']}/weights/final"
    done = twinkle(
        "checkpoints", "upload", path, "--to", "alice/tiny-adapter", "--hub", "local", "--json",
        home=tmp_path, env=as_alice,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    upload = json.loads(done.stdout)
    assert (upload["status"], upload["hub"], upload["hub_model_id"]) == (
        "succeeded",
        "local",
        "alice/tiny-adapter",
    )
    published = Path(unquote(urlparse(upload["url"]).path))
    files = {p.name for p in published.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors"} <= files
    assert "optimizer.pt" not in files  # only the adapter, unless asked
    published_bytes = sum(p.stat().st_size for p in published.iterdir())
    assert upload["progress"] == {
        "done": published_bytes,
        "total": published_bytes,
        "unit": "bytes",
        "stage": "upload to local",
    }
    text = twinkle(
        "checkpoints", "upload", world["run_id"], "final", "--to", "alice/tiny-adapter-2", "--hub", "local",
        home=tmp_path, env=as_alice,
    )  # fmt: skip
    assert text.returncode == 0 and " succeeded: local:alice/tiny-adapter-2 file://" in text.stdout
    missing = twinkle(
        "checkpoints", "upload", world["run_id"], "nope", "--to", "alice/x", "--hub", "local",
        home=tmp_path, env=as_alice,
    )  # fmt: skip
    assert missing.returncode == 4, missing.stderr
    bad_name = twinkle(
        "checkpoints", "upload", path, "--to", "no-org", "--hub", "local", home=tmp_path, env=as_alice
    )
    assert bad_name.returncode == 6 and "hub_model_id" in bad_name.stderr, bad_name.stderr


def test_checkpoints_list_download_delete(
    world: dict[str, Any], as_alice: dict[str, str], tmp_path: Path
) -> None:
    run_id = world["run_id"]
    listed = json.loads(twinkle("checkpoints", "list", run_id, "--json", home=tmp_path, env=as_alice).stdout)
    assert [c["name"] for c in listed] == ["final"]
    path = listed[0]["twinkle_path"]
    got = twinkle(
        "checkpoints",
        "download",
        path,
        "--to",
        str(tmp_path / "adapter"),
        "--json",
        home=tmp_path,
        env=as_alice,
    )
    assert got.returncode == 0, got.stderr
    assert {"adapter_config.json", "adapter_model.safetensors"} <= set(json.loads(got.stdout)["files"])
    # Without --yes a "no" keeps it.
    kept = twinkle("checkpoints", "delete", run_id, "final", home=tmp_path, env=as_alice, stdin="n\n")
    assert kept.returncode == 1
    assert twinkle("checkpoints", "delete", path, "--yes", home=tmp_path, env=as_alice).returncode == 0
    assert (
        twinkle("checkpoints", "list", run_id, "--json", home=tmp_path, env=as_alice).stdout.strip() == "[]"
    )
    assert twinkle("checkpoints", "delete", path, "--yes", home=tmp_path, env=as_alice).returncode == 4


def test_capacity(world: dict[str, Any], as_alice: dict[str, str], tmp_path: Path) -> None:
    models = json.loads(twinkle("capacity", "--json", home=tmp_path, env=as_alice).stdout)
    assert [(m["used"], m["free"]) for m in models] == [(1, 1)]


def test_exit_codes(world: dict[str, Any], tmp_path: Path) -> None:
    as_bob = {"TWINKLE_SERVER_URL": world["server"].base_url, "TWINKLE_SERVER_TOKEN": world["keys"]["bob"]}
    assert twinkle("runs", "show", world["run_id"], home=tmp_path, env=as_bob).returncode == 4
    assert twinkle("metrics", world["run_id"], home=tmp_path, env=as_bob).returncode == 4
    assert twinkle("runs", "list", "--limit", "0", home=tmp_path, env=as_bob).returncode == 2
    assert (
        twinkle(
            "checkpoints", "download", "run_x", "--to", str(tmp_path), home=tmp_path, env=as_bob
        ).returncode
        == 2
    )
    assert twinkle("no-such-command", home=tmp_path, env=as_bob).returncode == 2
    down = {**as_bob, "TWINKLE_SERVER_URL": "http://127.0.0.1:9"}
    unreachable = twinkle("runs", "list", home=tmp_path, env=down)
    assert unreachable.returncode == 5 and "cannot reach" in unreachable.stderr
