"""Traps a new user met, each fixed where the user meets it: a message, a default, a warning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit.twinkle.test_local_face import seed_loop

pytest.importorskip("torch")


def test_the_missing_key_error_names_the_seeds_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from twinkle_client import TwinkleClient

    monkeypatch.delenv("TWINKLE_SERVER_TOKEN", raising=False)
    with pytest.raises(ValueError, match="MODELSCOPE_TOKEN"):
        TwinkleClient(base_url="http://127.0.0.1:9", api_key=None)


def test_local_data_folder_is_per_user_not_the_current_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from twinkle import _runtime

    monkeypatch.delenv("TWINKLE_CONFIG", raising=False)
    monkeypatch.delenv("TWINKLE_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    assert _runtime._load_default_settings().data_dir == tmp_path / "xdg" / "twinkle"
    monkeypatch.setenv("TWINKLE_DATA_DIR", str(tmp_path / "mine"))
    assert _runtime._load_default_settings().data_dir == tmp_path / "mine"


def test_local_missing_data_error_names_twinkle_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from twinkle._runtime import LocalRuntime
    from twinkle_server.config import Settings
    from twinkle_server.errors import NotFound

    runtime = LocalRuntime(Settings.model_validate({"data_dir": str(tmp_path)}))
    monkeypatch.delenv("TWINKLE_CONFIG", raising=False)
    with pytest.raises(NotFound, match="TWINKLE_CONFIG is not set"):
        runtime.resolver.resolve_dataset("ms://swift/self-cognition")
    monkeypatch.setenv("TWINKLE_CONFIG", "/etc/twinkle.yaml")
    with pytest.raises(NotFound, match=r"TWINKLE_CONFIG=/etc/twinkle\.yaml"):
        runtime.resolver.resolve_model("ms://Qwen/Qwen2.5-7B-Instruct")


@pytest.mark.usefixtures("local")
def test_save_warns_about_micro_batches_after_the_last_full_window() -> None:
    """5 micro-batches with accumulation 2: the 5th never reaches an update, and save says so."""
    from twinkle.dataloader import DataLoader
    from twinkle.dataset import Dataset
    from twinkle.model import MultiLoraTransformersModel

    _, model = seed_loop(Dataset, DataLoader, MultiLoraTransformersModel, rows=20)
    with pytest.warns(UserWarning, match=r"1 micro-batch\(es\) since the last optimizer update"):
        model.save("odd")
    model.forward_backward(inputs=[model_row()])
    model.step()  # the 6th micro-batch closes the window: nothing left behind
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.save("even")


def model_row() -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": "who are you?"},
            {"role": "assistant", "content": "a tiny model"},
        ]
    }
