"""DPO on the tiny model: prefer one answer over another, against the base model as reference.

Each pair is a prompt with a chosen and a rejected answer (``preference_pair``); ``DPOLoss`` scores
both answers under the adapter being trained and under the base model (the server computes the
reference log-probabilities in the same pass, since the rows bring none) and pushes the chosen
answer's gain over the reference above the rejected answer's. The margin printed per update is the
adapter's summed log-probability of the chosen answers minus that of the rejected ones, averaged
over the pairs, as scored by that update's forward pass; it starts where the base model puts it
and rises.

Runs in-process (``twinkle``), or against a server when ``TWINKLE_SERVER_URL`` and
``TWINKLE_SERVER_TOKEN`` are set (``twinkle_client``); only the imports differ, and so do no numbers.

    python examples/dpo_tiny.py                 # in-process; TWINKLE_CONFIG names the server YAML
    TWINKLE_SERVER_URL=http://127.0.0.1:8000 TWINKLE_SERVER_TOKEN=... python examples/dpo_tiny.py
"""

import json
import os
import sys

if os.environ.get("TWINKLE_SERVER_URL"):
    from twinkle_client import init_twinkle_client
    from twinkle_client.model import MultiLoraTransformersModel
    from twinkle_client.rl import preference_pair

    init_twinkle_client()
else:
    from twinkle.model import MultiLoraTransformersModel
    from twinkle.rl import preference_pair

MODEL_ID = "ms://Qwen/Qwen2.5-7B-Instruct"  # the demo serves the tiny model under this name
# (prompt, chosen, rejected) token ids of the tiny model's vocabulary
PAIRS = [
    ([17, 230, 5, 911], [12, 40, 7], [1300, 990, 1201]),
    ([402, 33, 1200, 7], [3, 88], [1500, 1402]),
]


def margins(rows: list[dict], logprobs: list[list[float]]) -> float:
    """Mean over pairs of the chosen answer's summed label log-probability minus the rejected one's."""
    sums = [
        sum(lp for lp, label in zip(row_lps, row["labels"], strict=True) if label != -100)
        for row_lps, row in zip(logprobs, rows, strict=True)
    ]
    return sum(sums[i] - sums[i + 1] for i in range(0, len(sums), 2)) / (len(sums) // 2)


def train_dpo(updates: int) -> list[float]:
    """Train ``updates`` DPO steps on ``PAIRS``; the chosen-minus-rejected margin before each."""
    model = MultiLoraTransformersModel(model_id=MODEL_ID)
    targets = ["q_proj", "v_proj", "down_proj", "lm_head"]
    model.add_adapter_to_model("dpo", {"r": 8, "lora_alpha": 32, "target_modules": targets}, seed=0)
    model.set_optimizer("AdamW", lr=2e-2)
    model.set_loss("DPOLoss", beta=0.1)  # no reference_model_path: the base model is the reference
    rows = [row for prompt, chosen, rejected in PAIRS for row in preference_pair(prompt, chosen, rejected)]
    history = []
    for update in range(updates):
        out = model.forward_backward(inputs=rows, return_logprobs=True)
        model.clip_grad_and_step(max_norm=1.0)
        history.append(margins(rows, out.logprobs))
        print(f"update {update:2d}  loss {out.loss:.4f}  margin {history[-1]:.3f}", flush=True)
    return history


if __name__ == "__main__":
    print("MARGINS " + json.dumps(train_dpo(int(sys.argv[1]) if len(sys.argv) > 1 else 20)))
