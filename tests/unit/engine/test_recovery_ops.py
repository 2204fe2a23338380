"""The engine's recovery operations: a run's full state to a snapshot and back, exactly, and a
seedless sample's draw replayed without sampling (``engine/recovery.py``)."""

from __future__ import annotations

import pytest

from twinkle_server.errors import Conflict

LORA = {"r": 4, "lora_alpha": 8, "lora_dropout": 0.1}


def _run(engine, run_id: str) -> None:
    engine.add_run(run_id, lora=LORA, gradient_accumulation_steps=2, seed=5)
    engine.run_op(run_id, "set_optimizer", name="AdamW", lr=5e-3)


def test_a_restored_snapshot_continues_exactly_mid_window(engine, sc_rows, tmp_path) -> None:
    _run(engine, "run_a")
    engine.run_op("run_a", "forward", inputs=sc_rows[:2])
    with pytest.raises(Conflict, match="waits for its backward"):  # a graph cannot be written
        engine.run_op("run_a", "recovery_snapshot", path=tmp_path / "refused")
    assert not (tmp_path / "refused").exists()
    engine.run_op("run_a", "backward")
    engine.run_op("run_a", "forward_only", inputs=sc_rows[2:4])  # evaluation statistics, last loss
    engine.run_op("run_a", "recovery_snapshot", path=tmp_path / "snap")
    _run(engine, "run_b")
    engine.run_op("run_b", "recovery_restore", path=tmp_path / "snap")
    assert engine.run_op("run_b", "calculate_loss") == engine.run_op("run_a", "calculate_loss")
    answers = {}  # the same calls on both: the same answers
    for run_id in ("run_a", "run_b"):
        answers[run_id] = [
            engine.run_op(run_id, "forward_backward", inputs=sc_rows[4:6])["loss"],
            engine.run_op(run_id, "clip_grad_and_step", max_norm=1.0),
            engine.run_op(run_id, "calculate_metric", is_training=False),
            engine.run_op(run_id, "forward_backward", inputs=sc_rows[6:8])["loss"],
            engine.run_op(run_id, "get_train_configs"),
        ]
    assert answers["run_a"] == answers["run_b"]


def test_a_replayed_draw_leaves_the_generator_where_a_seedless_sample_did(engine, sc_rows) -> None:
    _run(engine, "sampled")
    _run(engine, "replayed")
    prompt = {"input_ids": sc_rows[0]["input_ids"][:8]}
    engine.run_op("sampled", "sample", prompts=[prompt], max_tokens=2)
    engine.run_op("replayed", "recovery_draw_seeds", draws=1)
    runs = engine._runs
    assert (runs["sampled"].generator.get_state() == runs["replayed"].generator.get_state()).all()
    assert engine.run_op("sampled", "sample", prompts=[prompt], max_tokens=4) == engine.run_op(
        "replayed", "sample", prompts=[prompt], max_tokens=4
    )
