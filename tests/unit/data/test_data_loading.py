"""Loading: file formats, folders, slices, inline rows, and the resolver's refusals."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from twinkle_server import assets
from twinkle_server.data import Dataset, DatasetMeta
from twinkle_server.errors import InvalidInput, NotFound
from twinkle_server.resolver import Resolver

ROWS = [{"query": f"question {i}", "response": f"answer {i}"} for i in range(10)]


def _write(root: Path, name: str, rows=ROWS) -> Path:
    import pandas as pd

    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if name.endswith(".jsonl"):
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif name.endswith(".json"):
        path.write_text(json.dumps(rows))
    elif name.endswith(".csv"):
        pd.DataFrame(rows).to_csv(path, index=False)
    elif name.endswith(".parquet"):
        pd.DataFrame(rows).to_parquet(path)
    return path


@pytest.mark.parametrize("name", ["train.jsonl", "rows.json", "table.csv", "table.parquet"])
def test_each_file_format_loads_the_same_rows(resolver, data_root, name):
    _write(data_root, name)
    dataset = Dataset(DatasetMeta(name), resolver=resolver)
    assert len(dataset) == len(ROWS)
    assert sorted(dataset.columns) == ["query", "response"]
    assert [dataset[i] for i in range(len(ROWS))] == ROWS


def test_csv_keeps_empty_cells_as_text(resolver, data_root):
    rows = [{"instruction": "Say hi", "input": "", "output": "hi"}]
    _write(data_root, "alpaca.csv", rows)
    dataset = Dataset(DatasetMeta("alpaca.csv"), resolver=resolver)
    assert dataset[0] == rows[0]


def test_absolute_path_inside_a_root_and_a_folder_of_files(resolver, data_root):
    _write(data_root, "folder/part-a.jsonl", ROWS[:4])
    _write(data_root, "folder/part-b.jsonl", ROWS[4:])
    assert len(Dataset(DatasetMeta(str(data_root / "folder")), resolver=resolver)) == len(ROWS)
    assert len(Dataset(DatasetMeta(str(data_root / "folder" / "part-a.jsonl")), resolver=resolver)) == 4


def test_folder_with_split_files(resolver, data_root):
    _write(data_root, "splits/train.jsonl", ROWS[:7])
    _write(data_root, "splits/test.jsonl", ROWS[7:])
    assert len(Dataset(DatasetMeta("splits"), resolver=resolver)) == 7
    assert len(Dataset(DatasetMeta("splits", split="test"), resolver=resolver)) == 3
    with pytest.raises(InvalidInput, match="validation"):
        Dataset(DatasetMeta("splits", split="validation"), resolver=resolver)


@pytest.mark.parametrize(
    ("data_slice", "expected"),
    [
        (range(2, 5), [2, 3, 4]),
        (range(0, 10, 4), [0, 4, 8]),
        ([7, 1, 1], [7, 1, 1]),
        (slice(-2, None), [8, 9]),
        ({"start": 1, "stop": 3}, [1, 2]),
        (range(8, 12), [8, 9, 0, 1]),  # past the end wraps around, as in twinkle
    ],
)
def test_data_slice_forms(resolver, data_root, data_slice, expected):
    _write(data_root, "rows.jsonl")
    dataset = Dataset(DatasetMeta("rows.jsonl", data_slice=data_slice), resolver=resolver)
    assert [dataset[i]["query"] for i in range(len(dataset))] == [f"question {i}" for i in expected]


def test_bad_data_slices_are_refused(resolver, data_root):
    _write(data_root, "rows.jsonl")
    with pytest.raises(InvalidInput, match="selects no rows"):
        Dataset(DatasetMeta("rows.jsonl", data_slice=range(0)), resolver=resolver)
    with pytest.raises(ValueError, match="integer"):
        DatasetMeta("rows.jsonl", data_slice=["a"])
    with pytest.raises(InvalidInput, match=">= 0"):
        DatasetMeta("rows.jsonl", data_slice=[-1])


def test_inline_rows(resolver):
    dataset = Dataset(DatasetMeta(data=ROWS[:3]), resolver=resolver)
    assert [dataset[i] for i in range(3)] == ROWS[:3]
    assert dataset[-1] == ROWS[2]
    with pytest.raises(IndexError, match="out of range: the dataset has 3 rows"):
        dataset[3]


def test_meta_from_a_json_body():
    meta = DatasetMeta(
        **{"dataset_id": "rows.jsonl", "subset_name": None, "split": None, "data_slice": {"stop": 3}}
    )
    assert (meta.split, meta.data_slice, meta.subset) == ("train", range(3), None)
    assert DatasetMeta("x.jsonl", subset_name="default").subset is None
    assert meta.to_dict()["data_slice"] == {"start": 0, "stop": 3, "step": 1}


def test_meta_needs_exactly_one_source():
    with pytest.raises(ValueError, match="dataset_id or inline data"):
        DatasetMeta()
    with pytest.raises(InvalidInput, match="not both"):
        DatasetMeta("x.jsonl", data=ROWS)


def test_alias_and_hub_cache(tmp_path, data_root):
    cache = tmp_path / "hub"
    _write(cache / "ms" / "org" / "cached", "data.jsonl", ROWS[:2])
    _write(cache / "hf" / "org" / "hfdata", "train.jsonl", ROWS[:5])
    resolver = Resolver(
        aliases={"swift/self-cognition": assets.path("self_cognition.jsonl")},
        cache_dir=cache,
        data_roots=[data_root],
        allow_download=False,
    )
    # an alias written without prefix serves both hubs' spelling
    assert (
        resolver.resolve_dataset("hf://swift/self-cognition") == assets.path("self_cognition.jsonl").resolve()
    )
    assert len(Dataset(DatasetMeta("ms://org/cached"), resolver=resolver)) == 2
    assert len(Dataset(DatasetMeta("hf://org/hfdata"), resolver=resolver)) == 5
    assert len(Dataset(DatasetMeta("org/cached"), resolver=resolver)) == 2  # bare org/name: hub cache


def test_hub_id_not_available_offline_says_where_to_put_it(resolver, tmp_path):
    with pytest.raises(NotFound) as err:
        Dataset(DatasetMeta("ms://someone/missing-set"), resolver=resolver)
    message = str(err.value)
    assert "ms://someone/missing-set" in message and "not available offline" in message
    assert str(tmp_path / "hub_cache" / "ms" / "someone" / "missing-set") in message


def test_hub_id_without_the_hub_client_installed(tmp_path):
    try:
        import modelscope  # noqa: F401

        pytest.skip("modelscope is installed here; the missing-client message cannot be shown")
    except ImportError:
        pass
    resolver = Resolver(cache_dir=tmp_path / "hub", allow_download=True)
    with pytest.raises(NotFound, match=r"'modelscope' package is not installed.*place its files in"):
        resolver.resolve_model("ms://Qwen/Qwen2.5-7B-Instruct")


def test_model_resolution(resolver, tiny_model_dir):
    assert resolver.resolve_model("ms://Qwen/Qwen2.5-7B-Instruct") == tiny_model_dir.resolve()
    with pytest.raises(NotFound, match="not available offline"):
        resolver.resolve_model("Qwen/Qwen3-8B")
    with pytest.raises(InvalidInput, match="unknown hub prefix 's3://'"):
        resolver.resolve_model("s3://bucket/model")
    with pytest.raises(InvalidInput, match="form ms://org/name"):
        resolver.resolve_model("ms://just-a-name")


def test_paths_outside_the_data_roots_are_refused(resolver, data_root, tmp_path):
    outside = _write(tmp_path / "elsewhere", "secret.jsonl")
    with pytest.raises(InvalidInput, match="outside the data roots"):
        Dataset(DatasetMeta(str(outside)), resolver=resolver)
    with pytest.raises(InvalidInput, match=re.escape("contains '..'")):
        Dataset(DatasetMeta("../elsewhere/secret.jsonl"), resolver=resolver)
    with pytest.raises(InvalidInput, match=re.escape("contains '..'")):
        Dataset(DatasetMeta(str(data_root / ".." / "elsewhere" / "secret.jsonl")), resolver=resolver)
    with pytest.raises(InvalidInput, match="outside the data roots"):
        Dataset(DatasetMeta("/etc/passwd"), resolver=resolver)
    with pytest.raises(NotFound, match=re.escape("no file or folder 'nothing.jsonl' under the data roots")):
        Dataset(DatasetMeta("nothing.jsonl"), resolver=resolver)


def test_symlinks_leading_out_are_refused(resolver, data_root, tmp_path):
    outside = _write(tmp_path / "elsewhere", "secret.jsonl")
    os.symlink(outside, data_root / "link.jsonl")
    with pytest.raises(InvalidInput, match=r"resolves to .*secret.jsonl, outside the data roots"):
        Dataset(DatasetMeta("link.jsonl"), resolver=resolver)
    folder = data_root / "folder"
    _write(folder, "ok.jsonl")
    os.symlink(outside.parent, folder / "escape")
    with pytest.raises(InvalidInput, match="a link that leads outside the data roots"):
        Dataset(DatasetMeta("folder"), resolver=resolver)
    # a link that stays inside the roots is fine
    inside = _write(data_root, "real.jsonl")
    os.symlink(inside, data_root / "alias.jsonl")
    assert len(Dataset(DatasetMeta("alias.jsonl"), resolver=resolver)) == len(ROWS)


def test_no_data_roots_means_no_local_paths(tmp_path):
    resolver = Resolver(allow_download=False)
    _write(tmp_path, "rows.jsonl")
    with pytest.raises(InvalidInput, match="no data roots configured"):
        resolver.local_path(tmp_path / "rows.jsonl")


def test_unsupported_and_unreadable_files(resolver, data_root):
    (data_root / "notes.txt").write_text("hello")
    with pytest.raises(InvalidInput, match=re.escape("unsupported file type '.txt'")):
        Dataset(DatasetMeta("notes.txt"), resolver=resolver)
    (data_root / "broken.jsonl").write_text('{"a": 1}\n{not json\n')
    with pytest.raises(InvalidInput, match=re.escape("could not read broken.jsonl")):
        Dataset(DatasetMeta("broken.jsonl"), resolver=resolver)
    with pytest.raises(InvalidInput, match="only the 'train' split"):
        Dataset(DatasetMeta("broken.jsonl", split="test"), resolver=resolver)


def test_real_download_path_failing_offline_is_not_found(tmp_path):
    """huggingface_hub is installed: the resolver really calls it (offline mode makes it fail fast)."""
    import subprocess
    import sys

    pytest.importorskip("huggingface_hub")
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from twinkle_server.resolver import Resolver\n"
        "from twinkle_server.errors import NotFound\n"
        "cache = Path(sys.argv[1])\n"
        "try:\n"
        "    Resolver(cache_dir=cache, allow_download=True).resolve_dataset('hf://someone/some-set')\n"
        "except NotFound as exc:\n"
        "    print(exc.message)\n"
        "    print(sorted(p.name for p in (cache / 'hf' / 'someone').iterdir()))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf_home")}
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "hub")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    message, leftovers = out.stdout.strip().splitlines()
    assert "could not be downloaded with huggingface_hub" in message
    assert str(tmp_path / "hub" / "hf" / "someone" / "some-set") in message
    assert leftovers == "[]"  # the half-made download folder is removed


def test_hub_snapshot_folder_with_subsets(tmp_path, data_root):
    """A downloaded hub dataset declares its subsets in README.md; subset_name picks one."""
    folder = tmp_path / "hub" / "ms" / "org" / "multi"
    _write(folder, "en/train.jsonl", ROWS[:3])
    _write(folder, "zh/train.jsonl", ROWS[3:8])
    (folder / "README.md").write_text(
        "---\nconfigs:\n"
        "- config_name: en\n  data_files:\n  - split: train\n    path: en/train.jsonl\n"
        "- config_name: zh\n  data_files:\n  - split: train\n    path: zh/train.jsonl\n"
        "---\n# multi\n"
    )
    resolver = Resolver(cache_dir=tmp_path / "hub", data_roots=[data_root], allow_download=False)
    assert len(Dataset(DatasetMeta("ms://org/multi", subset_name="zh"), resolver=resolver)) == 5
    assert len(Dataset(DatasetMeta("ms://org/multi", subset_name="en"), resolver=resolver)) == 3
    with pytest.raises(InvalidInput, match="'fr' not found"):
        Dataset(DatasetMeta("ms://org/multi", subset_name="fr"), resolver=resolver)


def test_alias_chains_and_loops(tmp_path, tiny_model_dir):
    resolver = Resolver(
        aliases={
            "ms://Qwen/Qwen2.5-7B-Instruct": "tiny",
            "tiny": tiny_model_dir,
            "ms://a/loop": "ms://b/loop",
            "ms://b/loop": "ms://a/loop",
        },
        allow_download=False,
    )
    assert resolver.resolve_model("ms://Qwen/Qwen2.5-7B-Instruct") == tiny_model_dir.resolve()
    with pytest.raises(InvalidInput, match=r"alias chain .* too long"):
        resolver.resolve_model("ms://a/loop")
    missing = Resolver(aliases={"ms://x/y": tmp_path / "nowhere"})
    with pytest.raises(NotFound, match=r"is an alias for .*nowhere, which does not exist"):
        missing.resolve_dataset("ms://x/y")
    # a dotted repo name is still a hub id; a bare path ending like a data file is a local path
    assert Resolver(allow_download=False)._looks_like_repo("org/data.v2", "dataset")
    assert not Resolver(allow_download=False)._looks_like_repo("org/train.jsonl", "dataset")
