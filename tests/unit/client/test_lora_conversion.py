"""LoRA settings: a peft LoraConfig converts field by field; settings the server cannot train fail by name."""

from __future__ import annotations

import pytest

from twinkle_client.model import DEFAULT_ADAPTER_SEED, UnsupportedLoraSetting, lora_config_to_dict
from twinkle_client.model._lora import LORA_DEFAULTS


def test_dict_passes_through_and_fills_defaults() -> None:
    assert lora_config_to_dict({"r": 16, "target_modules": ["q_proj", "v_proj"]}) == {
        "r": 16,
        "target_modules": ["q_proj", "v_proj"],
    }
    filled = lora_config_to_dict({"r": 4}, fill_defaults=True)
    assert filled == {**LORA_DEFAULTS, "r": 4}
    assert lora_config_to_dict(None) == {}


def test_dict_with_unknown_key_is_refused_by_name() -> None:
    with pytest.raises(UnsupportedLoraSetting, match="use_dora"):
        lora_config_to_dict({"r": 8, "use_dora": True})


def test_modules_to_save_and_string_init_are_refused() -> None:
    with pytest.raises(UnsupportedLoraSetting, match="modules_to_save"):
        lora_config_to_dict({"modules_to_save": ["lm_head"]})
    with pytest.raises(UnsupportedLoraSetting, match="init_lora_weights"):
        lora_config_to_dict({"init_lora_weights": "gaussian"})


def test_not_a_config() -> None:
    with pytest.raises(TypeError, match="LoraConfig"):
        lora_config_to_dict(42)


def test_default_seed_is_documented_value() -> None:
    assert DEFAULT_ADAPTER_SEED == 42


peft = pytest.importorskip("peft")


def test_peft_config_converts_every_supported_field() -> None:
    config = peft.LoraConfig(
        r=4,
        lora_alpha=16,
        lora_dropout=0.1,
        target_modules=["v_proj", "q_proj"],
        bias="none",
        use_rslora=True,
        init_lora_weights=False,
        task_type="CAUSAL_LM",
    )
    assert lora_config_to_dict(config) == {
        "r": 4,
        "lora_alpha": 16,
        "lora_dropout": 0.1,
        "target_modules": ["q_proj", "v_proj"],  # peft keeps a set; sent sorted
        "bias": "none",
        "use_rslora": True,
        "modules_to_save": None,
        "init_lora_weights": False,
    }


def test_peft_defaults_are_sent_explicitly() -> None:
    """peft's defaults travel explicitly, not dropped: the server stores what the config says."""
    converted = lora_config_to_dict(peft.LoraConfig(target_modules="all-linear"))
    assert converted["lora_alpha"] == 8
    assert converted["r"] == 8 and converted["target_modules"] == "all-linear"


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"use_dora": True}, "use_dora"),
        ({"modules_to_save": ["lm_head"]}, "modules_to_save"),
        ({"layers_to_transform": [0]}, "layers_to_transform"),
        ({"rank_pattern": {"q_proj": 4}}, "rank_pattern"),
        ({"alpha_pattern": {"q_proj": 4}}, "alpha_pattern"),
        ({"fan_in_fan_out": True}, "fan_in_fan_out"),
        ({"exclude_modules": ["k_proj"]}, "exclude_modules"),
        ({"init_lora_weights": "gaussian"}, "init_lora_weights"),
        ({"bias": "lora_only"}, "bias"),
        ({"bias": "all"}, "bias"),
    ],
)
def test_peft_settings_the_server_cannot_train_are_named(kwargs: dict, name: str) -> None:
    config = peft.LoraConfig(target_modules=["q_proj", "v_proj"], **kwargs)
    with pytest.raises(UnsupportedLoraSetting, match=name):
        lora_config_to_dict(config)


def test_peft_without_target_modules_is_refused() -> None:
    with pytest.raises(UnsupportedLoraSetting, match="target_modules"):
        lora_config_to_dict(peft.LoraConfig())


def test_other_peft_method_is_refused() -> None:
    with pytest.raises(UnsupportedLoraSetting, match="Only LoRA"):
        lora_config_to_dict(peft.IA3Config(target_modules=["q_proj"], feedforward_modules=[]))
