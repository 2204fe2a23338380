"""Row packing (``engine/packing.py``): which passes pack, and the way back to the padded layout."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from twinkle_server.engine.batched_lora import PassPlan, Segment
from twinkle_server.engine.model_facts import packs_rows_exactly
from twinkle_server.engine.packing import pack_pass


def _inputs(lengths: list[int], width: int) -> dict[str, torch.Tensor]:
    """Right-padded rows whose token ids name their row and column (row * 100 + column + 1)."""
    mask = torch.tensor([[1] * n + [0] * (width - n) for n in lengths])
    ids = torch.tensor([[r * 100 + c + 1 for c in range(width)] for r in range(len(lengths))]) * mask
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0) * mask
    return {"input_ids": ids, "attention_mask": mask, "position_ids": positions}


def _plan(*bounds: tuple[int, int], width: int) -> PassPlan:
    gen = torch.Generator()
    return PassPlan(tuple(Segment(f"run{k}", a, b, width, gen) for k, (a, b) in enumerate(bounds)))


def test_short_rows_share_rows_across_runs_and_each_run_finds_its_tokens():
    inputs = _inputs([4, 2, 5, 1, 3], width=5)
    packed = pack_pass(inputs, _plan((0, 3), (3, 5), width=5), pad_id=0)
    assert packed is not None
    ids, positions = packed.inputs["input_ids"], packed.inputs["position_ids"]
    assert ids.shape == (3, 5) and "attention_mask" not in packed.inputs
    # Longest first: row 2 alone; rows 0 (run0) and 3 (run1) share a row; so do rows 4 and 1.
    assert ids.tolist() == [[201, 202, 203, 204, 205], [1, 2, 3, 4, 301], [401, 402, 403, 101, 102]]
    assert positions.tolist() == [[0, 1, 2, 3, 4], [0, 1, 2, 3, 0], [0, 1, 2, 0, 1]]
    run0, run1 = (s.packing for s in packed.plan.segments)
    assert run0.pass_index.tolist() == [5, 6, 7, 8, 13, 14, 0, 1, 2, 3, 4]
    assert run0.own_index.tolist() == [0, 1, 2, 3, 5, 6, 10, 11, 12, 13, 14]
    assert (run1.own_rows, run1.pass_index.tolist(), run1.own_index.tolist()) == (
        2,
        [9, 10, 11, 12],
        [0, 5, 6, 7],
    )


def test_unpack_puts_every_token_back_and_zeros_the_padding():
    inputs = _inputs([4, 2, 5, 1, 3], width=5)
    packed = pack_pass(inputs, _plan((0, 3), (3, 5), width=5), pad_id=0)
    states = packed.inputs["input_ids"].unsqueeze(-1).float()
    back = packed.unpack(states, 5, 5).squeeze(-1).long()
    assert torch.equal(back, inputs["input_ids"])


def test_passes_that_would_save_nothing_or_bring_their_own_positions_stay_padded():
    plan = _plan((0, 2), width=4)
    assert pack_pass(_inputs([4, 3], width=4), plan, pad_id=0) is None
    shifted = _inputs([2, 2], width=4)
    shifted["position_ids"] = shifted["position_ids"] + shifted["attention_mask"] * 7
    assert pack_pass(shifted, plan, pad_id=0) is None
    assert pack_pass(_inputs([2, 2], width=4), plan, pad_id=0) is not None


class _RunningMean(torch.nn.Module):
    """A causal LM whose every position sees all earlier tokens, whatever the position ids say."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(50, 8)

    def forward(self, input_ids, attention_mask=None, position_ids=None, use_cache=False):
        states = self.embed(input_ids)
        if attention_mask is not None:
            states = states * attention_mask.unsqueeze(-1)
        steps = torch.arange(1, input_ids.shape[1] + 1).view(1, -1, 1)
        return SimpleNamespace(logits=states.cumsum(dim=1) / steps)


def test_packing_is_kept_only_for_models_that_keep_packed_rows_apart(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    tiny = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    assert packs_rows_exactly(tiny, pad_id=0, vocab_size=100, device=torch.device("cpu"))
    assert not packs_rows_exactly(_RunningMean(), pad_id=0, vocab_size=50, device=torch.device("cpu"))
