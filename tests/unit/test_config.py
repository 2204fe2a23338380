from __future__ import annotations

from pathlib import Path

import pytest

from twinkle_server.config import Settings, load_settings
from twinkle_server.errors import InvalidInput
from twinkle_server.workers import build_resolver, build_worker

YAML = """
port: 9100
data_dir: {data_dir}
models:
  - model_id: Qwen/Qwen2.5-7B-Instruct
    path: /models/tiny
    aliases: [ms://Qwen/Qwen2.5-7B-Instruct]
    max_loras: 4
dataset_aliases:
  ms://swift/self-cognition: /data/self_cognition.jsonl
hubs:
  default: local
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "twinkle.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_derive_from_data_dir(tmp_path):
    settings = load_settings(None, env={"TWINKLE_DATA_DIR": str(tmp_path / "d")})
    data_dir = (tmp_path / "d").resolve()
    assert (settings.host, settings.port, settings.session_timeout_s) == ("127.0.0.1", 8000, 120.0)
    assert settings.data_dir == data_dir
    assert settings.data_roots == [data_dir / "datasets"]
    assert settings.database_url == f"sqlite:///{data_dir / 'twinkle.db'}"
    assert settings.hubs.local_dir == data_dir / "hub"
    assert settings.checkpoints_dir == data_dir / "checkpoints"
    assert settings.max_body_bytes == 32 * 1024 * 1024
    assert settings.allow_unauthenticated_non_loopback is False


def test_yaml_file(tmp_path):
    settings = load_settings(_write(tmp_path, YAML.format(data_dir=tmp_path)), env={})
    assert settings.port == 9100
    model = settings.find_model("ms://Qwen/Qwen2.5-7B-Instruct")
    assert model is not None and model.model_id == "Qwen/Qwen2.5-7B-Instruct"
    assert (model.max_loras, model.max_r, model.max_length, model.dtype) == (4, 64, 2048, "auto")
    assert settings.find_model("other") is None
    assert settings.dataset_aliases == {"ms://swift/self-cognition": "/data/self_cognition.jsonl"}


def test_env_overrides_yaml(tmp_path):
    env = {
        "TWINKLE_PORT": "9200",
        "TWINKLE_DATABASE_URL": "postgresql://u@h/db",
        "TWINKLE_HUBS__DEFAULT": "huggingface",
        "TWINKLE_DATA_ROOTS": f'["{tmp_path}/a", "{tmp_path}/b"]',
        "TWINKLE_ALLOW_UNAUTHENTICATED_NON_LOOPBACK": "true",
        "TWINKLE_API_KEY": "client setting, not ours: ignored",
    }
    settings = load_settings(_write(tmp_path, YAML.format(data_dir=tmp_path)), env=env)
    assert settings.port == 9200
    assert settings.database_url == "postgresql://u@h/db"
    assert settings.hubs.default == "huggingface"
    assert settings.data_roots == [(tmp_path / "a").resolve(), (tmp_path / "b").resolve()]
    assert settings.allow_unauthenticated_non_loopback is True
    assert settings.models[0].model_id == "Qwen/Qwen2.5-7B-Instruct"  # untouched by env


def test_unknown_key_is_refused(tmp_path):
    path = _write(tmp_path, "prot: 9000\nmodels:\n  - model_id: m\n    max_lora: 3\n")
    with pytest.raises(InvalidInput) as info:
        load_settings(path, env={})
    message = info.value.message
    assert "prot" in message and "models.0.max_lora" in message and "unknown setting" in message


@pytest.mark.parametrize(
    ("env", "where"),
    [
        ({"TWINKLE_PORT": "eighty"}, "port (from TWINKLE_PORT)"),
        ({"TWINKLE_HUBS__DEFAULT": "s3"}, "hubs.default (from TWINKLE_HUBS__DEFAULT)"),
        ({"TWINKLE_HUBS__COLOUR": "x"}, "hubs has no setting 'colour'"),
        ({"TWINKLE_SESSION_TIMEOUT_S": "5"}, "heartbeat_interval_s"),
    ],
)
def test_bad_env_values_name_their_variable(env, where):
    with pytest.raises(InvalidInput) as info:
        load_settings(None, env=env)
    assert where in info.value.message


def test_bad_files_and_models(tmp_path):
    with pytest.raises(InvalidInput, match="cannot read"):
        load_settings(tmp_path / "missing.yaml", env={})
    with pytest.raises(InvalidInput, match="mapping"):
        load_settings(_write(tmp_path, "- a\n- b\n"), env={})
    with pytest.raises(InvalidInput, match="not valid YAML"):
        load_settings(_write(tmp_path, "port: [1\n"), env={})
    dup = "models:\n  - model_id: a\n  - model_id: b\n    aliases: [a]\n"
    with pytest.raises(InvalidInput, match="'a' is used by both"):
        load_settings(_write(tmp_path, dup), env={})
    with pytest.raises(InvalidInput, match="device"):
        load_settings(_write(tmp_path, "models:\n  - model_id: a\n    device: gpu0\n"), env={})
    with pytest.raises(InvalidInput, match="max_r"):
        load_settings(_write(tmp_path, "models:\n  - model_id: a\n    max_r: 0\n"), env={})


def test_settings_can_be_built_directly(tmp_path):
    settings = Settings(data_dir=tmp_path, models=[{"model_id": "tiny", "random_init": True}])
    assert settings.models[0].random_init is True and settings.models[0].ids == ["tiny"]


def test_structured_values_from_env(tmp_path):
    env = {
        "TWINKLE_DATA_DIR": str(tmp_path),
        "TWINKLE_MODELS": '[{"model_id": "tiny", "path": "/m/tiny", "aliases": ["ms://Qwen/Qwen2.5-7B-Instruct"]}]',
        "TWINKLE_DATASET_ALIASES": '{"ms://swift/self-cognition": "/d/sc.jsonl"}',
    }
    settings = load_settings(None, env=env)
    assert settings.find_model("ms://Qwen/Qwen2.5-7B-Instruct").path == "/m/tiny"
    assert settings.dataset_aliases == {"ms://swift/self-cognition": "/d/sc.jsonl"}
    with pytest.raises(InvalidInput, match="TWINKLE_MODELS"):
        load_settings(None, env={"TWINKLE_MODELS": '[{"model_id": "x", "colour": 1}]'})


def test_the_vllm_sampler_backend_is_refused_at_start_up_where_vllm_is_missing(tmp_path):
    import importlib.util

    text = "models:\n  - model_id: a\n    sampler_backend: {}\n"
    assert load_settings(_write(tmp_path, text.format("transformers")), env={}).models[0].sampler_backend == (
        "transformers"
    )
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here: the backend is accepted")
    with pytest.raises(InvalidInput, match="needs the vllm package, which is not installed"):
        load_settings(_write(tmp_path, text.format("vllm")), env={})
    with pytest.raises(InvalidInput, match="sampler_backend"):
        load_settings(_write(tmp_path, text.format("tensorrt")), env={})


def test_shard_ranks_is_checked_at_start_up(tmp_path):
    text = "models:\n  - model_id: a\n    device: {}\n    shard_ranks: {}\n"
    assert load_settings(_write(tmp_path, text.format("cpu", 2)), env={}).models[0].shard_ranks == 2
    assert load_settings(_write(tmp_path, "models:\n  - model_id: a\n"), env={}).models[0].shard_ranks == 1
    with pytest.raises(InvalidInput, match="shard_ranks"):
        load_settings(_write(tmp_path, text.format("cpu", 0)), env={})
    with pytest.raises(InvalidInput, match="not mps"):
        load_settings(_write(tmp_path, text.format("mps", 2)), env={})


def test_activation_checkpointing_is_read_and_refused_on_a_sharded_model(tmp_path):
    text = "models:\n  - model_id: a\n    shard_ranks: {}\n    activation_checkpointing: true\n"
    assert load_settings(_write(tmp_path, text.format(1)), env={}).models[0].activation_checkpointing
    assert (
        not load_settings(_write(tmp_path, "models:\n  - model_id: a\n"), env={})
        .models[0]
        .activation_checkpointing
    )
    with pytest.raises(InvalidInput, match="activation_checkpointing needs shard_ranks 1"):
        load_settings(_write(tmp_path, text.format(2)), env={})
    settings = load_settings(_write(tmp_path, text.format(1)), env={})
    worker = build_worker(settings.models[0], build_resolver(settings))
    assert worker.spec.activation_checkpointing, "the setting reaches the engine"
