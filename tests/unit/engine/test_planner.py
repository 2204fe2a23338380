"""The pass planner: what shares a pass, under the token budget and the padding limit."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from twinkle_server.engine.planner import CPU_TOKEN_BUDGET, default_token_budget, plan_passes


@dataclass(frozen=True)
class Item:
    name: str
    pass_rows: int
    width: int
    key: str = "train"


def _plan(items, budget=10_000, max_padding=2.0):
    passes = plan_passes(items, budget=budget, key=lambda item: item.key, max_padding=max_padding)
    return [[item.name for item in p.items] for p in passes]


def test_equal_work_of_every_run_shares_one_pass():
    items = [Item(f"run{k}", pass_rows=2, width=64) for k in range(4)]
    passes = plan_passes(items, budget=10_000, key=lambda item: item.key)
    assert [[i.name for i in p.items] for p in passes] == [["run0", "run1", "run2", "run3"]]
    assert (passes[0].rows, passes[0].width, passes[0].tokens) == (8, 64, 512)


def test_the_budget_counts_padded_positions_and_splits_in_arrival_order():
    items = [Item("a", 4, 100), Item("b", 4, 100), Item("c", 4, 100), Item("d", 1, 50)]
    # a+b = 800 positions, +c would be 1200 > 1000; d (1 x 50 padded to 100) still fits a+b.
    assert _plan(items, budget=1000) == [["a", "b", "d"], ["c"]]


def test_an_item_over_the_budget_runs_alone_rather_than_being_refused():
    assert _plan([Item("big", 64, 2048), Item("small", 1, 10)], budget=100) == [["big"], ["small"]]


def test_modes_and_solo_keys_never_share_a_pass():
    items = [
        Item("a", 1, 8, "train"),
        Item("b", 1, 8, "eval"),
        Item("c", 1, 8, "train"),
        Item("d", 1, 8, "solo-d"),
    ]
    assert _plan(items) == [["a", "c"], ["b"], ["d"]]


def test_short_rows_are_not_padded_far_beyond_their_own_length():
    long, short = Item("long", 2, 1024), Item("short", 8, 32)
    # Together: 10 x 1024 = 10240 positions against 2048 + 256 alone: over twice, so apart.
    assert _plan([long, short], budget=100_000) == [["long"], ["short"]]
    # A limit of 5x lets them share (the padding limit is a setting, not a constant).
    assert _plan([long, short], budget=100_000, max_padding=5.0) == [["long", "short"]]
    # Rows of similar width fuse under the default.
    assert _plan([long, Item("near", 2, 900)], budget=100_000) == [["long", "near"]]


def test_an_engine_that_packs_rows_fuses_any_widths_under_the_budget(tiny_model_dir):
    from tests.unit.engine.conftest import make_engine

    padded, packed = make_engine(tiny_model_dir, pack_rows=False), make_engine(tiny_model_dir, pack_rows=True)
    long, short = Item("long", 2, 1024), Item("short", 8, 32)
    assert _plan([long, short], budget=100_000, max_padding=padded.max_padding) == [["long"], ["short"]]
    assert _plan([long, short], budget=100_000, max_padding=packed.max_padding) == [["long", "short"]]
    assert _plan([long, short], budget=10_000, max_padding=packed.max_padding) == [["long"], ["short"]]


def test_default_budget_on_a_gpu_follows_free_memory():
    small = default_token_budget(
        device_type="cuda", free_bytes=10 * 2**30, num_layers=28, hidden_size=3584, vocab_size=152064
    )
    large = default_token_budget(
        device_type="cuda", free_bytes=80 * 2**30, num_layers=28, hidden_size=3584, vocab_size=152064
    )
    assert 512 <= small < large
    assert large / small == pytest.approx(8, rel=1e-3)
    assert default_token_budget(device_type="cpu") == CPU_TOKEN_BUDGET


def test_a_checkpointed_model_gets_a_larger_gpu_budget():
    """A checkpointed layer keeps one value of the hidden size per token instead of about 34, so a
    7B shape (28 layers) fits more than twice the positions; the logits still count in full."""
    shape = {"device_type": "cuda", "free_bytes": 40 * 2**30, "num_layers": 28, "hidden_size": 3584}
    plain = default_token_budget(**shape, vocab_size=152064)
    checkpointed = default_token_budget(**shape, vocab_size=152064, checkpointing=True)
    assert 2 * plain < checkpointed < 28 * plain
    assert default_token_budget(device_type="cpu", checkpointing=True) == CPU_TOKEN_BUDGET
