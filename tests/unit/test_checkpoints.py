from __future__ import annotations

import io
import json
import os
import tarfile

import numpy as np
import pytest
from safetensors.numpy import save_file

from twinkle_server.checkpoints import (
    atomic_dir,
    checkpoint_dir,
    checkpoint_relpath,
    format_twinkle_path,
    parse_twinkle_path,
    remove_stale_temp_dirs,
    resolve_stored_path,
    validate_checkpoint_name,
    weights_info,
    write_archive,
)
from twinkle_server.errors import Conflict, InvalidInput, NotFound

RUN = "run_AbC-12_x"


@pytest.mark.parametrize("name", ["step-10", "epoch1.final", "A", "a" * 128, "v1_2-3.x"])
def test_good_names(name):
    assert validate_checkpoint_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "..", "../x", "a/b", "a\\b", ".hidden", "-x", "a..b", "a b", "a" * 129, "é", "x\x00", "step/"],
)
def test_bad_names(name):
    with pytest.raises(InvalidInput, match="checkpoint name"):
        validate_checkpoint_name(name)


def test_twinkle_path_round_trip():
    path = format_twinkle_path(RUN, "step-3")
    assert path == f"twinkle://{RUN}/weights/step-3"
    assert parse_twinkle_path(path) == (RUN, "step-3")


@pytest.mark.parametrize(
    "path",
    [
        "",
        "step-3",
        f"http://{RUN}/weights/step-3",
        f"twinkle://{RUN}/weights/",
        f"twinkle://{RUN}/weights/../../etc",
        f"twinkle://{RUN}/weights/a/b",
        f"twinkle://{RUN}/sampler_weights/step-3",
        "twinkle://../weights/step-3",
        "twinkle://notarun/weights/step-3",
        f"twinkle:///{RUN}/weights/step-3",
    ],
)
def test_malformed_twinkle_paths(path):
    with pytest.raises(InvalidInput):
        parse_twinkle_path(path)


def test_checkpoint_dir_stays_inside(tmp_path):
    root = (tmp_path / "checkpoints").resolve()
    assert checkpoint_dir(tmp_path, RUN, "s1") == root / RUN / "s1"
    assert resolve_stored_path(tmp_path, checkpoint_relpath(RUN, "s1")) == root / RUN / "s1"
    for run_id, name in [("..", "x"), (RUN, ".."), ("run_x/../..", "x"), (RUN, "../../etc")]:
        with pytest.raises(InvalidInput):
            checkpoint_dir(tmp_path, run_id, name)
    for rel in ["/etc/passwd", "../outside", "checkpoints/../../x", "datasets/x"]:
        with pytest.raises(InvalidInput):
            resolve_stored_path(tmp_path, rel)


def test_symlink_escape_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    data = tmp_path / "data"
    (data / "checkpoints").mkdir(parents=True)
    os.symlink(outside, data / "checkpoints" / "run_evil")
    with pytest.raises(InvalidInput, match="outside"):
        checkpoint_dir(data, "run_evil", "s1")
    (data / "checkpoints" / RUN).mkdir()
    os.symlink(outside, data / "checkpoints" / RUN / "s1")
    with pytest.raises(InvalidInput, match="outside"):
        checkpoint_dir(data, RUN, "s1")
    with pytest.raises(InvalidInput, match="outside"):
        resolve_stored_path(data, f"checkpoints/{RUN}/s1")
    # a link that stays inside is refused too: it could point at another user's run
    (data / "checkpoints" / "run_other").mkdir()
    os.symlink(data / "checkpoints" / "run_other", data / "checkpoints" / "run_alias")
    with pytest.raises(InvalidInput, match="symbolic link"):
        checkpoint_dir(data, "run_alias", "s1")


def test_atomic_dir_success(tmp_path):
    final = checkpoint_dir(tmp_path, RUN, "s1")
    with atomic_dir(final) as tmp:
        assert tmp.parent == final.parent and not final.exists()
        (tmp / "adapter_config.json").write_text("{}")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "state.bin").write_bytes(b"123")
    assert sorted(p.name for p in final.iterdir()) == ["adapter_config.json", "sub"]
    assert os.listdir(final.parent) == ["s1"]
    with pytest.raises(Conflict), atomic_dir(final):
        pass
    assert (final / "sub" / "state.bin").read_bytes() == b"123"


def test_atomic_dir_failure_leaves_nothing(tmp_path):
    final = checkpoint_dir(tmp_path, RUN, "s1")
    with pytest.raises(RuntimeError, match="boom"), atomic_dir(final) as tmp:
        (tmp / "partial.safetensors").write_bytes(b"x" * 100)
        raise RuntimeError("boom")
    assert not final.exists()
    assert os.listdir(final.parent) == []


def test_atomic_dir_refuses_a_folder_that_appears_meanwhile(tmp_path):
    final = checkpoint_dir(tmp_path, RUN, "s1")
    with pytest.raises(Conflict), atomic_dir(final) as tmp:
        (tmp / "a").write_text("mine")
        final.mkdir()
        (final / "b").write_text("theirs")
    assert os.listdir(final) == ["b"]
    assert os.listdir(final.parent) == ["s1"]


def test_stale_temp_dirs_are_removed(tmp_path):
    final = checkpoint_dir(tmp_path, RUN, "s1")
    final.parent.mkdir(parents=True)
    (final.parent / ".s1.tmp-abc").mkdir()
    (final.parent / "s2").mkdir()
    assert [p.name for p in remove_stale_temp_dirs(tmp_path)] == [".s1.tmp-abc"]
    assert os.listdir(final.parent) == ["s2"]


def _peft_folder(folder):
    folder.mkdir(parents=True, exist_ok=True)
    config = {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "base_model_name_or_path": "tiny"}
    (folder / "adapter_config.json").write_text(json.dumps(config))
    tensors = {
        "base_model.model.layers.0.q_proj.lora_A.weight": np.zeros((4, 32), dtype=np.float32),
        "base_model.model.layers.0.q_proj.lora_B.weight": np.ones((16, 4), dtype=np.float16),
    }
    save_file(tensors, str(folder / "adapter_model.safetensors"), metadata={"format": "pt"})
    return config


def test_archive_round_trip(tmp_path):
    src = tmp_path / "src"
    _peft_folder(src)
    (src / "trainer").mkdir()
    (src / "trainer" / "optimizer.bin").write_bytes(os.urandom(1000))
    os.symlink("/etc/passwd", src / "link")
    first, second = io.BytesIO(), io.BytesIO()
    write_archive(src, first)
    write_archive(src, second)
    assert first.getvalue() == second.getvalue()  # deterministic
    first.seek(0)
    with tarfile.open(fileobj=first, mode="r:gz") as tar:
        names = tar.getnames()
        assert names == [
            "adapter_config.json",
            "adapter_model.safetensors",
            "trainer",
            "trainer/optimizer.bin",
        ]
        assert all(not m.issym() and not m.islnk() and not m.name.startswith("/") for m in tar.getmembers())
        tar.extractall(tmp_path / "out", filter="data")
    for rel in ["adapter_config.json", "adapter_model.safetensors", "trainer/optimizer.bin"]:
        assert (tmp_path / "out" / rel).read_bytes() == (src / rel).read_bytes()
    named = io.BytesIO()
    write_archive(src, named, root_name="step-1")
    named.seek(0)
    with tarfile.open(fileobj=named, mode="r:gz") as tar:
        assert all(n.startswith("step-1/") for n in tar.getnames())
    with pytest.raises(NotFound):
        write_archive(tmp_path / "missing", io.BytesIO())


def test_weights_info(tmp_path):
    folder = tmp_path / "ckpt"
    config = _peft_folder(folder)
    info = weights_info(folder)
    assert info["adapter_config"] == config
    assert info["tensors"] == [
        {"name": "base_model.model.layers.0.q_proj.lora_A.weight", "shape": [4, 32], "dtype": "F32"},
        {"name": "base_model.model.layers.0.q_proj.lora_B.weight", "shape": [16, 4], "dtype": "F16"},
    ]
    assert info["num_parameters"] == 4 * 32 + 16 * 4
    expected_size = sum(p.stat().st_size for p in folder.iterdir())
    assert info["size_bytes"] == expected_size > 4 * 32 * 4 + 16 * 4 * 2
    with pytest.raises(NotFound):
        weights_info(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotFound, match="safetensors"):
        weights_info(tmp_path / "empty")


def test_weights_info_refuses_corrupt_headers(tmp_path):
    from twinkle_server.errors import TwinkleError

    folder = tmp_path / "bad"
    folder.mkdir()
    target = folder / "adapter_model.safetensors"
    for payload in [b"\x01", (10**9).to_bytes(8, "little") + b"{}", (4).to_bytes(8, "little") + b"nope"]:
        target.write_bytes(payload)
        with pytest.raises(TwinkleError, match="safetensors"):
            weights_info(folder)


def test_delete_checkpoint_files(tmp_path):
    from twinkle_server.checkpoints import delete_checkpoint_files

    final = checkpoint_dir(tmp_path, RUN, "s1")
    with atomic_dir(final) as tmp:
        (tmp / "adapter_config.json").write_text("{}")
    assert delete_checkpoint_files(tmp_path, checkpoint_relpath(RUN, "s1")) is True
    assert not final.exists() and os.listdir(final.parent) == []
    assert delete_checkpoint_files(tmp_path, checkpoint_relpath(RUN, "s1")) is False
    with pytest.raises(InvalidInput):
        delete_checkpoint_files(tmp_path, "../../etc")


def test_publish_folder_takes_the_adapter_and_only_asked_for_state(tmp_path) -> None:
    from twinkle_server.checkpoints import ADAPTER_FILES, TRAINING_STATE_FILES, publish_folder

    src = tmp_path / "ckpt"
    src.mkdir()
    for name in (*ADAPTER_FILES, *TRAINING_STATE_FILES, "extra.bin"):
        (src / name).write_bytes(name.encode())
    (src / "sub").mkdir()
    assert publish_folder(src, tmp_path / "a", readme="# hi\n") == sorted([*ADAPTER_FILES, "README.md"])
    assert (tmp_path / "a" / "README.md").read_text() == "# hi\n"
    full = publish_folder(src, tmp_path / "b", include_training_state=True)
    assert full == sorted([*ADAPTER_FILES, *TRAINING_STATE_FILES])
    (src / "adapter_model.safetensors").unlink()
    os.symlink(tmp_path / "a" / "adapter_model.safetensors", src / "adapter_model.safetensors")
    with pytest.raises(NotFound, match="no complete adapter"):
        publish_folder(src, tmp_path / "c")
