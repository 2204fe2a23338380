"""Template: assistant masks (generation blocks and the prefix fallback), shifting, truncation, names."""

from __future__ import annotations

import logging
import re

import pytest

from twinkle_server.data import Dataset, DatasetMeta
from twinkle_server.data.templates import RowTooLong, Template, get_template
from twinkle_server.errors import InvalidInput

CONVERSATION = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Who are you?"},
    {"role": "assistant", "content": "I am Twinkle, made by the Twinkle Team."},
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "The capital of France is Paris."},
]
REPLIES = [m["content"] + "<|im_end|>" for m in CONVERSATION if m["role"] == "assistant"]


def _fresh_tokenizer(tiny_model_dir, chat_template=None):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    if chat_template is not None:
        tok.chat_template = chat_template
    return tok


def _spans(tokenizer, row) -> list[str]:
    """Decoded runs of consecutive label targets, from the unshifted view of the labels."""
    targets = [-100, *row["labels"][:-1]]  # position i+1's token is labels[i]
    runs, current = [], []
    for tok in targets:
        if tok == -100:
            if current:
                runs.append(tokenizer.decode(current))
            current = []
        else:
            current.append(tok)
    if current:
        runs.append(tokenizer.decode(current))
    return runs


def test_generation_blocks_give_each_assistant_turn(tokenizer):
    template = Template(tokenizer)
    assert template.uses_generation_blocks
    row = template.encode(CONVERSATION)
    assert _spans(tokenizer, row) == REPLIES


def test_prefix_fallback_matches_generation_blocks(tokenizer, tiny_model_dir):
    plain = re.sub(r"\{%-?\s*(end)?generation\s*-?%\}", "", tokenizer.chat_template)
    assert "{%- generation" not in plain and "generation -%}" not in plain
    fallback = Template(_fresh_tokenizer(tiny_model_dir, plain))
    assert not fallback.uses_generation_blocks
    row = fallback.encode(CONVERSATION)
    assert _spans(tokenizer, row) == REPLIES
    assert row == Template(tokenizer).encode(CONVERSATION)


def test_prefix_fallback_with_a_template_that_rewrites_earlier_turns(tokenizer, tiny_model_dir):
    # Earlier assistant turns render without their <think> part, so prefixes are not prefixes.
    rewriting = (
        "{%- for m in messages -%}"
        "{%- set c = m['content'] -%}"
        "{%- if m['role'] == 'assistant' and not loop.last -%}{%- set c = c.split('</think>')[-1] -%}"
        "{%- endif -%}"
        "{{- '<|im_start|>' + m['role'] + '\\n' + c + '<|im_end|>\\n' -}}"
        "{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
    )
    template = Template(_fresh_tokenizer(tiny_model_dir, rewriting))
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "<think>hm</think>Hello."},
        {"role": "user", "content": "Bye"},
        {"role": "assistant", "content": "Goodbye."},
    ]
    assert _spans(tokenizer, template.encode(messages)) == ["Hello.<|im_end|>", "Goodbye.<|im_end|>"]


def test_labels_are_shifted_and_rows_complete(tokenizer):
    row = Template(tokenizer).encode(CONVERSATION)
    ids, labels = row["input_ids"], row["labels"]
    assert len(labels) == len(ids) == row["length"]
    assert labels[-1] == -100
    assert all(lab in (-100, nxt) for lab, nxt in zip(labels, ids[1:], strict=False))
    assert row["position_ids"] == list(range(len(ids)))
    assert row["attention_mask"] == [1] * len(ids)


def test_truncation_raise_refuses_with_lengths(tokenizer):
    full = Template(tokenizer).encode(CONVERSATION)["length"]
    with pytest.raises(RowTooLong, match=rf"{full} tokens, over max_length 20") as err:
        Template(tokenizer, max_length=20).encode(CONVERSATION)
    assert isinstance(err.value, InvalidInput)
    assert err.value.details["length"] == full


def test_truncation_left_and_right_keep_the_matching_window(tokenizer):
    full = Template(tokenizer).encode(CONVERSATION)
    left = Template(tokenizer, max_length=20, truncation_strategy="left").encode(CONVERSATION)
    right = Template(tokenizer, max_length=20, truncation_strategy="right").encode(CONVERSATION)
    assert left["input_ids"] == full["input_ids"][-20:]
    assert right["input_ids"] == full["input_ids"][:20]
    # the labels of the kept window, shifted inside the window: only the last position changes
    assert left["labels"] == [*full["labels"][-20:-1], -100]
    assert right["labels"] == [*full["labels"][:19], -100]
    assert left["length"] == right["length"] == 20
    assert left["position_ids"] == list(range(20))


def test_truncation_delete_drops_rows_in_a_dataset(resolver, tiny_model_dir, tokenizer):
    short = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]
    rows = [{"messages": short}, {"messages": CONVERSATION}, {"messages": short}]
    limit = Template(tokenizer).encode(short)["length"]
    dataset = Dataset(DatasetMeta(data=rows), resolver=resolver)
    dataset.set_template(
        "Template", model_id="ms://Qwen/Qwen2.5-7B-Instruct", max_length=limit, truncation_strategy="delete"
    )
    dataset.encode()
    assert len(dataset) == 2
    assert all(r["messages"][1]["content"] == "Hello." for r in dataset)
    with pytest.raises(RowTooLong):
        Template(tokenizer, max_length=limit, truncation_strategy="delete").encode(CONVERSATION)
    # encoding again replaces the columns; deleting every row keeps them
    dataset.set_template("Template", tokenizer=tokenizer, max_length=4, truncation_strategy="delete")
    dataset.encode()
    assert len(dataset) == 0 and "labels" in dataset.columns


def test_dataset_encode_under_raise_names_the_row(resolver, tokenizer):
    short = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]
    dataset = Dataset(DatasetMeta(data=[{"messages": short}, {"messages": CONVERSATION}]), resolver=resolver)
    dataset.set_template("Template", tokenizer=tokenizer, max_length=24)
    with pytest.raises(RowTooLong, match=r"row 1 encodes to \d+ tokens, over max_length 24"):
        dataset.encode()


def test_model_specific_names_use_the_generic_template(tokenizer, caplog):
    with caplog.at_level(logging.INFO, logger="twinkle_server.data.templates"):
        template = get_template("Qwen3_5Template", tokenizer, max_length=64)
    assert type(template) is Template and template.name == "Qwen3_5Template"
    assert "generic Template" in caplog.text
    assert template.encode(CONVERSATION[:3]) == get_template("Template", tokenizer).encode(CONVERSATION[:3])


def test_unknown_template_name_lists_accepted(tokenizer):
    with pytest.raises(InvalidInput, match=r"unknown template 'chatml'.*'Template'"):
        get_template("chatml", tokenizer)
    with pytest.raises(InvalidInput, match=r"unknown template option\(s\) colour; accepted: max_length"):
        get_template("Template", tokenizer, colour="red")
    assert get_template("Template", tokenizer, use_chat_template=True).name == "Template"


def test_bad_settings_and_messages_are_refused(tokenizer, tiny_model_dir):
    with pytest.raises(InvalidInput, match="truncation_strategy"):
        Template(tokenizer, truncation_strategy="split")
    with pytest.raises(InvalidInput, match="max_length"):
        Template(tokenizer, max_length=0)
    with pytest.raises(InvalidInput, match="role 'robot'"):
        Template(tokenizer).encode([{"role": "robot", "content": "x"}])
    with pytest.raises(InvalidInput, match="non-empty list"):
        Template(tokenizer).encode([])
    no_template = _fresh_tokenizer(tiny_model_dir)
    no_template.chat_template = None
    with pytest.raises(InvalidInput, match="no chat template"):
        Template(no_template)


def test_default_system_is_added_when_missing(tokenizer):
    template = Template(tokenizer, default_system="Be brief.")
    row = template.encode(CONVERSATION[1:3])
    assert tokenizer.decode(row["input_ids"]).startswith("<|im_start|>system\nBe brief.<|im_end|>")


def test_generation_spans_match_transformers_assistant_masks(tokenizer):
    conversations = [
        CONVERSATION,
        CONVERSATION[1:3],
        [{"role": "user", "content": "Empty reply?"}, {"role": "assistant", "content": ""}],
        [{"role": "user", "content": "Ünïcödé — 你好"}, {"role": "assistant", "content": "Ça va. 好的!"}],
    ]
    template = Template(tokenizer)
    for messages in conversations:
        expected = tokenizer.apply_chat_template(
            messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
        )
        ids, mask = template.assistant_mask(messages)
        assert ids == list(expected["input_ids"])
        assert mask == list(expected["assistant_masks"])


def test_text_holding_the_marker_characters_still_encodes(tokenizer):
    messages = [
        {"role": "user", "content": "odd \ue000 text"},
        {"role": "assistant", "content": "reply \ue001"},
    ]
    row = Template(tokenizer).encode(messages)
    assert _spans(tokenizer, row) == ["reply \ue001<|im_end|>"]


def test_batch_encode_names_bad_rows(tokenizer):
    good = CONVERSATION[1:3]
    with pytest.raises(InvalidInput, match=r"row 11: message 0 has role 'bot'"):
        Template(tokenizer).batch_encode([good, [{"role": "bot", "content": "x"}]], first_index=10)
    limit = Template(tokenizer).encode(good)["length"]
    rows = Template(tokenizer, max_length=limit, truncation_strategy="delete").batch_encode(
        [good, CONVERSATION]
    )
    assert rows[0] is not None and rows[1] is None


def test_template_refusing_a_conversation_is_invalid_input(tokenizer, tiny_model_dir):
    strict = (
        "{%- for m in messages -%}"
        "{%- if m['role'] == 'system' and not loop.first -%}"
        "{{- raise_exception('System message must be at the beginning.') -}}{%- endif -%}"
        "{{- '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' -}}"
        "{%- endfor -%}"
    )
    template = Template(_fresh_tokenizer(tiny_model_dir, strict))
    late_system = [{"role": "user", "content": "Hi"}, {"role": "system", "content": "late"}]
    with pytest.raises(InvalidInput, match=r"cannot render row 3: .*System message must be at the beginning"):
        template.batch_encode([late_system], first_index=3)
    with pytest.raises(InvalidInput, match="cannot render the conversation"):
        template.encode(late_system)
