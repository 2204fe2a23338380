"""The seed example's data steps, end to end on the shipped data and the tiny model."""

from __future__ import annotations

import json
import math

from twinkle_server import assets
from twinkle_server.data import DataLoader, Dataset, DatasetMeta
from twinkle_server.data.templates import MODEL_KEYS

NAME, AUTHOR = "twinkle model", "ModelScope Team"
SEED_DATASET = "ms://swift/self-cognition"  # aliased in conftest.resolver
SEED_MODEL = "ms://Qwen/Qwen2.5-7B-Instruct"


def _expected_replies() -> list[str]:
    rows = [json.loads(line) for line in assets.path("self_cognition.jsonl").read_text().splitlines() if line]
    return [r["response"].replace("{{NAME}}", NAME).replace("{{AUTHOR}}", AUTHOR) for r in rows]


def _seed_dataset(resolver) -> Dataset:
    dataset = Dataset(DatasetMeta(SEED_DATASET), resolver=resolver)
    dataset.set_template("Template", model_id=SEED_MODEL, max_length=512)
    dataset.map("SelfCognitionProcessor", init_args={"model_name": NAME, "model_author": AUTHOR})
    dataset.encode(batched=True)
    return dataset


def test_seed_sequence_labels_cover_exactly_the_assistant_replies(resolver, tokenizer):
    dataset = _seed_dataset(resolver)
    replies = _expected_replies()
    loader = DataLoader(dataset=dataset, batch_size=8)

    assert len(loader) == math.ceil(len(replies) / 8)
    rows = [row for batch in loader for row in batch]
    assert len(rows) == len(replies)
    for row, reply in zip(rows, replies, strict=True):
        assert set(row) == set(MODEL_KEYS)
        ids, labels = row["input_ids"], row["labels"]
        target = [t for t in labels if t != -100]
        assert tokenizer.decode(target) == reply + "<|im_end|>"
        # shifted: labels[i] is input_ids[i + 1] or -100, and the last position has no target
        assert labels[-1] == -100
        assert all(lab in (-100, nxt) for lab, nxt in zip(labels, ids[1:], strict=False))
        assert row["length"] == len(ids) == len(labels) == len(row["attention_mask"]) <= 512
        assert row["position_ids"] == list(range(len(ids)))
        assert set(row["attention_mask"]) == {1}
        assert "{{" not in tokenizer.decode(ids)


def test_prompt_holds_the_system_turn_and_substituted_query(resolver, tokenizer):
    dataset = _seed_dataset(resolver)
    row = dataset[0]
    assert row["messages"][0] == {"role": "system", "content": "You are a helpful assistant."}
    text = tokenizer.decode(row["input_ids"])
    assert text.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>")
    assert NAME in text and "{{NAME}}" not in text


def test_info_reports_length_columns_encoded_and_template(resolver):
    dataset = _seed_dataset(resolver)
    info = dataset.info()
    assert info["length"] == len(_expected_replies())
    assert info["encoded"] is True
    assert info["template"]["name"] == "Template" and info["template"]["max_length"] == 512
    assert set(MODEL_KEYS) | {"messages"} == set(info["columns"])
