"""Activation checkpointing (``activation_checkpointing``): less memory, the same numbers.

A checkpointed decoder layer keeps only its input and runs again in the backward. Runs that differ
in rank, targets, accumulation, learning rate and dropout train fused with it exactly as without it
(fp32, CPU): the recomputed layers draw each run's dropout noise from the same generator state.
"""

from __future__ import annotations

import pytest
import torch

import twinkle_server.engine.batched_lora as batched_lora
from tests.unit.engine.conftest import make_engine
from tests.unit.engine.test_fusion import RUNS, SAME_SHAPE_RUNS, _assert_same_training, _train


@pytest.mark.parametrize("runs", [RUNS, SAME_SHAPE_RUNS], ids=["mixed runs", "stacked update"])
def test_checkpointed_passes_train_exactly_as_plain_ones(tiny_model_dir, sc_rows, runs):
    plain = make_engine(tiny_model_dir)
    checkpointed = make_engine(tiny_model_dir, activation_checkpointing=True)
    expected = _train(plain, sc_rows, fused=True, runs=runs)
    got = _train(checkpointed, sc_rows, fused=True, runs=runs)
    _assert_same_training(expected, got, plain, checkpointed, runs)


def test_the_recomputed_layers_must_draw_the_same_dropout_noise(tiny_model_dir, sc_rows, monkeypatch):
    """The check above can fail: with each draw taken afresh (no replay of the generator's state),
    the recomputed layers drop other elements and the weights move away from the plain run's."""
    runs = {name: RUNS[name] for name in ("run_q", "run_all")}  # run_all: dropout 0.2 on every layer
    plain = make_engine(tiny_model_dir)
    expected = _train(plain, sc_rows, fused=True, runs=runs)

    def fresh(module, segment, shape, device, p):
        keep = torch.empty(shape, device=device, dtype=torch.float32)
        return keep.bernoulli_(1.0 - p, generator=segment.generator)

    monkeypatch.setattr(batched_lora, "_keep", fresh)
    checkpointed = make_engine(tiny_model_dir, activation_checkpointing=True)
    got = _train(checkpointed, sc_rows, fused=True, runs=runs)
    with pytest.raises(AssertionError):
        _assert_same_training(expected, got, plain, checkpointed, runs)


def _saved_bytes(engine, rows) -> int:
    """Bytes of the tensors autograd keeps for the backward of one forward_backward."""
    total = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        engine.run_op("run", "forward_backward", inputs=rows)
    return total


def test_checkpointed_passes_keep_far_fewer_activations(tiny_model_dir, sc_rows):
    sizes = {}
    for checkpointing in (False, True):
        engine = make_engine(tiny_model_dir, activation_checkpointing=checkpointing)
        engine.add_run("run", lora={"r": 4, "target_modules": "all-linear"}, seed=1)
        sizes[checkpointing] = _saved_bytes(engine, sc_rows[:4])
    assert sizes[True] < sizes[False] / 2, sizes


def test_a_kept_forward_is_not_checkpointed_and_its_backward_matches(tiny_model_dir, sc_rows):
    """forward keeps its graph for a later backward op, which runs outside the pass: that pass keeps
    its activations, and the gradients are those of forward_backward."""
    lora = {"r": 4, "lora_dropout": 0.1}
    plain = make_engine(tiny_model_dir)
    checkpointed = make_engine(tiny_model_dir, activation_checkpointing=True)
    for engine in (plain, checkpointed):
        engine.add_run("run_a", lora=lora, seed=1)
        engine.add_run("run_b", lora=lora, seed=2)
    plain.run_passes([plain.prepare(r, "forward_backward", inputs=sc_rows[:3]) for r in ("run_a", "run_b")])
    checkpointed.run_passes(
        [checkpointed.prepare(r, "forward", inputs=sc_rows[:3]) for r in ("run_a", "run_b")]
    )
    for run_id in ("run_a", "run_b"):
        checkpointed.run_op(run_id, "backward")
        expected, got = plain._runs[run_id].params, checkpointed._runs[run_id].params
        for (_, a), (_, b) in zip(expected, got, strict=True):
            torch.testing.assert_close(b.grad, a.grad, rtol=1e-5, atol=1e-7)
    layers = [m for m in checkpointed._model.modules() if hasattr(m, "gradient_checkpointing")]
    assert any(m.gradient_checkpointing for m in layers), "checkpointing is back on after that pass"
