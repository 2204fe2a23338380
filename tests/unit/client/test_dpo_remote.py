"""DPO through the real server app (in-process): pairs on the wire, malformed pairs answer 400, and
training widens the chosen-minus-rejected margin; the local face gives the same losses."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.unit._seed_server import MODEL
from tests.unit._served import served

pytest.importorskip("fastapi")
pytest.importorskip("torch")

from twinkle_client import BadRequestError, init_twinkle_client
from twinkle_client.model import MultiLoraTransformersModel as RemoteModel
from twinkle_client.rl import preference_pair

PROMPT = [5, 17, 33, 2, 9, 41]
PAIRS = [
    *preference_pair(PROMPT, chosen=[60, 61, 62, 63], rejected=[90, 91, 92]),
    *preference_pair(PROMPT[:4], chosen=[70, 71], rejected=[95, 96, 97, 98]),
]


@pytest.fixture(scope="module")
def client(seed_settings: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with (
        served(seed_settings(tmp_path_factory.mktemp("dpo")), "alice") as (test_client, (key,)),
        init_twinkle_client("http://testserver", key, transport=test_client._transport) as c,
    ):
        yield c


def _margin(model: Any) -> float:
    plain = [{k: v for k, v in r.items() if k != "preference"} for r in PAIRS]
    out = model.forward_only(inputs=plain, return_logprobs=True, loss_name="CrossEntropyLoss")
    sums = [sum(lp) for lp in out.logprobs]
    return sum(sums[0::2]) - sum(sums[1::2])


def _train(model: Any) -> tuple[list[float], float, float]:
    model.add_adapter_to_model("default", {"r": 8, "lora_alpha": 16, "target_modules": "all-linear"}, seed=3)
    model.set_loss("DPOLoss", beta=0.2)
    model.set_optimizer("AdamW", lr=1e-2)
    before = _margin(model)
    losses = []
    for _ in range(5):
        losses.append(model.forward_backward(inputs=PAIRS).loss)
        model.clip_grad_and_step(1.0)
    after = _margin(model)
    # The weights just saved as the reference policy: every pair's margin is 0, the loss log 2.
    model.set_loss("DPOLoss", beta=0.2, reference_model_path=model.save("ref"))
    losses.append(model.forward_only(inputs=PAIRS).loss)
    return losses, before, after


def test_remote_dpo_widens_the_margin_and_matches_the_local_face(client: Any, local: None) -> None:
    from twinkle.model import MultiLoraTransformersModel as LocalModel

    remote = _train(RemoteModel(model_id=MODEL, client=client))
    here = _train(LocalModel(model_id=MODEL))
    losses, before, after = remote
    assert after > before + 0.5, (before, after)
    assert losses[-2] < losses[0]
    assert losses[-1] == pytest.approx(math.log(2), abs=1e-5)
    assert here[0] == pytest.approx(losses, abs=1e-5)
    assert here[2] == pytest.approx(after, abs=1e-4)


MALFORMED = [
    (PAIRS[:3], "adjacent pairs"),
    ([PAIRS[0], PAIRS[0]], "one chosen and one rejected"),
    ([{**PAIRS[0], "pair_id": 1}, PAIRS[1]], "pair_id"),
    ([{**PAIRS[0], "reference_logprobs": [0.0] * len(PAIRS[0]["input_ids"])}, PAIRS[1]], "every row"),
]


def test_malformed_pairs_answer_400(client: Any) -> None:
    model = RemoteModel(model_id=MODEL, client=client)
    model.add_adapter_to_model("default", {"r": 4})
    model.set_loss("DPOLoss")
    for rows, message in MALFORMED:
        with pytest.raises(BadRequestError, match=message):
            model.forward_backward(inputs=rows)
