"""The seed contract's complete example runs unchanged against a real server, and trains.

``examples/self_cognition.py`` is the seed document's example verbatim: it connects to
``http://127.0.0.1:8000`` and reads its key from ``MODELSCOPE_TOKEN`` (through ``.env``). A real
``twinkle-server serve`` subprocess therefore listens on port 8000, serving the tiny model under the
example's model and dataset names. The test then checks what the example left behind with the
client: the checkpoint is listed, loads back with its optimizer state, the adapter it holds has a
lower loss than the untrained adapter on the same rows, and the upload landed in the local hub.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e._server import REPO, ServerProcess, create_key, server_env, write_config

pytestmark = pytest.mark.e2e

EXAMPLE = REPO / "examples" / "self_cognition.py"
PORT = 8000  # the example's base_url
MODEL = "ms://Qwen/Qwen2.5-7B-Instruct"


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture(scope="module")
def seed_server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    if not _port_free(PORT):
        pytest.skip(f"port {PORT} is taken; the verbatim example can only reach http://127.0.0.1:{PORT}")
    root = tmp_path_factory.mktemp("seed")
    config = write_config(root / "data", tiny_model_dir, port=PORT)
    key = create_key(config, "demo")
    server = ServerProcess(config=config, port=PORT, log_path=root / "server.log")
    server.start()
    try:
        yield server, key, root
    finally:
        server.stop()


@pytest.fixture(scope="module")
def example_run(seed_server: tuple) -> tuple[subprocess.CompletedProcess, list[float]]:
    server, key, root = seed_server
    workdir = root / "work"
    workdir.mkdir()
    (workdir / ".env").write_text(f"MODELSCOPE_TOKEN={key}\n", encoding="utf-8")  # the example loads .env
    env = server_env()
    env.pop("MODELSCOPE_TOKEN", None)
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=600, cwd=workdir, env=env
    )
    assert result.returncode == 0, f"example failed:\n{result.stderr[-6000:]}\n--- server:\n{server.log()}"
    losses = [float(m) for m in re.findall(r"Step \d+, loss: loss=([0-9.eE+-]+)", result.stderr)]
    return result, losses


def test_example_exits_zero_and_logs_each_step(example_run: tuple) -> None:
    result, losses = example_run
    # 106 rows, batch 8 -> 14 micro-batches; the example logs every 2nd one.
    print("logged losses:", losses)
    assert len(losses) == 7, result.stderr[-3000:]
    assert all(0 < loss < 100 for loss in losses)
    assert min(losses[1:]) < losses[0]  # the same rows are compared exactly in the next test
    assert "Saved checkpoint: twinkle://" in result.stderr


def _client(server: ServerProcess, key: str):
    from twinkle_client import TwinkleClient

    return TwinkleClient(server.base_url, key, open_session=True)


def test_checkpoint_is_listed_loads_back_and_trained(seed_server: tuple, example_run: tuple) -> None:
    server, key, _ = seed_server
    result, _ = example_run
    saved = re.search(r"Saved checkpoint: (twinkle://\S+)", result.stderr).group(1)
    from twinkle_client.dataloader import DataLoader
    from twinkle_client.dataset import Dataset
    from twinkle_client.model import MultiLoraTransformersModel

    with _client(server, key) as client:
        runs = list(client.list_training_runs())
        assert len(runs) == 1
        # The example never closes its client: the session is closed as it exits, freeing the adapter.
        assert runs[0].status == "released"
        assert client.get_capacity().models[0].used == 0
        run_id = runs[0].training_run_id
        listed = client.list_checkpoints(run_id)
        assert [c.twinkle_path for c in listed] == [saved]
        assert listed[0].has_optimizer and listed[0].optimizer_step == 7

        from twinkle.dataset import DatasetMeta

        dataset = Dataset(DatasetMeta("ms://swift/self-cognition", data_slice=range(8)), client=client)
        dataset.set_template("Template", model_id=MODEL, max_length=512)
        dataset.map(
            "SelfCognitionProcessor",
            init_args={"model_name": "twinkle model", "model_author": "ModelScope Team"},
        )
        dataset.encode()
        batch = DataLoader(dataset, batch_size=8, client=client).batch(0)

        def fresh() -> MultiLoraTransformersModel:
            model = MultiLoraTransformersModel(MODEL, client=client)
            model.add_adapter_to_model(
                "check", {"target_modules": "all-linear", "lora_alpha": 8}, gradient_accumulation_steps=2
            )
            model.set_template("Template")
            model.set_processor("InputProcessor", padding_side="right")
            model.set_loss("CrossEntropyLoss")
            model.set_optimizer("AdamW", lr=1e-4)
            model.set_lr_scheduler("LinearLR")
            return model

        untrained = fresh()
        before = untrained.forward_only(inputs=batch).loss
        configs = untrained.load(saved, load_optimizer=True)
        assert configs.optimizer_step == 7
        after = untrained.forward_only(inputs=batch).loss
        print(f"loss on the first batch: untrained {before:.6f}, after the example's training {after:.6f}")
        assert after < before


def test_upload_landed_in_the_local_hub(seed_server: tuple, example_run: tuple) -> None:
    _, _, root = seed_server
    folder = root / "data" / "hub" / "your-username" / "your-model-name"
    assert (folder / "adapter_config.json").exists() and (folder / "adapter_model.safetensors").exists()


def local_twin(source: str) -> str:
    """The example with ``twinkle`` imports: the client set-up (steps 1 and 2) goes, nothing else changes."""
    lines = source.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# Step 1"))
    end = next(i for i, line in enumerate(lines) if line.startswith("# Step 3"))
    kept = [*lines[:start], "resume_path = None", "", *lines[end:]]
    text = "\n".join(kept) + "\n"
    text = text.replace("from twinkle_client import init_twinkle_client\n", "")
    return text.replace("from twinkle_client.", "from twinkle.")


def test_local_twin_of_the_example_logs_the_same_losses(
    seed_server: tuple, example_run: tuple, tmp_path: Path
) -> None:
    import yaml

    server, _, _ = seed_server
    _, remote_losses = example_run
    settings = yaml.safe_load(server.config.read_text())
    settings["data_dir"] = str(tmp_path / "local-data")
    config = tmp_path / "local.yaml"
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    script = tmp_path / "self_cognition_local.py"
    script.write_text(local_twin(EXAMPLE.read_text()), encoding="utf-8")
    assert not re.search(r"^\s*(from|import) twinkle_client", script.read_text(), re.MULTILINE)

    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env={**server_env(), "TWINKLE_CONFIG": str(config)},
    )
    assert result.returncode == 0, result.stderr[-6000:]
    local_losses = [float(m) for m in re.findall(r"Step \d+, loss: loss=([0-9.eE+-]+)", result.stderr)]
    print("remote example:", remote_losses, "\nlocal twin:    ", local_losses)
    assert local_losses == remote_losses  # as logged, to 6 significant digits
    assert (
        tmp_path / "local-data" / "hub" / "your-username" / "your-model-name" / "adapter_config.json"
    ).exists()
