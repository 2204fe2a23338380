"""Dataset operations: preprocessors, filters, add/mix, and their refusals."""

from __future__ import annotations

import pytest

from twinkle_server import assets
from twinkle_server.data import Dataset, DatasetMeta
from twinkle_server.errors import Conflict, InvalidInput

MODEL = "ms://Qwen/Qwen2.5-7B-Instruct"


def _rows(prefix: str, n: int) -> list[dict]:
    return [{"query": f"{prefix} q{i}", "response": f"{prefix} a{i}"} for i in range(n)]


def _chat(prefix: str, n: int) -> list[dict]:
    return [
        {
            "messages": [
                {"role": "user", "content": f"{prefix} q{i}"},
                {"role": "assistant", "content": f"{prefix} a{i}"},
            ]
        }
        for i in range(n)
    ]


def test_alpaca_processor(resolver, data_root):
    (data_root / "alpaca.jsonl").write_text(assets.path("alpaca_sample.jsonl").read_text())
    dataset = Dataset(DatasetMeta("alpaca.jsonl"), resolver=resolver)
    dataset.map("AlpacaProcessor")
    assert dataset.columns == ["messages"]
    first = dataset[0]["messages"]
    assert first == [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "The capital of France is Paris."},
    ]
    inline = Dataset(
        DatasetMeta(data=[{"instruction": "Add", "input": "1 and 2", "output": "3"}]), resolver=resolver
    )
    inline.map("AlpacaProcessor", init_args={"system": "Be exact."})
    assert [m["content"] for m in inline[0]["messages"]] == ["Be exact.", "Add\n1 and 2", "3"]


def test_self_cognition_accepts_both_argument_spellings(resolver):
    rows = [{"query": "Who is {{NAME}}?", "response": "{{NAME}} by {{AUTHOR}}."}]
    a = Dataset(DatasetMeta(data=rows), resolver=resolver)
    a.map("SelfCognitionProcessor", init_args={"model_name": "Bee", "model_author": "Hive"})
    b = Dataset(DatasetMeta(data=rows), resolver=resolver)
    b.map("SelfCognitionProcessor", init_args={"name": "Bee", "author": "Hive"})
    assert a[0] == b[0]
    assert a[0]["messages"][1:] == [
        {"role": "user", "content": "Who is Bee?"},
        {"role": "assistant", "content": "Bee by Hive."},
    ]


def test_messages_processor_maps_columns_and_sharegpt_roles(resolver):
    rows = [{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}], "id": 1}]
    dataset = Dataset(DatasetMeta(data=rows), resolver=resolver)
    dataset.map("MessagesProcessor", init_args={"columns": {"conversations": "messages"}, "system": "S"})
    assert dataset[0] == {
        "messages": [
            {"role": "system", "content": "S"},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
        ]
    }
    flat = Dataset(DatasetMeta(data=[{"question": "2+2?", "answer": "4"}]), resolver=resolver)
    flat.map("MessagesProcessor", init_args={"columns": {"question": "query", "answer": "response"}})
    assert flat[0]["messages"] == [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]


def test_missing_columns_name_missing_and_present(resolver):
    dataset = Dataset(DatasetMeta(data=[{"prompt": "x", "completion": "y"}]), resolver=resolver)
    with pytest.raises(
        InvalidInput, match=r"needs the columns query, response.*columns are: prompt, completion"
    ) as err:
        dataset.map("SelfCognitionProcessor", init_args={"model_name": "a", "model_author": "b"})
    assert err.value.details == {"missing": ["query", "response"], "columns": ["prompt", "completion"]}
    with pytest.raises(InvalidInput, match=r"MessagesProcessor needs the columns messages"):
        dataset.map("MessagesProcessor")
    with pytest.raises(InvalidInput, match=r"encode reads a 'messages' column"):
        dataset.set_template("Template", model_id=MODEL)
        dataset.encode()


def test_unknown_preprocessor_filter_and_arguments(resolver):
    dataset = Dataset(DatasetMeta(data=_rows("a", 2)), resolver=resolver)
    with pytest.raises(InvalidInput, match=r"unknown preprocessor 'Nope'; accepted: SelfCognitionProcessor"):
        dataset.map("Nope")
    with pytest.raises(InvalidInput, match=r"unknown filter 'Nope'; accepted: MaxLengthFilter"):
        dataset.filter("Nope")
    with pytest.raises(InvalidInput, match=r"unexpected keyword argument 'colour'.*accepts: model_name"):
        dataset.map("SelfCognitionProcessor", init_args={"colour": "red"})
    with pytest.raises(InvalidInput, match="model_name must be a non-empty string"):
        dataset.map("SelfCognitionProcessor")


def test_bad_cell_names_the_row(resolver):
    dataset = Dataset(
        DatasetMeta(data=[{"query": "a", "response": "b"}, {"query": "c", "response": None}]),
        resolver=resolver,
    )
    with pytest.raises(InvalidInput, match=r"row 1: column 'response' must hold text"):
        dataset.map("SelfCognitionProcessor", init_args={"model_name": "a", "model_author": "b"})


def test_filters(resolver, tokenizer):
    rows = [
        *_chat("x", 3),
        {"messages": [{"role": "user", "content": "no reply"}, {"role": "assistant", "content": " "}]},
    ]
    rows.append(
        {"messages": [{"role": "user", "content": "long " * 40}, {"role": "assistant", "content": "ok"}]}
    )
    dataset = Dataset(DatasetMeta(data=rows), resolver=resolver)
    with pytest.raises(InvalidInput, match="call encode"):
        dataset.filter("MaxLengthFilter", init_args={"max_length": 30})
    dataset.filter("NonEmptyFilter")
    assert len(dataset) == 4
    dataset.set_template("Template", tokenizer=tokenizer)
    dataset.encode()
    lengths = [dataset[i]["length"] for i in range(len(dataset))]
    limit = sorted(lengths)[-2]
    dataset.filter("MaxLengthFilter", init_args={"max_length": limit})
    assert len(dataset) == 3 and all(dataset[i]["length"] <= limit for i in range(3))
    with pytest.raises(InvalidInput, match="positive integer"):
        dataset.filter("MaxLengthFilter", init_args={"max_length": "long"})


def test_mix_interleave_alternates_and_concat_appends(resolver):
    a = Dataset(DatasetMeta(data=_chat("a", 3)), resolver=resolver)
    a.add_dataset(DatasetMeta(data=_chat("b", 3)))
    assert len(a) == 6  # parts read as concatenated until mixed
    a.mix_dataset("interleave")
    assert [a[i]["messages"][0]["content"] for i in range(len(a))] == [
        "a q0",
        "b q0",
        "a q1",
        "b q1",
        "a q2",
        "b q2",
    ]

    c = Dataset(DatasetMeta(data=_chat("a", 2)), resolver=resolver)
    c.add_dataset(DatasetMeta(data=_chat("b", 3)))
    c.mix_dataset(interleave=False)  # twinkle's spelling
    assert [c[i]["messages"][0]["content"] for i in range(len(c))] == ["a q0", "a q1", "b q0", "b q1", "b q2"]
    assert c.info()["parts"] and len(c.info()["parts"]) == 1


def test_mix_with_probabilities_is_seeded(resolver):
    def mixed(seed: int) -> list[str]:
        d = Dataset(DatasetMeta(data=_chat("a", 50)), resolver=resolver)
        d.add_dataset(DatasetMeta(data=_chat("b", 50)))
        d.mix_dataset("interleave", probabilities=[3, 1], seed=seed, stopping_strategy="first_exhausted")
        return [d[i]["messages"][0]["content"] for i in range(len(d))]

    first, again, other = mixed(1), mixed(1), mixed(2)
    assert first == again and first != other
    share_a = sum(s.startswith("a") for s in first) / len(first)
    assert 0.6 < share_a < 0.9  # about 3:1


def test_mix_refusals(resolver):
    d = Dataset(DatasetMeta(data=_chat("a", 2)), resolver=resolver)
    d.add_dataset(DatasetMeta(data=_rows("b", 2)))
    info = d.info()  # still describable while the parts differ
    assert info["columns"] == ["messages", "query", "response"] and info["length"] == 4
    with pytest.raises(Conflict, match="different columns"):
        d.mix_dataset("concat")
    assert d[2] == _rows("b", 1)[0]  # rows read from their own part
    d.map("MessagesProcessor", dataset_meta=DatasetMeta(data=_rows("b", 2)))
    with pytest.raises(InvalidInput, match="unknown mix mode 'zip'"):
        d.mix_dataset("zip")
    with pytest.raises(InvalidInput, match="probabilities apply to mode 'interleave' only"):
        d.mix_dataset("concat", probabilities=[1, 1])
    with pytest.raises(InvalidInput, match="2 non-negative numbers"):
        d.mix_dataset("interleave", probabilities=[1])
    d.mix_dataset("concat")
    assert len(d) == 4


def test_encode_without_template_is_a_conflict(resolver):
    d = Dataset(DatasetMeta(data=_chat("a", 2)), resolver=resolver)
    with pytest.raises(Conflict, match="set_template first"):
        d.encode()


def test_encode_with_worker_processes_matches(resolver, tokenizer):
    one = Dataset(DatasetMeta(data=_chat("a", 6)), resolver=resolver)
    two = Dataset(DatasetMeta(data=_chat("a", 6)), resolver=resolver)
    for d in (one, two):
        d.set_template("Template", tokenizer=tokenizer)
    one.encode()
    two.encode(num_proc=2)
    assert [one[i] for i in range(6)] == [two[i] for i in range(6)]


def test_a_failing_operation_leaves_every_part_unchanged(resolver):
    d = Dataset(DatasetMeta(data=_rows("a", 2)), resolver=resolver)
    d.add_dataset(DatasetMeta(data=[{"query": "b", "response": None}]))
    with pytest.raises(InvalidInput, match=r"<1 inline rows>: row 0: column 'response' must hold text"):
        d.map("SelfCognitionProcessor", init_args={"model_name": "n", "model_author": "a"})
    assert d.columns == ["query", "response"] and d[0] == _rows("a", 1)[0]


def test_an_over_long_row_in_a_second_part_names_the_part(resolver, tokenizer):
    from twinkle_server.data.templates import RowTooLong

    d = Dataset(DatasetMeta(data=_chat("a", 2)), resolver=resolver)
    d.add_dataset(DatasetMeta(data=_chat("b" * 200, 1)))
    d.set_template("Template", tokenizer=tokenizer, max_length=40)
    with pytest.raises(RowTooLong, match=r"<1 inline rows>: row 0 encodes to \d+ tokens, over max_length 40"):
        d.encode()
    assert not d.encoded and "input_ids" not in d.columns


def test_mix_past_max_rows_is_refused_and_leaves_the_parts(resolver) -> None:
    rows = [{"query": f"q{i}", "response": "r"} for i in range(6)]
    dataset = Dataset(DatasetMeta(data=rows), resolver=resolver)
    dataset.add_dataset(DatasetMeta(data=rows[:2]), max_rows=8)
    with pytest.raises(InvalidInput, match="mix_dataset would make the dataset 12 rows long"):
        dataset.mix_dataset("interleave", stopping_strategy="all_exhausted", max_rows=8)
    assert len(dataset) == 8
    with pytest.raises(InvalidInput, match="add_dataset would make the dataset 9 rows long"):
        dataset.add_dataset(DatasetMeta(data=rows[:1]), max_rows=8)
    dataset.mix_dataset("concat", max_rows=8)
    assert len(dataset) == 8
