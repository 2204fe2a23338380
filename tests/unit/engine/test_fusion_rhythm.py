"""Which runs a round with forward work waits for: the last pass's, and those whose rhythm says due.

Tenants that drifted out of step each take passes of their own; waiting only for the last pass's
runs would keep them apart. Runs that keep a rhythm are waited for (briefly) too, so they fall back
into step; a run that stopped is soon not waited for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from twinkle_server.engine import fusion
from twinkle_server.engine.fusion import FusedPasses
from twinkle_server.engine.planner import PassShape


@dataclass
class _Op:
    run_id: str
    name: str = "forward_backward"
    kwargs: dict[str, Any] = field(default_factory=dict)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> _Clock:
    clock = _Clock()
    monkeypatch.setattr(fusion.time, "monotonic", clock)
    return clock


def _pass(passes: FusedPasses, clock: _Clock, at: float, *runs: str, seconds: float = 0.01) -> None:
    """A forward pass of ``runs`` starting at ``at`` and taking ``seconds``."""
    clock.now = at
    shape, ops = PassShape(key=("forward_backward",), rows=len(runs), width=8), [_Op(r) for r in runs]
    passes._keep_rhythm(shape, ops)
    passes._record(shape, ops, seconds)


def test_runs_out_of_step_are_waited_for_not_only_the_last_passs(clock):
    passes = FusedPasses("m", wait_s=0.02)
    passes._last_seconds = 0.03
    # Three tenants that drifted apart: each pass holds one of them, in turn, every 90 ms.
    for k, at in enumerate([0.0, 0.03, 0.06, 0.09, 0.12, 0.15]):
        _pass(passes, clock, at, "abc"[k % 3])
    clock.now = 0.18
    missing, wait_s = passes.partners([_Op("a")])
    assert missing == {"b", "c"}, "b is due too, though the last pass held only c"
    assert wait_s == pytest.approx(0.02)


def test_a_run_that_stopped_is_soon_not_waited_for(clock):
    passes = FusedPasses("m", wait_s=0.02)
    passes._last_seconds = 0.03
    for k, at in enumerate([0.0, 0.03, 0.06, 0.09, 0.12, 0.15]):
        _pass(passes, clock, at, "abc"[k % 3])
    for at, run in [(0.2, "a"), (0.25, "c"), (0.3, "a"), (0.33, "c")]:  # b stopped
        _pass(passes, clock, at, run)
    clock.now = 0.35  # b's last forward was 0.23 s ago, over twice its 90 ms rhythm
    missing, _ = passes.partners([_Op("a")])
    assert "b" not in missing
    assert missing == {"c"}  # the last pass's runs are still waited for, as before


def test_a_run_starting_again_after_a_pause_waits_for_nobody(clock):
    # One user training adapters one after another: a takes five steps, then b takes its turn.
    passes = FusedPasses("m", wait_s=0.02)
    passes._last_seconds = 0.03
    for k in range(5):
        _pass(passes, clock, 0.05 * k, "b")
    for k in range(5):
        _pass(passes, clock, 1.0 + 0.05 * k, "a")
    clock.now = 1.23  # b comes back after 1 s, twenty of its 50 ms periods
    assert passes.partners([_Op("b")]) == (set(), 0.0), "a, which just stopped, is not waited for"
    _pass(passes, clock, 1.23, "b")
    _pass(passes, clock, 1.28, "b")
    _pass(passes, clock, 1.3, "c")
    clock.now = 1.33  # b is in its loop again: it waits for the last pass's run
    assert passes.partners([_Op("b")])[0] == {"c"}


def test_a_fast_run_does_not_wait_for_one_ten_times_slower(clock):
    passes = FusedPasses("m", wait_s=0.02)
    passes._last_seconds = 0.03
    _pass(passes, clock, 0.0, "slow")
    for k in range(1, 21):  # the fast run every 50 ms; the slow one once a second
        _pass(passes, clock, 0.05 * k, "fast")
    _pass(passes, clock, 1.0, "slow")
    _pass(passes, clock, 1.05, "fast")
    clock.now = 1.1  # the slow run is due (0.1 s into its 1 s rhythm), at another pace
    assert passes.partners([_Op("fast")])[0] == set()
    _pass(passes, clock, 1.12, "twin")  # a run at the fast one's pace, out of step with it
    _pass(passes, clock, 1.15, "fast")
    _pass(passes, clock, 1.17, "twin")
    _pass(passes, clock, 1.2, "fast")
    clock.now = 1.22
    assert passes.partners([_Op("fast")])[0] == {"twin"}


def test_a_first_forward_sets_no_rhythm_and_old_runs_are_forgotten(clock):
    passes = FusedPasses("m", wait_s=0.02)
    _pass(passes, clock, 0.0, "a", "b")
    _pass(passes, clock, 0.05, "c")
    clock.now = 0.06
    assert passes.partners([_Op("c")])[0] == set(), "one forward each: no rhythm yet for a or b"
    _pass(passes, clock, 100.0, "d")
    assert set(passes._rhythms) == {"d"}


def test_no_wait_setting_waits_for_nobody(clock):
    passes = FusedPasses("m", wait_s=0.0)
    _pass(passes, clock, 0.0, "a")
    _pass(passes, clock, 0.1, "a")
    clock.now = 0.15
    assert passes.partners([_Op("b")]) == (set(), 0.0)


def _waits_for(passes: FusedPasses, clock: _Clock, at: float, here: str, other: str) -> bool:
    """One pass of ``here`` after one of ``other``; whether it waited for ``other`` (left unanswered)."""
    _pass(passes, clock, at, other)
    clock.now = at + 0.03
    missing, _ = passes.partners([_Op(here)])
    passes.answered(missing, set())
    _pass(passes, clock, at + 0.03, here)
    return other in missing


def test_a_run_that_leaves_waits_unanswered_is_waited_for_ever_less_often(clock):
    # One script training two adapters in turn: the other run never comes while a pass waits.
    passes = FusedPasses("m", wait_s=0.02)
    passes._last_seconds = 0.03
    waited = [_waits_for(passes, clock, 0.06 * k, "a", "b") for k in range(200)]
    # Each round here is two passes (b's, then a's). From a's third forward (a in its loop), b is
    # skipped for 0, 1, 3, 7 ... 63 passes.
    assert [k for k, w in enumerate(waited) if w] == [2, 3, 4, 6, 10, 18, 34, 66, 98, 130, 162, 194]


def test_a_run_that_answers_is_waited_for_every_round_again(clock):
    passes = FusedPasses("m", wait_s=0.02)
    passes._last_seconds = 0.03
    for k in range(8):
        _waits_for(passes, clock, 0.06 * k, "a", "b")
    assert passes._rhythms["b"].skipped_until > passes.passes
    passes._rhythms["b"].skipped_until = 0  # its turn to be tried again
    _pass(passes, clock, 0.48, "b")
    clock.now = 0.51
    missing, _ = passes.partners([_Op("a")])
    passes.answered(missing, {"b"})
    assert missing == {"b"}
    for k in range(5):
        _pass(passes, clock, 0.54 + 0.06 * k, "a", "b")
        clock.now = 0.57 + 0.06 * k
        assert passes.partners([_Op("a")])[0] == {"b"}


def test_pass_and_wait_seconds_add_up(clock):
    """The totals an operator reads (``WorkerStats``, ``/metrics``): every pass's seconds and
    positions, and every wait for partners, answered or not."""
    passes = FusedPasses("m", wait_s=0.02)
    _pass(passes, clock, 0.0, "a", "b", seconds=0.03)
    _pass(passes, clock, 0.05, "a", seconds=0.01)
    passes.answered({"b"}, set(), 0.02)
    passes.answered({"b"}, {"b"}, 0.005)
    assert passes.passes == 2 and passes.fused_ops == 3
    assert passes.pass_seconds == pytest.approx(0.04)
    assert passes.pass_positions == 2 * 8 + 8
    assert passes.wait_seconds == pytest.approx(0.025)
    assert passes.last_pass.runs == 1 and passes.last_pass.seconds == pytest.approx(0.01)
