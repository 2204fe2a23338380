"""RL helpers and the client-side custom loss, on the local face (the same code as the client's)."""

from __future__ import annotations

import pytest

from tests.unit._seed_server import MODEL
from twinkle_client.rl import group_advantages, rows_from_samples

torch = pytest.importorskip("torch")


def test_group_advantages_are_relative_to_each_group():
    assert group_advantages([1.0, 0.0, 0.0, 0.0], group_size=2) == [1.0, -1.0, 0.0, 0.0]
    assert group_advantages([3.0, 1.0], group_size=2, normalize=False) == [1.0, -1.0]
    with pytest.raises(ValueError, match="groups of 2"):
        group_advantages([1.0, 2.0, 3.0], group_size=2)


def test_rows_from_samples_put_the_loss_on_the_completion_only():
    sequences = [{"tokens": [7, 8], "logprobs": [-1.0, -2.0]}, {"tokens": [9], "logprobs": [-0.5]}]
    rows = rows_from_samples([[1, 2, 3]], sequences, [0.5, -0.5])
    assert rows[0] == {
        "input_ids": [1, 2, 3, 7, 8],
        "labels": [-100, -100, 7, 8, -100],
        "advantages": [0.0, 0.0, 0.5, 0.5, 0.0],
        "sampler_logprobs": [0.0, 0.0, -1.0, -2.0, 0.0],
    }
    assert rows[1]["labels"] == [-100, -100, 9, -100]
    with pytest.raises(ValueError, match="logprobs=True"):
        rows_from_samples([[1]], [{"tokens": [2], "logprobs": None}], [1.0])


def _rows() -> list[dict]:
    gen = torch.Generator().manual_seed(0)
    rows = []
    for length in (9, 14, 6):
        ids = torch.randint(0, 1000, (length,), generator=gen).tolist()
        rows.append({"input_ids": ids, "labels": [*ids[1:], -100]})
    return rows


def test_custom_loss_trains_like_the_same_loss_on_the_server(local):
    """A client-computed cross-entropy (minus the summed logprobs) gives the server's own update."""
    from twinkle.model import MultiLoraTransformersModel

    def trained(custom: bool) -> float:
        model = MultiLoraTransformersModel(model_id=MODEL)
        model.add_adapter_to_model("custom" if custom else "plain", {"r": 4, "lora_alpha": 16}, seed=3)
        model.set_optimizer("AdamW", lr=1e-2)
        batch = _rows()
        if custom:
            out = model.forward_backward_custom(
                batch, lambda logprobs, rows: -sum(lp.sum() for lp in logprobs)
            )
            assert out.custom_loss > 0
        else:
            model.forward_backward(batch)
        model.clip_grad_and_step(max_norm=1e9)
        return model.forward_only(batch).loss

    assert trained(custom=True) == pytest.approx(trained(custom=False), rel=1e-5)
