"""OpChain submits call i+1 only once call i has succeeded, and stops at the first failure."""

from __future__ import annotations

from concurrent.futures import CancelledError, Future
from typing import Any

import pytest

from twinkle_server.requests.op_chain import CallOutcome, OpChain


class FakeEngine:
    """A ``submit(index)`` that records each call and hands out futures the test resolves."""

    def __init__(self, *, refuse: int | None = None) -> None:
        self.submitted: list[int] = []
        self.futures: list[Future[Any]] = []
        self.watched: list[tuple[int, Future[Any]]] = []
        self.refuse = refuse

    def submit(self, index: int) -> Future[Any]:
        if index == self.refuse:
            raise RuntimeError(f"queue full at {index}")
        self.submitted.append(index)
        future: Future[Any] = Future()
        self.futures.append(future)
        return future

    def watch(self, index: int, future: Future[Any]) -> None:
        self.watched.append((index, future))

    def chain(self, count: int) -> OpChain:
        return OpChain(self.submit, count, watch=self.watch).start()


def test_calls_are_submitted_one_after_another_in_order() -> None:
    engine = FakeEngine()
    chain = engine.chain(3)
    assert engine.submitted == [0]  # the next one waits for this one to succeed
    assert not chain.submitted.done()

    engine.futures[0].set_result({"i": 0})
    assert engine.submitted == [0, 1] and not chain.submitted.done()
    engine.futures[1].set_result({"i": 1})
    assert engine.submitted == [0, 1, 2]
    assert chain.submitted.done()  # the last one is queued: later requests may go ahead
    assert not chain.outcomes.done()  # ... but it has not finished

    engine.futures[2].set_result({"i": 2})
    assert chain.outcomes.result(timeout=0) == [CallOutcome(result={"i": i}) for i in range(3)]
    assert engine.watched == list(enumerate(engine.futures))  # each future, as it was submitted


def test_the_first_failure_stops_the_chain_and_skips_the_rest() -> None:
    engine = FakeEngine()
    chain = engine.chain(4)
    engine.futures[0].set_result("ok")
    error = ValueError("no optimizer")
    engine.futures[1].set_exception(error)

    assert engine.submitted == [0, 1]  # 2 and 3 never reach the engine
    assert chain.submitted.done()
    assert chain.outcomes.result(timeout=0) == [
        CallOutcome(result="ok"),
        CallOutcome(error=error),
        CallOutcome(skipped=True),
        CallOutcome(skipped=True),
    ]
    assert [i for i, _ in engine.watched] == [0, 1]


def test_a_cancelled_call_counts_as_failed() -> None:
    engine = FakeEngine()
    chain = engine.chain(2)
    engine.futures[0].cancel()
    outcomes = chain.outcomes.result(timeout=0)
    assert isinstance(outcomes[0].error, CancelledError) and outcomes[1].skipped
    assert engine.submitted == [0]


def test_a_failing_last_call_still_resolves_once() -> None:
    engine = FakeEngine()
    chain = engine.chain(2)
    engine.futures[0].set_result(1)
    assert chain.submitted.done()
    engine.futures[1].set_exception(KeyError("boom"))
    outcomes = chain.outcomes.result(timeout=0)
    assert outcomes[0] == CallOutcome(result=1)
    assert isinstance(outcomes[1].error, KeyError) and not outcomes[1].skipped


@pytest.mark.parametrize("refused", [0, 1])
def test_a_submit_that_raises_fails_that_call(refused: int) -> None:
    engine = FakeEngine(refuse=refused)
    chain = engine.chain(3)
    for future in engine.futures:
        future.set_result("ok")

    assert engine.submitted == list(range(refused))
    assert chain.submitted.done()  # stopped: nothing more will be submitted
    outcomes = chain.outcomes.result(timeout=0)
    assert outcomes[:refused] == [CallOutcome(result="ok")] * refused
    assert isinstance(outcomes[refused].error, RuntimeError)
    assert all(o.skipped for o in outcomes[refused + 1 :]) and len(outcomes) == 3
    assert [i for i, _ in engine.watched] == list(range(refused))  # the refused one is not watched


def test_futures_already_done_when_submitted_run_the_whole_chain_at_start() -> None:
    def submit(index: int) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_result(index * 10)
        return future

    chain = OpChain(submit, 3).start()  # no watch
    assert chain.submitted.done()
    assert [o.result for o in chain.outcomes.result(timeout=0)] == [0, 10, 20]


@pytest.mark.parametrize("count", [0, -1])
def test_an_empty_chain_is_refused(count: int) -> None:
    with pytest.raises(ValueError):
        OpChain(FakeEngine().submit, count)


def test_a_watcher_that_fails_does_not_stall_the_chain() -> None:
    def broken_watch(index: int, future: Future[Any]) -> None:
        raise RuntimeError("observer bug")

    engine = FakeEngine()
    chain = OpChain(engine.submit, 2, watch=broken_watch).start()
    engine.futures[0].set_result("a")
    engine.futures[1].set_result("b")
    assert chain.submitted.done()
    assert [o.result for o in chain.outcomes.result(timeout=1)] == ["a", "b"]
