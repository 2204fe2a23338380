"""DataLoader: indexed batches, shuffling, drop_last, epochs, and exact resume."""

from __future__ import annotations

import pytest

from twinkle_server.data import DataLoader, Dataset, DatasetMeta
from twinkle_server.data.templates import MODEL_KEYS
from twinkle_server.errors import Conflict, InvalidInput


def _rows(n: int) -> list[dict]:
    """Encoded-looking rows whose first token id is the row number (enough to track order)."""
    return [
        {
            "input_ids": [i, 1],
            "labels": [1, -100],
            "attention_mask": [1, 1],
            "position_ids": [0, 1],
            "length": 2,
        }
        for i in range(n)
    ]


def _ids(batches) -> list[list[int]]:
    return [[row["input_ids"][0] for row in batch] for batch in batches]


def test_plain_order_sizes_and_len():
    loader = DataLoader(_rows(10), batch_size=4)
    assert len(loader) == 3
    assert _ids(loader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    dropping = DataLoader(_rows(10), batch_size=4, drop_last=True, epochs=2)
    assert len(dropping) == 4
    assert _ids(dropping) == [[0, 1, 2, 3], [4, 5, 6, 7], [0, 1, 2, 3], [4, 5, 6, 7]]


def test_shuffle_is_seeded_per_epoch_and_covers_every_row():
    loader = DataLoader(_rows(20), batch_size=5, shuffle=True, seed=7, epochs=2)
    batches = _ids(loader)
    epoch0 = [i for batch in batches[:4] for i in batch]
    epoch1 = [i for batch in batches[4:] for i in batch]
    assert sorted(epoch0) == sorted(epoch1) == list(range(20))
    assert epoch0 != list(range(20)) and epoch0 != epoch1
    assert _ids(DataLoader(_rows(20), batch_size=5, shuffle=True, seed=7, epochs=2)) == batches
    assert _ids(DataLoader(_rows(20), batch_size=5, shuffle=True, seed=8, epochs=2)) != batches


def test_batch_by_index_is_pure():
    loader = DataLoader(_rows(20), batch_size=3, shuffle=True, seed=1, epochs=3)
    first = [loader.batch(i) for i in range(len(loader))]
    assert [loader.batch(i) for i in reversed(range(len(loader)))] == first[::-1]
    assert list(loader) == first
    with pytest.raises(InvalidInput, match=r"batch index 21 is out of range: this loader has 21 batches"):
        loader.batch(21)


def test_resume_yields_exactly_the_unconsumed_batches():
    settings = {"batch_size": 4, "shuffle": True, "seed": 3, "epochs": 2}
    reference = list(DataLoader(_rows(18), **settings))
    loader = DataLoader(_rows(18), **settings)
    consumed = []
    for batch in loader:
        consumed.append(batch)
        if len(consumed) == 7:  # stop mid second epoch (5 batches per epoch)
            break
    state = loader.state_dict()
    assert state["consumed_batches"] == 7
    assert state["consumed_samples"] == 18 + 2 * 4
    assert state["epoch"] == 1
    resumed = DataLoader(_rows(18), **settings)
    resumed.load_state_dict(state)
    rest = list(resumed)
    assert consumed + rest == reference
    assert rest == reference[7:]
    # consumed_samples alone (twinkle's field) resumes at the same place
    by_samples = DataLoader(_rows(18), **settings)
    by_samples.load_state_dict({"consumed_samples": state["consumed_samples"]})
    assert list(by_samples) == reference[7:]


def test_state_from_other_settings_is_refused():
    state = DataLoader(_rows(10), batch_size=4).state_dict()
    with pytest.raises(Conflict, match=r"batch_size: saved 4, now 5"):
        DataLoader(_rows(10), batch_size=5).load_state_dict(state)
    with pytest.raises(Conflict, match=r"num_rows: saved 10, now 9"):
        DataLoader(_rows(9), batch_size=4).load_state_dict(state)
    with pytest.raises(InvalidInput, match="batch boundary"):
        DataLoader(_rows(10), batch_size=4).load_state_dict({"consumed_samples": 3})


def test_settings_and_unencoded_data_are_refused(resolver):
    with pytest.raises(InvalidInput, match="batch_size must be a positive integer"):
        DataLoader(_rows(4), batch_size=0)
    with pytest.raises(InvalidInput, match="no full batch"):
        DataLoader(_rows(3), batch_size=4, drop_last=True)
    raw = Dataset(DatasetMeta(data=[{"query": "q", "response": "r"}]), resolver=resolver)
    with pytest.raises(InvalidInput, match=r"not encoded .*call encode\(\)"):
        DataLoader(raw, batch_size=1)


def test_loader_over_a_dataset_keeps_only_model_keys_and_its_snapshot(resolver, tokenizer):
    chats = [
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
        for i in range(5)
    ]
    dataset = Dataset(DatasetMeta(data=chats), resolver=resolver)
    dataset.set_template("Template", tokenizer=tokenizer)
    dataset.encode()
    loader = DataLoader(dataset, batch_size=2)
    before = loader.batch(2)
    assert all(set(row) == set(MODEL_KEYS) for row in before)
    assert before[0]["input_ids"] == dataset[4]["input_ids"]
    dataset.filter("MaxLengthFilter", init_args={"max_length": 1})  # empties the dataset
    assert len(dataset) == 0 and loader.batch(2) == before
