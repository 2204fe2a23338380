"""The samplers of both faces: a run's adapter, a checkpoint, the base model; streamed or whole.

The remote face runs against the real server app in-process (only the socket is replaced); the
local face runs the engine in this process. The same calls must give the same tokens on both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.unit._seed_server import MODEL
from tests.unit._served import served

pytest.importorskip("fastapi")
pytest.importorskip("torch")

from twinkle_client import BadRequestError, NotFoundError, init_twinkle_client
from twinkle_client.model import MultiLoraTransformersModel as RemoteModel
from twinkle_client.sampler import SamplingParams
from twinkle_client.sampler import vLLMSampler as RemoteSampler

PROMPTS = [[{"role": "user", "content": "Who are you?"}], [5, 17, 33, 2, 9]]
PARAMS = SamplingParams(max_tokens=6, seed=3, temperature=1.0, logprobs=True)
LORA = {"r": 4, "lora_alpha": 32, "target_modules": "all-linear", "init_lora_weights": False}


@pytest.fixture(scope="module")
def server(seed_settings: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with served(seed_settings(tmp_path_factory.mktemp("sampler")), "alice", "bob") as app_and_keys:
        yield app_and_keys


@pytest.fixture
def alice(server: Any) -> Iterator[Any]:
    test_client, keys = server
    with init_twinkle_client("http://testserver", keys[0], transport=test_client._transport) as c:
        yield c


@pytest.fixture
def bob(server: Any) -> Iterator[Any]:
    test_client, keys = server
    with init_twinkle_client("http://testserver", keys[1], transport=test_client._transport) as c:
        yield c


def _trained(model: Any) -> Any:
    model.add_adapter_to_model("default", LORA, seed=5)
    model.set_template("Template")
    model.set_optimizer("SGD", lr=2.0)
    return model


def _train_step(model: Any) -> None:
    rows = [
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "I am twinkle."}]}
    ]
    model.forward_backward(inputs=rows)
    model.clip_grad_and_step(100.0)


def _tokens(responses: list[Any]) -> list[list[int]]:
    return [s.tokens for r in responses for s in r.sequences]


def _loop(model: Any, base_sampler: Any) -> dict[str, Any]:
    """Train, sample the run, save, train again, sample the checkpoint, the run and the base model."""
    sampler = model.sampler()
    out: dict[str, Any] = {"first": sampler.sample(PROMPTS, PARAMS, num_samples=2)}
    path = model.save("first")
    _train_step(model)
    out["after_step"] = sampler.sample(PROMPTS, PARAMS, num_samples=2)
    out["checkpoint"] = sampler.sample(PROMPTS, PARAMS, adapter_uri=path, num_samples=2)
    base_sampler.add_adapter_to_sampler("first", path)
    out["named"] = base_sampler.sample(PROMPTS, PARAMS, adapter_name="first", num_samples=2)
    out["base"] = base_sampler.sample(PROMPTS, PARAMS, num_samples=2)
    out["single"] = _tokens(sampler.sample([PROMPTS[1]], PARAMS))[0]
    out["single_ckpt"] = _tokens(base_sampler.sample([PROMPTS[1]], PARAMS, adapter_uri=path))[0]
    out["stream"] = [t.token for t in sampler.sample_stream(PROMPTS[1], PARAMS)]
    out["stream_ckpt"] = [t.token for t in base_sampler.sample_stream(PROMPTS[1], PARAMS, adapter_uri=path)]
    out["prompt_logprobs"] = base_sampler.sample(
        [PROMPTS[1]], SamplingParams(max_tokens=1, seed=0, prompt_logprobs=True)
    )[0].prompt_logprobs
    out["path"] = path
    return out


def _check_loop(out: dict[str, Any]) -> None:
    first, after = _tokens(out["first"]), _tokens(out["after_step"])
    assert len(first) == 4 and all(len(t) >= 1 for t in first)
    assert first != after, "the step must change the samples for this test to mean anything"
    assert _tokens(out["checkpoint"]) == first  # the checkpoint holds the weights of the first sample
    assert _tokens(out["named"]) == first
    assert _tokens(out["base"]) not in (first, after)
    assert out["stream"] == out["single"]  # the same seed: the same tokens, streamed or not
    assert out["stream_ckpt"] == out["single_ckpt"] and out["single"] != out["single_ckpt"]
    assert out["prompt_logprobs"][0] is None and len(out["prompt_logprobs"]) == len(PROMPTS[1])


def test_remote_loop_samples_runs_checkpoints_and_the_base_model(alice: Any) -> None:
    out = _loop(_trained(RemoteModel(model_id=MODEL, client=alice)), RemoteSampler(MODEL, client=alice))
    _check_loop(out)


def test_local_and_remote_give_the_same_tokens(alice: Any, local: None) -> None:
    from twinkle.model import MultiLoraTransformersModel as LocalModel
    from twinkle.sampler import vLLMSampler as LocalSampler

    remote = _loop(_trained(RemoteModel(model_id=MODEL, client=alice)), RemoteSampler(MODEL, client=alice))
    here = _loop(_trained(LocalModel(model_id=MODEL)), LocalSampler(MODEL))
    _check_loop(here)
    for key in ("first", "after_step", "checkpoint", "base"):
        assert _tokens(here[key]) == _tokens(remote[key]), key
        lp_here = [v for r in here[key] for s in r.sequences for v in s.logprobs]
        lp_remote = [v for r in remote[key] for s in r.sequences for v in s.logprobs]
        assert lp_here == pytest.approx(lp_remote, abs=1e-5), key
    assert here["stream"] == remote["stream"]


def test_another_users_checkpoint_answers_404(alice: Any, bob: Any) -> None:
    model = _trained(RemoteModel(model_id=MODEL, client=alice))
    path = model.save("mine")
    assert RemoteSampler(MODEL, client=alice).sample(PROMPTS, PARAMS, adapter_uri=path)
    theirs = RemoteSampler(MODEL, client=bob)
    with pytest.raises(NotFoundError):
        theirs.sample(PROMPTS, PARAMS, adapter_uri=path)
    with pytest.raises(NotFoundError):
        list(theirs.sample_stream(PROMPTS[1], PARAMS, adapter_uri=path))
    with pytest.raises(NotFoundError):
        bob.call(
            "sample_model", body={"prompts": [{"input_ids": [1]}], "training_run_id": model.training_run_id}
        )


def test_stream_refuses_several_prompts_and_unknown_sources(alice: Any) -> None:
    sampler = RemoteSampler(MODEL, client=alice)
    with pytest.raises(ValueError, match="one prompt"):
        list(sampler.sample_stream(PROMPTS, PARAMS))
    with pytest.raises(BadRequestError, match="num_samples 1"):
        alice.call(
            "sample_stream", body={"base_model": MODEL, "prompts": [{"input_ids": [1]}], "num_samples": 2}
        )
    with pytest.raises(BadRequestError, match="model_path, training_run_id or base_model"):
        alice.call("sample_model", body={"prompts": [{"input_ids": [1]}]})
    with pytest.raises(ValueError, match="no adapter"):
        sampler.sample(PROMPTS, PARAMS, adapter_name="missing")


def test_the_run_sample_operation_takes_a_checkpoint_too(alice: Any, bob: Any) -> None:
    model = _trained(RemoteModel(model_id=MODEL, client=alice))
    path = model.save("ck")
    body = {"prompts": [{"input_ids": PROMPTS[1]}], "max_tokens": 5, "seed": 1, "num_samples": 2}
    expected = _tokens(
        RemoteSampler(MODEL, client=alice).sample(
            [PROMPTS[1]], {"max_tokens": 5, "seed": 1}, adapter_uri=path, num_samples=2
        )
    )
    _train_step(model)
    out = alice.call("sample", model.training_run_id, body={**body, "model_path": path})
    assert [s["tokens"] for s in out["sequences"]] == expected
    assert [
        s["tokens"] for s in alice.call("sample", model.training_run_id, body=body)["sequences"]
    ] != expected
    with pytest.raises(NotFoundError):
        alice.call(
            "sample", model.training_run_id, body={**body, "model_path": "twinkle://run_x/weights/none"}
        )


def _sample_checkpoint(model: Any) -> dict[str, Any]:
    """Save, train a step, then ``model.sample`` the run now and the saved checkpoint."""
    path = model.save("ck")
    args = {"num_samples": 2, "max_tokens": 5, "seed": 1, "logprobs": True}
    before = model.sample([PROMPTS[1]], **args)
    _train_step(model)
    return {
        "before": before,
        "now": model.sample([PROMPTS[1]], **args),
        "checkpoint": model.sample([PROMPTS[1]], model_path=path, prompt_logprobs=True, **args),
        "missing": f"twinkle://{model.training_run_id}/weights/none",
    }


def test_model_sample_takes_a_checkpoint_on_both_faces(alice: Any, local: None) -> None:
    from twinkle.model import MultiLoraTransformersModel as LocalModel
    from twinkle_server.errors import NotFound

    remote_model = _trained(RemoteModel(model_id=MODEL, client=alice))
    local_model = _trained(LocalModel(model_id=MODEL))
    remote, here = _sample_checkpoint(remote_model), _sample_checkpoint(local_model)
    for out in (remote, here):
        assert _tokens([out["now"]]) != _tokens([out["before"]]), "the step must change the samples"
        assert _tokens([out["checkpoint"]]) == _tokens([out["before"]])
        scores = out["checkpoint"].prompt_logprobs
        assert len(scores) == 1 and scores[0][0] is None and len(scores[0]) == len(PROMPTS[1])
    for key in ("before", "now", "checkpoint"):
        assert _tokens([here[key]]) == _tokens([remote[key]]), key
    assert here["checkpoint"].prompt_logprobs[0][1:] == pytest.approx(
        remote["checkpoint"].prompt_logprobs[0][1:], abs=1e-5
    )
    with pytest.raises(NotFoundError):
        remote_model.sample([PROMPTS[1]], model_path=remote["missing"])
    with pytest.raises(NotFound, match="not found"):
        local_model.sample([PROMPTS[1]], model_path=here["missing"])
