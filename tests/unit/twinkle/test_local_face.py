"""The local face: the seed's loop with ``twinkle`` imports, in-process, on the tiny model.

It must train like the server does: the same loop through ``twinkle_client`` against the real app
(in-process transport) gives the same loss at every step.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.unit._seed_server import DATASET, MODEL
from tests.unit._served import served

pytest.importorskip("torch")
pytest.importorskip("fastapi")

ROOT = Path(__file__).resolve().parents[3]


def seed_loop(
    Dataset: Any, DataLoader: Any, Model: Any, *, rows: int = 24, lora: Any = None
) -> tuple[list, Any]:
    """The seed example's steps 3-6 (smaller), identical for both faces; returns the losses and the model."""
    from twinkle.dataset import DatasetMeta

    dataset = Dataset(dataset_meta=DatasetMeta(DATASET, data_slice=range(rows)))
    dataset.set_template("Template", model_id=MODEL, max_length=512)
    dataset.map(
        "SelfCognitionProcessor", init_args={"model_name": "twinkle model", "model_author": "ModelScope Team"}
    )
    dataset.encode(batched=True)
    dataloader = DataLoader(dataset=dataset, batch_size=4)
    model = Model(model_id=MODEL)
    model.add_adapter_to_model(
        "default",
        lora or {"r": 8, "lora_alpha": 16, "target_modules": "all-linear"},
        gradient_accumulation_steps=2,
    )
    model.set_template("Template")
    model.set_processor("InputProcessor", padding_side="right")
    model.set_loss("CrossEntropyLoss")
    model.set_optimizer("AdamW", lr=1e-3)
    model.set_lr_scheduler("LinearLR")
    model.add_metric("loss")
    model.add_metric("grad_norm")
    losses = []
    for batch in dataloader:
        losses.append(model.forward_backward(inputs=batch).loss)
        model.clip_grad_norm(1.0)
        model.step()
        model.zero_grad()
        model.lr_step()
    losses.append(model.calculate_metric().metrics)
    return losses, model


def test_get_logger_prints_info_to_stderr() -> None:
    code = "from twinkle import get_logger\nget_logger().info('Step 0, loss: 1.5')\n"
    code += "get_logger().debug('hidden')\n"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60, cwd=ROOT
    )
    assert "Step 0, loss: 1.5" in result.stderr and "hidden" not in result.stderr
    assert result.stdout == ""


def test_dataset_meta_is_the_servers() -> None:
    from twinkle.dataset import DatasetMeta
    from twinkle_server.data.meta import DatasetMeta as ServerMeta

    assert DatasetMeta is ServerMeta


def test_local_loop_trains_saves_loads_and_uploads(local: Path) -> None:
    from peft import LoraConfig

    from twinkle.dataloader import DataLoader
    from twinkle.dataset import Dataset
    from twinkle.model import MultiLoraTransformersModel

    losses, model = seed_loop(
        Dataset, DataLoader, MultiLoraTransformersModel, rows=16, lora=LoraConfig(target_modules="all-linear")
    )
    assert len(losses) == 5 and "loss" in " ".join(losses.pop())
    path = model.save(name="step-3", save_optimizer=True)
    assert path.startswith(f"twinkle://{model.training_run_id}/weights/")
    assert (model.last_checkpoint_dir / "adapter_config.json").exists()
    assert model.load(path, load_optimizer=True).optimizer_step == 2
    upload = model.upload_to_hub(checkpoint_dir=path, hub_model_id="me/tiny", async_upload=False)
    assert upload.status == "succeeded" and (local / "hub" / "me" / "tiny" / "adapter_config.json").exists()
    model.close()


def test_local_and_remote_faces_give_the_same_losses(
    local: Path, seed_settings: Callable[..., Any], tmp_path: Path
) -> None:
    import twinkle.dataloader
    import twinkle.dataset
    import twinkle.model
    import twinkle_client.dataloader
    import twinkle_client.dataset
    import twinkle_client.model
    from twinkle_client import init_twinkle_client

    local_losses, local_model = seed_loop(
        twinkle.dataset.Dataset, twinkle.dataloader.DataLoader, twinkle.model.MultiLoraTransformersModel
    )
    local_model.close()

    with (
        served(seed_settings(tmp_path / "remote"), "alice") as (app, (key,)),
        init_twinkle_client("http://testserver", key, transport=app._transport),
    ):
        remote_losses, _ = seed_loop(
            twinkle_client.dataset.Dataset,
            twinkle_client.dataloader.DataLoader,
            twinkle_client.model.MultiLoraTransformersModel,
        )
    local_metrics, remote_metrics = local_losses.pop(), remote_losses.pop()
    assert len(local_losses) == len(remote_losses) == 6
    print("local ", local_losses, local_metrics, "\nremote", remote_losses, remote_metrics)
    assert remote_losses == pytest.approx(local_losses, abs=1e-5)
    assert local_metrics and remote_metrics == pytest.approx(local_metrics, rel=1e-5)
    assert len(set(local_losses)) > 1  # the adapter changed between steps
