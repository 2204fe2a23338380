"""The user classes against the real server app, in-process (Starlette's transport under TwinkleTransport).

Nothing is faked: the app is ``twinkle_server.app.create_app`` on the tiny model, and the client
goes through the generated client and the real transport; only the socket is replaced.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.unit._seed_server import DATASET, MODEL

pytest.importorskip("fastapi")
pytest.importorskip("torch")

from fastapi.testclient import TestClient

from twinkle_client import NotFoundError, TwinkleClient, init_twinkle_client
from twinkle_client.dataloader import DataLoader
from twinkle_client.dataset import Dataset
from twinkle_client.model import MultiLoraTransformersModel, UnsupportedLoraSetting


@pytest.fixture(scope="module")
def server(
    seed_settings: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, str, Path]]:
    from twinkle_server.app import create_app
    from twinkle_server.store.db import open_store
    from twinkle_server.store.users import create_api_key

    data_dir = tmp_path_factory.mktemp("inproc")
    # Most engine calls answer 202 under this window: the client must follow tasks.
    settings = seed_settings(data_dir, wait_window_s=0.05)
    store = open_store(str(settings.database_url))
    with store.session() as s:
        key, _ = create_api_key(s, user_name="alice")
    store.close()
    with TestClient(create_app(settings)) as test_client:
        yield test_client, key, data_dir


@pytest.fixture
def client(server: tuple[Any, str, Path]) -> Iterator[TwinkleClient]:
    test_client, key, _ = server
    with init_twinkle_client("http://testserver", key, transport=test_client._transport) as c:
        yield c


def _dataset(rows: int = 16) -> Dataset:
    from twinkle.dataset import DatasetMeta

    dataset = Dataset(dataset_meta=DatasetMeta(DATASET, data_slice=range(rows)))
    dataset.set_template("Template", model_id=MODEL, max_length=256)
    dataset.map("SelfCognitionProcessor", init_args={"model_name": "twinkle model", "model_author": "Team"})
    dataset.encode(batched=True)
    return dataset


def _model(steps: int = 2) -> MultiLoraTransformersModel:
    model = MultiLoraTransformersModel(model_id=MODEL)
    model.add_adapter_to_model(
        "default", {"r": 4, "target_modules": "all-linear"}, gradient_accumulation_steps=steps
    )
    model.set_template("Template")
    model.set_processor("InputProcessor", padding_side="right")
    model.set_loss("CrossEntropyLoss")
    model.set_optimizer("AdamW", lr=1e-3)
    model.set_lr_scheduler("LinearLR")
    return model


def test_service_calls(client: TwinkleClient) -> None:
    assert client.health_check().status == "ok"
    caps = client.get_server_capabilities()
    assert "Qwen/Qwen2.5-7B-Instruct" in [m.model_id for m in caps.models]
    assert "SelfCognitionProcessor" in caps.preprocessors
    assert client.get_capacity().models[0].max_loras == 2
    assert client.session is not None and client.session.status == "active"


def test_dataset_and_dataloader(client: TwinkleClient) -> None:
    dataset = _dataset(rows=10)
    assert len(dataset) == 10 and dataset.encoded
    assert {"input_ids", "labels"} <= set(dataset.columns)
    row = dataset[-1]
    assert len(row["input_ids"]) == len(row["labels"]) and "twinkle model" in json.dumps(row["messages"])
    loader = DataLoader(dataset=dataset, batch_size=4)
    assert len(loader) == 3
    batches = list(loader)
    assert [len(b) for b in batches] == [4, 4, 2]
    assert batches[0][0]["input_ids"] == dataset[0]["input_ids"]
    assert list(loader) == []  # consumed: a loader resumes, it does not restart
    state = loader.state_dict()
    again = DataLoader(dataset=dataset, batch_size=4)
    again.load_state_dict({**state, "consumed_batches": 2})
    assert list(again) == [batches[2]]
    with pytest.raises(ValueError, match="batch_size"):
        again.load_state_dict({**state, "batch_size": 5})


def test_training_loop_checkpoints_and_hub(
    client: TwinkleClient, server: tuple[Any, str, Path], tiny_model_dir: Path
) -> None:
    _, _, data_dir = server
    dataset = _dataset(rows=16)
    model = _model(steps=2)
    losses, applied = [], []
    for batch in DataLoader(dataset=dataset, batch_size=4):
        out = model.forward_backward(inputs=batch)
        assert str(out).startswith(f"loss={out.loss:.6g}")
        losses.append(out.loss)
        model.clip_grad_norm(1.0)
        applied.append(model.step().applied)
        model.zero_grad()
        model.lr_step()
    assert applied == [False, True, False, True]  # exactly every 2nd micro-batch
    configs = model.get_train_configs()
    assert configs.optimizer_step == 2 and configs.gradient_accumulation_steps == 2

    path = model.save(name="step-3", save_optimizer=True)
    run_id = model.training_run_id
    assert path == f"twinkle://{run_id}/weights/step-3"
    listed = client.list_checkpoints(run_id)
    assert [c.twinkle_path for c in listed] == [path] and listed[0].has_optimizer
    assert client.get_checkpoint_path(run_id, "step-3") == path
    assert client.get_latest_checkpoint_path(run_id) == path
    assert run_id in [r.training_run_id for r in client.iter_training_runs(page_size=1)]
    info = client.get_weights_info(run_id, "step-3")
    assert info.num_parameters > 0 and all("lora_" in t.name for t in info.tensors)
    assert client.get_weights_info(path) == info  # the twinkle:// path save returned works too
    assert model.load(path, load_optimizer=True).optimizer_step == 2

    folder = client.download_checkpoint(path, to=data_dir / "downloaded")
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["r"] == 4 and (folder / "adapter_model.safetensors").exists()
    by_id = client.download_checkpoint((run_id, listed[0].checkpoint_id), to=data_dir / "by-id")
    assert (by_id / "adapter_model.safetensors").read_bytes() == (
        folder / "adapter_model.safetensors"
    ).read_bytes()
    _load_with_peft(folder, tiny_model_dir)

    upload = model.upload_to_hub(checkpoint_dir=path, hub_model_id="alice/tiny-lora", async_upload=False)
    assert upload.status == "succeeded"
    assert (data_dir / "hub" / "alice" / "tiny-lora" / "adapter_config.json").exists()

    client.delete_checkpoint(run_id, "step-3")
    assert list(client.list_checkpoints(run_id)) == []
    with pytest.raises(NotFoundError):
        client.get_checkpoint_path(run_id, "step-3")


def _load_with_peft(folder: Path, model_dir: Path) -> None:
    """The downloaded folder is a standard PEFT adapter: peft loads it onto the base model."""
    peft = pytest.importorskip("peft")
    import transformers

    base = transformers.AutoModelForCausalLM.from_pretrained(model_dir)
    model = peft.PeftModel.from_pretrained(base, folder)
    assert any("lora_A" in name for name, _ in model.named_parameters())


def test_bad_settings_fail_early_and_clearly(client: TwinkleClient) -> None:
    model = MultiLoraTransformersModel(model_id=MODEL)
    with pytest.raises(UnsupportedLoraSetting, match="use_dora"):
        model.add_adapter_to_model("default", {"use_dora": True})
    with pytest.raises(RuntimeError, match="add_adapter_to_model"):
        model.step()
    model.add_adapter_to_model("default", {"r": 2})
    with pytest.raises(ValueError, match="lrr"):
        model.set_optimizer("AdamW", lrr=1e-3)


def test_close_frees_the_sessions_adapters(server: tuple[Any, str, Path]) -> None:
    test_client, key, _ = server
    client = init_twinkle_client("http://testserver", key, transport=test_client._transport)
    model = MultiLoraTransformersModel(model_id=MODEL)
    model.add_adapter_to_model("default", {"r": 2})
    used = client.get_capacity().models[0].used
    client.close()
    assert client.closed
    with TwinkleClient("http://testserver", key, transport=test_client._transport) as other:
        assert other.get_capacity().models[0].used == used - 1
        assert other.get_training_run(model.training_run_id).status == "released"


def test_dataset_add_mix_filter(client: TwinkleClient) -> None:
    from twinkle.dataset import DatasetMeta

    dataset = Dataset(dataset_meta=DatasetMeta(DATASET, data_slice=range(6)))
    dataset.add_dataset({"dataset_id": DATASET, "data_slice": range(10, 14)})
    assert len(dataset) == 10
    dataset.mix_dataset("concatenate")
    dataset.set_template("Template", model_id=MODEL, max_length=256)
    dataset.map("SelfCognitionProcessor", init_args={"model_name": "m", "model_author": "a"})
    dataset.encode()
    dataset.filter("MaxLengthFilter", init_args={"max_length": 10_000})
    assert len(dataset) == 10 and dataset.refresh().length == 10
    with pytest.raises(TypeError, match="server-side preprocessor"):
        dataset.map(lambda row: row)  # type: ignore[arg-type]
    with pytest.raises(IndexError):
        dataset[10]


def test_megatron_default_forms_and_async_twins(client: TwinkleClient) -> None:
    """The seed's Megatron forms are accepted; async calls keep their order and give the same results."""
    dataset = _dataset(rows=8)
    batches = list(DataLoader(dataset=dataset, batch_size=4))

    def make() -> MultiLoraTransformersModel:
        model = MultiLoraTransformersModel(model_id=MODEL)
        model.add_adapter_to_model("default", {"r": 4}, gradient_accumulation_steps=1)
        model.set_processor("InputProcessor", padding_side="right")
        configs = model.set_optimizer("default", lr=1e-3)
        assert configs.optimizer["name"] == "default"
        configs = model.set_lr_scheduler("default", lr_decay_steps=1000, max_lr=1e-3)
        assert configs.lr_scheduler["name"] == "default"
        return model

    blocking = make()
    expected = []
    for batch in batches:
        expected.append(blocking.forward_backward(inputs=batch).loss)
        blocking.clip_grad_and_step(1.0)
    futures = []
    overlapped = make()
    for batch in batches:
        futures.append(overlapped.forward_backward_async(inputs=batch))
        futures.append(overlapped.clip_grad_and_step_async(1.0))
    results = [f.result(timeout=120) for f in futures]
    assert [r.loss for r in results[::2]] == pytest.approx(expected, abs=1e-6)
    assert [r.optimizer_step for r in results[1::2]] == [1, 2]
    assert overlapped.get_train_configs().optimizer_step == 2  # blocking call waits behind the queue


def test_resume_from_checkpoint_continues_exactly(server: tuple[Any, str, Path]) -> None:
    """Stop after 2 optimizer steps, then continue in a new session from the checkpoint and the
    dataloader state: the losses equal an uninterrupted run's."""
    test_client, key, _ = server

    def session() -> TwinkleClient:
        return init_twinkle_client("http://testserver", key, transport=test_client._transport)

    with session():
        loader = DataLoader(dataset=_dataset(rows=24), batch_size=4)
        model = _model(steps=2)
        uninterrupted = []
        for batch in loader:
            uninterrupted.append(model.forward_backward(inputs=batch).loss)
            model.clip_grad_and_step(1.0)

    with session():
        loader = DataLoader(dataset=_dataset(rows=24), batch_size=4)
        model = _model(steps=2)
        first = []
        for step, batch in enumerate(loader):
            first.append(model.forward_backward(inputs=batch).loss)
            model.clip_grad_and_step(1.0)
            if step == 3:
                break
        path = model.save("half", save_optimizer=True)
        state = loader.state_dict()

    with session():
        loader = DataLoader(dataset=_dataset(rows=24), batch_size=4)
        loader.load_state_dict(state)
        model = _model(steps=2)
        assert model.load(path, load_optimizer=True).optimizer_step == 2
        rest = []
        for batch in loader:
            rest.append(model.forward_backward(inputs=batch).loss)
            model.clip_grad_and_step(1.0)
    assert len(first) == 4 and len(rest) == 2
    assert first + rest == pytest.approx(uninterrupted, abs=1e-6)
