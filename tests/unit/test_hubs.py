from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from twinkle_server.config import Settings
from twinkle_server.errors import InvalidInput, NotFound, Unavailable
from twinkle_server.hubs import (
    HuggingFaceHub,
    LocalFolderHub,
    ModelScopeHub,
    get_hub,
    validate_hub_model_id,
)


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    folder = tmp_path / "ckpt" / "step-1"
    (folder / "trainer").mkdir(parents=True)
    (folder / "adapter_config.json").write_text('{"r": 4}')
    (folder / "adapter_model.safetensors").write_bytes(b"\x08" + b"\x00" * 7 + b"{}      ")
    (folder / "trainer" / "optimizer.pt").write_bytes(b"state")
    os.symlink("/etc/passwd", folder / "leak")
    return folder


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    "good", ["alice/qwen-lora", "Org_1/model.v2", "a/b", "a-b.c/d_e-f", "a/" + "x" * 191]
)
def test_good_hub_model_ids(good):
    assert validate_hub_model_id(good) == tuple(good.split("/"))


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "alice",
        "a/b/c",
        "../x",
        "a/..",
        "a/.hidden",
        "/abs",
        "a/b.",
        "a/x..y",
        "a b/c",
        "a/" + "x" * 192,
        "a/b-",
        "a--b/c",
        "a/b_.c",
    ],
)
def test_bad_hub_model_ids(bad):
    with pytest.raises(InvalidInput, match="hub_model_id"):
        validate_hub_model_id(bad)


def test_local_upload_copies_and_replaces(tmp_path, checkpoint):
    hub = LocalFolderHub(tmp_path / "hub")
    url = hub.upload(checkpoint, "alice/my-lora", private=True)
    target = (tmp_path / "hub" / "alice" / "my-lora").resolve()
    assert url == target.as_uri() and url.startswith("file://")
    expected = {k: v for k, v in _files(checkpoint).items() if k != "leak"}
    assert _files(target) == expected
    assert not (target / "leak").exists() and not (target / "leak").is_symlink()
    (checkpoint / "adapter_config.json").write_text('{"r": 8}')
    (checkpoint / "trainer" / "optimizer.pt").unlink()
    assert hub.upload(checkpoint, "alice/my-lora", private=False) == url
    assert _files(target) == {
        "adapter_config.json": b'{"r": 8}',
        "adapter_model.safetensors": expected["adapter_model.safetensors"],
    }
    assert sorted(os.listdir(target.parent)) == ["my-lora"]  # no temporary leftovers


def test_local_upload_refusals(tmp_path, checkpoint):
    hub = LocalFolderHub(tmp_path / "hub")
    with pytest.raises(InvalidInput):
        hub.upload(checkpoint, "../escape", private=False)
    with pytest.raises(NotFound):
        hub.upload(tmp_path / "missing", "alice/x", private=False)
    (tmp_path / "hub").mkdir()
    os.symlink(tmp_path, tmp_path / "hub" / "evil")
    with pytest.raises(InvalidInput, match="outside"):
        hub.upload(checkpoint, "evil/x", private=False)
    assert not (tmp_path / "x").exists()


def test_get_hub_from_settings(tmp_path):
    settings = Settings(data_dir=tmp_path)
    hub = get_hub(None, settings)
    assert isinstance(hub, LocalFolderHub) and hub.root == tmp_path.resolve() / "hub"
    assert isinstance(get_hub("modelscope", settings), ModelScopeHub)
    assert isinstance(get_hub("huggingface", settings), HuggingFaceHub)
    with pytest.raises(InvalidInput, match="unknown hub"):
        get_hub("s3", settings)


def test_remote_hubs_without_token_are_unavailable(checkpoint, monkeypatch):
    monkeypatch.delenv("TW_TEST_NO_TOKEN", raising=False)
    for hub in (ModelScopeHub(token_env="TW_TEST_NO_TOKEN"), HuggingFaceHub(token_env="TW_TEST_NO_TOKEN")):
        with pytest.raises(Unavailable, match="TW_TEST_NO_TOKEN"):
            hub.upload(checkpoint, "alice/x", private=True)


def test_missing_library_is_unavailable(checkpoint, monkeypatch):
    monkeypatch.setitem(sys.modules, "modelscope", None)  # import fails as if not installed
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(Unavailable, match="pip install modelscope"):
        ModelScopeHub(token_env="X", token="t").upload(checkpoint, "alice/x", private=True)
    with pytest.raises(Unavailable, match="pip install huggingface_hub"):
        HuggingFaceHub(token_env="X", token="t").upload(checkpoint, "alice/x", private=True)


class RecordingHfApi:
    """Stands in for huggingface_hub.HfApi (no hub is reachable here) and records the calls."""

    def __init__(self, token, fail=False):
        self.token, self.fail, self.calls = token, fail, []

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, **kwargs):
        self.calls.append(("upload_folder", kwargs))
        if self.fail:
            raise ConnectionError("hub unreachable")


def test_huggingface_calls_the_official_api(checkpoint, monkeypatch):
    monkeypatch.setenv("TW_TEST_HF_TOKEN", "hf_secret")
    apis = []
    hub = HuggingFaceHub(
        token_env="TW_TEST_HF_TOKEN", api_factory=lambda t: apis.append(RecordingHfApi(t)) or apis[-1]
    )
    assert hub.upload(checkpoint, "alice/x", private=True) == "https://huggingface.co/alice/x"
    (api,) = apis
    assert api.token == "hf_secret"
    assert api.calls[0] == (
        "create_repo",
        "alice/x",
        {"private": True, "repo_type": "model", "exist_ok": True},
    )
    assert api.calls[1][1]["repo_id"] == "alice/x" and api.calls[1][1]["folder_path"] == str(checkpoint)
    failing = HuggingFaceHub(token_env="TW_TEST_HF_TOKEN", api_factory=lambda t: RecordingHfApi(t, fail=True))
    with pytest.raises(Unavailable, match="hub unreachable"):
        failing.upload(checkpoint, "alice/x", private=False)


def test_a_failed_upload_never_quotes_the_token(tmp_path, checkpoint):
    class Leaky:
        def create_repo(self, *args, **kwargs):
            raise RuntimeError("401 for request with Authorization: Bearer tok-very-secret")

    hub = HuggingFaceHub(
        token_env="UNSET_FOR_TEST", token="tok-very-secret", api_factory=lambda token: Leaky()
    )
    with pytest.raises(Unavailable) as info:
        hub.upload(checkpoint, "alice/x", private=True)
    assert "tok-very-secret" not in info.value.message and "Bearer ***" in info.value.message
