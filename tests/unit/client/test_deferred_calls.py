"""Deferred calls: ``clip_grad_norm``, ``step``, ``zero_grad`` and ``lr_step`` travel with the run's
next call, against the real server app in-process (only the socket is replaced).

What must hold: the same numbers as calls sent one by one, one request per micro-batch, errors
raised by the call that carried them (which is then not applied), outputs that read through, and
nothing left behind by a save or a close.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.unit._seed_server import MODEL
from tests.unit._served import served

pytest.importorskip("fastapi")
pytest.importorskip("torch")

from twinkle_client import ConflictError, ServiceUnavailableError, TwinkleClient, init_twinkle_client
from twinkle_client._deferred import DeferredCalls
from twinkle_client.model import MultiLoraTransformersModel as Model
from twinkle_client.types import StepOutput

LORA = {"r": 4, "lora_alpha": 16, "target_modules": "all-linear", "init_lora_weights": False}
ROWS = [
    {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "I am twinkle."}]},
    {"messages": [{"role": "user", "content": "who?"}, {"role": "assistant", "content": "A model."}]},
]


class CountingTransport(httpx.BaseTransport):
    """The app's transport, counting requests by their last path segment (the operation)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.sent: Counter[str] = Counter()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent[request.url.path.rsplit("/", 1)[-1]] += 1
        return self.inner.handle_request(request)


@pytest.fixture(scope="module")
def server(seed_settings: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with served(seed_settings(tmp_path_factory.mktemp("deferred")), "alice") as app_and_keys:
        yield app_and_keys


def _client(server: Any, *, defer_calls: bool = True) -> tuple[TwinkleClient, Counter[str]]:
    """A client of alice and the count of the requests it sends, by operation."""
    test_client, keys = server
    transport = CountingTransport(test_client._transport)
    client = init_twinkle_client("http://testserver", keys[0], transport=transport, defer_calls=defer_calls)
    return client, transport.sent


@pytest.fixture
def alice(server: Any) -> Iterator[tuple[TwinkleClient, Counter[str]]]:
    client, transport = _client(server)
    with client:
        yield client, transport


def _model(client: TwinkleClient, *, optimizer: bool = True, accumulation: int = 2) -> Model:
    model = Model(MODEL, client=client)
    model.add_adapter_to_model("default", LORA, gradient_accumulation_steps=accumulation, seed=3)
    model.set_template("Template")
    if optimizer:
        model.set_optimizer("AdamW", lr=1e-3)
        model.set_lr_scheduler("LinearLR")
    return model


def _seed_loop(model: Model, steps: int) -> list[tuple[Any, ...]]:
    """The contract's loop; every answer read at the end, as a logging loop would."""
    answers = []
    for _ in range(steps):
        output = model.forward_backward(inputs=ROWS)
        answers.append((output, model.clip_grad_norm(1.0), model.step(), model.zero_grad(), model.lr_step()))
    return [
        (out.loss, clip.grad_norm, step.applied, step.optimizer_step, step.lr, zero.applied, lr.lr)
        for out, clip, step, zero, lr in answers
    ]


def test_the_loop_gives_the_same_numbers_in_one_request_per_micro_batch(server: Any) -> None:
    deferred, deferred_sent = _client(server)
    plain, plain_sent = _client(server, defer_calls=False)
    with deferred, plain:
        together = _seed_loop(_model(deferred), steps=4)
        alone = _seed_loop(_model(plain), steps=4)
    for mine, theirs in zip(together, alone, strict=True):
        assert [x for x in mine if x is not None] == pytest.approx([x for x in theirs if x is not None])
        assert [x is None for x in mine] == [x is None for x in theirs]
    assert [row[2] for row in together] == [False, True, False, True]  # accumulation of 2 kept
    assert plain_sent["forward_backward"] == 4 and plain_sent["step"] == 4
    # The first micro-batch goes alone; each later one carries the calls before it; the close
    # sends the last four.
    assert deferred_sent["forward_backward"] == 1 and deferred_sent["calls"] == 4
    assert not {"clip_grad_norm", "step", "zero_grad", "lr_step"} & set(deferred_sent)


def test_an_output_is_sent_when_read(alice: tuple[TwinkleClient, Counter[str]]) -> None:
    client, sent = alice
    model = _model(client, accumulation=1)
    model.forward_backward(inputs=ROWS)
    step = model.step()
    assert not step.done() and sent["calls"] == 0
    assert step.applied is True and step.optimizer_step == 1
    assert step.done() and sent["calls"] == 1
    assert step == StepOutput.model_validate({"applied": True, "optimizer_step": 1, "lr": step.lr})
    assert str(step) == str(step.result()) and str(step).startswith("applied=True optimizer_step=1 lr=")


def test_a_failed_call_raises_in_the_call_that_carried_it_and_stops_the_rest(
    alice: tuple[TwinkleClient, Counter[str]],
) -> None:
    client, _ = alice
    model = _model(client, optimizer=False, accumulation=1)
    model.forward_backward(inputs=ROWS)
    step = model.step()  # no optimizer: a Conflict, once sent
    zero = model.zero_grad()
    with pytest.raises(ConflictError, match="no optimizer"):
        model.forward_backward(inputs=ROWS)
    with pytest.raises(ConflictError):
        step.result()
    with pytest.raises(ConflictError):  # skipped: it raises the error that stopped it
        _ = zero.applied
    configs = model.get_train_configs()
    # Neither the zero_grad nor the second forward_backward was applied: one micro-batch still waits.
    assert configs.micro_step == 1


def test_data_calls_neither_carry_nor_wait_for_the_runs_calls(
    alice: tuple[TwinkleClient, Counter[str]],
) -> None:
    client, sent = alice
    model = _model(client, accumulation=1)
    model.forward_backward(inputs=ROWS)
    step = model.step()
    client.whoami()
    client.get_server_capabilities()
    assert not step.done() and sent["calls"] == 0
    client.get_training_run(str(model.training_run_id))  # reads the run: the step goes first
    assert step.done() and step.optimizer_step == 1


def test_a_save_and_a_close_send_what_waits(server: Any) -> None:
    client, sent = _client(server)
    model = _model(client, accumulation=1)
    model.forward_backward(inputs=ROWS)
    model.step()
    model.save("after-one-step")
    checkpoint = client.get_checkpoint(str(model.training_run_id), model.last_checkpoint.checkpoint_id)
    assert checkpoint is not None and sent["calls"] == 1
    model.forward_backward(inputs=ROWS)
    last = model.step()
    client.close()
    assert last.done() and last.optimizer_step == 2


def test_without_deferral_each_call_answers_at_once(server: Any) -> None:
    client, sent = _client(server, defer_calls=False)
    with client:
        model = _model(client, optimizer=False, accumulation=1)
        model.forward_backward(inputs=ROWS)
        with pytest.raises(ConflictError):
            model.step()
    assert sent["calls"] == 0


def test_two_runs_of_one_client_each_carry_their_own_calls(server: Any) -> None:
    client, sent = _client(server)
    with client:
        first, second = _model(client, accumulation=1), _model(client, accumulation=1)
        for _ in range(3):
            for model in (first, second):
                model.forward_backward(inputs=ROWS)
                model.step()
                model.zero_grad()
        # Reading a run sends its own waiting calls, not the other run's.
        assert first.get_train_configs().optimizer_step == 3
        assert sent["calls"] == 5
        assert second.get_train_configs().optimizer_step == 3
    assert sent["forward_backward"] == 2 and sent["calls"] == 6


def _outcome(op: str, status: str, result: Any = None, code: str | None = None) -> dict[str, Any]:
    error = {"code": code, "message": f"{op} {code}", "details": {}, "request_id": "req_1"} if code else None
    http_status = {"succeeded": 200, "failed": 503, "skipped": None}[status]
    return {"op": op, "status": status, "result": result, "error": error, "http_status": http_status}


def _replaying(*answers: dict[str, Any]) -> tuple[DeferredCalls, list[list[str]]]:
    """Deferred calls over a server that gives ``answers`` in turn; the ops of each request sent."""
    sent: list[list[str]] = []
    queue = list(answers)

    def send(operation: str, run_id: str, *, body: dict[str, Any]) -> dict[str, Any]:
        assert operation == "run_calls" and run_id == "run_x"
        sent.append([call["op"] for call in body["calls"]])
        return queue.pop(0)

    return DeferredCalls(send, lambda op: "run_compute"), sent


def test_calls_a_lost_replica_did_not_apply_are_sent_again() -> None:
    calls, sent = _replaying(
        {
            "results": [
                _outcome("step", "succeeded", {"applied": True}),
                _outcome("zero_grad", "failed", code="replica_lost"),
                _outcome("forward_backward", "skipped"),
            ]
        },
        {
            "results": [
                _outcome("zero_grad", "succeeded", {"applied": True}),
                _outcome("forward_backward", "succeeded", {"loss": 1.5}),
            ]
        },
    )
    step = calls.defer("run_x", "step", {}, lambda result: result)
    zero = calls.defer("run_x", "zero_grad", {}, lambda result: result)
    assert calls.call("forward_backward", ("run_x",), {"inputs": []}, {}) == {"loss": 1.5}
    assert sent == [["step", "zero_grad", "forward_backward"], ["zero_grad", "forward_backward"]]
    assert step.result() == {"applied": True} and zero.result() == {"applied": True}


def test_other_failures_are_not_sent_again() -> None:
    calls, sent = _replaying(
        {"results": [_outcome("step", "failed", code="unavailable"), _outcome("forward_backward", "skipped")]}
    )
    step = calls.defer("run_x", "step", {}, lambda result: result)
    with pytest.raises(ServiceUnavailableError, match="step unavailable"):
        calls.call("forward_backward", ("run_x",), {"inputs": []}, {})
    assert sent == [["step", "forward_backward"]]
    with pytest.raises(ServiceUnavailableError):
        step.result()


def test_a_close_whose_deferred_call_fails_still_closes_the_session(server: Any) -> None:
    client, sent = _client(server)
    model = _model(client, optimizer=False, accumulation=1)
    model.forward_backward(inputs=ROWS)
    step = model.step()  # no optimizer: fails once sent, by the close
    with pytest.raises(ConflictError, match="no optimizer"):
        client.close()
    assert client.closed and sent["close"] == 1
    with pytest.raises(ConflictError):
        step.result()


def test_threads_training_other_runs_of_one_client_do_not_wait_for_each_other() -> None:
    """A request carrying run A's calls is in flight while run B's thread sends its own: one
    client training several adapters from threads keeps their passes shared on the server."""
    in_flight = threading.Barrier(2, timeout=10)
    sent: list[str] = []

    def send(operation: str, run_id: str, *, body: dict[str, Any]) -> dict[str, Any]:
        sent.append(run_id)
        in_flight.wait()  # both requests must be in flight at once, or this times out
        ops = [call["op"] for call in body["calls"]]
        return {"results": [_outcome(op, "succeeded", {"run": run_id}) for op in ops]}

    calls = DeferredCalls(send, lambda op: "run_compute")
    steps = {run: calls.defer(run, "step", {}, lambda result: result) for run in ("run_a", "run_b")}
    answers: dict[str, Any] = {}

    def train(run: str) -> None:
        answers[run] = calls.call("forward_backward", (run,), {"inputs": []}, {})

    threads = [threading.Thread(target=train, args=(run,)) for run in steps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert sorted(sent) == ["run_a", "run_b"]
    assert answers == {"run_a": {"run": "run_a"}, "run_b": {"run": "run_b"}}
    assert all(steps[run].result() == {"run": run} for run in steps)


def test_an_output_read_while_another_thread_sends_it_waits_for_its_answer() -> None:
    """Thread 1 carries run A's step; thread 2 reads that step's output meanwhile: it gets the
    answer of thread 1's request (not an unsent call, not a second request)."""
    release = threading.Event()
    sent: list[list[str]] = []

    def send(operation: str, run_id: str, *, body: dict[str, Any]) -> dict[str, Any]:
        sent.append([call["op"] for call in body["calls"]])
        release.wait(timeout=10)
        return {"results": [_outcome(call["op"], "succeeded", {"n": 1}) for call in body["calls"]]}

    calls = DeferredCalls(send, lambda op: "run_compute")
    step = calls.defer("run_a", "step", {}, lambda result: result)
    carrier = threading.Thread(target=calls.call, args=("forward_backward", ("run_a",), {"inputs": []}, {}))
    carrier.start()
    while not sent:
        time.sleep(0.001)
    reader_got: list[Any] = []
    reader = threading.Thread(target=lambda: reader_got.append(step.result()))
    reader.start()
    time.sleep(0.05)
    assert not reader_got  # still waiting for the carrier's answer
    release.set()
    carrier.join(timeout=10)
    reader.join(timeout=10)
    assert reader_got == [{"n": 1}] and sent == [["step", "forward_backward"]]
