"""The local face builds its resolver and model workers exactly as the server's runtime does.

Both faces must turn the same settings into the same model folder, dataset files and model limits;
this pins the local copy of that logic to the server's, so that a change to one shows up here.
"""

from __future__ import annotations

import types
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy")


def _settings(tmp_path: Path):
    from twinkle_server.config import Settings

    (tmp_path / "model").mkdir()
    return Settings.model_validate(
        {
            "data_dir": str(tmp_path / "data"),
            "models": [
                {
                    "model_id": "Qwen/Qwen2.5-7B-Instruct",
                    "aliases": ["ms://Qwen/Qwen2.5-7B-Instruct"],
                    "path": str(tmp_path / "model"),
                    "device": "cpu",
                    "max_loras": 3,
                    "max_r": 32,
                    "max_length": 1024,
                }
            ],
            "dataset_aliases": {"ms://swift/self-cognition": str(tmp_path / "sc.jsonl")},
        }
    )


def test_resolver_and_worker_specs_match_the_servers(tmp_path: Path) -> None:
    from twinkle._runtime import LocalRuntime
    from twinkle_server.runtime import Runtime

    settings = _settings(tmp_path)
    local = LocalRuntime(settings)
    server_resolver = Runtime._build_resolver(settings)
    assert local.resolver.aliases == server_resolver.aliases
    assert local.resolver.data_roots == server_resolver.data_roots
    assert local.resolver.cache_dir == server_resolver.cache_dir

    served = settings.models[0]
    server_worker = Runtime._build_worker(types.SimpleNamespace(resolver=server_resolver), served)
    assert local._build_worker(served).spec == server_worker.spec


def test_unknown_model_is_refused_when_models_are_configured(tmp_path: Path) -> None:
    from twinkle._runtime import LocalRuntime
    from twinkle_server.errors import InvalidInput

    local = LocalRuntime(_settings(tmp_path))
    with pytest.raises(InvalidInput, match="not in the configured models"):
        local.served_model("org/other")
    assert local.served_model("ms://Qwen/Qwen2.5-7B-Instruct").model_id == "Qwen/Qwen2.5-7B-Instruct"
    assert local.default_model_id(None) == "Qwen/Qwen2.5-7B-Instruct"


def test_twinkle_config_env_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    from twinkle import _runtime

    config = tmp_path / "twinkle.yaml"
    config.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "d"), "models": [{"model_id": "a/b"}]}))
    monkeypatch.setenv("TWINKLE_CONFIG", str(config))
    monkeypatch.setattr(_runtime, "_runtime", None)
    runtime = _runtime.get_runtime()
    assert [m.model_id for m in runtime.settings.models] == ["a/b"]
    assert runtime.settings.data_dir == (tmp_path / "d").resolve()
    monkeypatch.setattr(_runtime, "_runtime", None)


def test_lora_defaults_are_the_servers() -> None:
    """The client fills dict configs with the defaults the engine applies (documented in examples/)."""
    from twinkle_client.model._lora import LORA_DEFAULTS
    from twinkle_server.engine.lora import LORA_DEFAULTS as ENGINE_DEFAULTS

    assert dict(ENGINE_DEFAULTS) == LORA_DEFAULTS


def test_setter_translation_is_the_servers() -> None:
    """Both faces hand the engine the same arguments: a setter's name, the spec's defaults, the
    spec's metric names; a compute operation only the fields that were set."""
    from twinkle.model._multi_lora import _request
    from twinkle_server.engine.requests import engine_kwargs

    kwargs = engine_kwargs("set_optimizer", _request("set_optimizer", {"optimizer_name": "AdamW"}))
    assert kwargs == {"name": "AdamW", "lr": 0.0001}
    assert engine_kwargs("add_metric", _request("add_metric", {"metric_name": "accuracy"})) == {
        "name": "accuracy"
    }
    inputs = {"inputs": [{"input_ids": [1, 2], "labels": [2, -100]}]}
    assert engine_kwargs("forward_backward", _request("forward_backward", inputs)) == inputs
