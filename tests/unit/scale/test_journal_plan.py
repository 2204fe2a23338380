"""Which operations the pool journals, in what form (``scale/journal.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from twinkle_server.errors import InvalidInput
from twinkle_server.scale.journal import plan_entry, replay_differs


def test_state_changing_operations_are_journalled_as_json() -> None:
    entry = plan_entry("load", {"path": Path("/data/ckpt"), "load_optimizer": True})
    assert (entry.op, entry.kwargs) == ("load", {"path": "/data/ckpt", "load_optimizer": True})
    rows = [{"input_ids": [1, 2], "labels": [-100, 2]}]
    assert plan_entry("forward_backward", {"inputs": rows}).kwargs == {"inputs": rows}
    assert plan_entry("forward_only", {"inputs": rows}) is not None  # it replaces the kept forward
    result = {"loss": 1.25, "num_tokens": 1, "logprobs": [[0.0, -1.0]], "micro_step": 1}
    assert plan_entry("forward_backward", {"inputs": rows}).summary(result) == {
        "loss": 1.25,
        "num_tokens": 1,
        "micro_step": 1,
    }


def test_reads_are_not_journalled_and_a_seedless_sample_is_its_draw() -> None:
    for op in ("calculate_loss", "get_train_configs", "save"):
        assert plan_entry(op, {}) is None
    assert plan_entry("calculate_metric", {}) is None
    assert plan_entry("calculate_metric", {"is_training": False}).kwargs == {"is_training": False}
    prompts = [{"input_ids": [1, 2]}]
    draw = plan_entry("sample", {"prompts": prompts})
    assert (draw.op, draw.kwargs, draw.summary({"sequences": []})) == (
        "recovery_draw_seeds",
        {"draws": 1},
        {},
    )
    assert plan_entry("sample", {"prompts": prompts, "seed": 7}) is None
    assert plan_entry("sample", {"prompts": prompts, "base": True}) is None
    assert plan_entry("sample", {"prompts": prompts, "adapter_path": "/x"}) is None


def test_arguments_that_cannot_be_replayed_are_refused_before_running() -> None:
    with pytest.raises(InvalidInput, match="cannot be recorded as JSON"):
        plan_entry("set_loss", {"name": "CrossEntropyLoss", "weight": object()})
    with pytest.raises(InvalidInput, match="cannot be recorded as JSON"):
        plan_entry("set_optimizer", {"name": "AdamW", "lr": float("nan")})


def test_replays_are_compared_exactly() -> None:
    assert (
        replay_differs({"loss": 1.5, "grad_norm": float("nan")}, {"loss": 1.5, "grad_norm": float("nan")})
        == {}
    )
    assert replay_differs({"loss": 1.5}, {"loss": 1.5000001}) == {"loss": (1.5, 1.5000001)}
