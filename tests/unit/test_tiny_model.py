"""The tiny model builder, the shipped assets and the ``build-tiny-model`` command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from twinkle_server import assets
from twinkle_server.cli import main
from twinkle_server.tiny_model import EOS_TOKEN, build_tiny_model

REPO_ROOT = Path(__file__).resolve().parents[2]


def _files(folder: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(folder.iterdir()) if f.is_file()}


def _load(folder: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoTokenizer.from_pretrained(folder), AutoModelForCausalLM.from_pretrained(folder)


def _read_jsonl(name: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in assets.path(name).read_text(encoding="utf-8").splitlines() if line]


# --- assets -------------------------------------------------------------------------------------


def test_self_cognition_rows_have_placeholders(self_cognition_path: Path) -> None:
    rows = [json.loads(line) for line in self_cognition_path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 100
    for row in rows:
        assert set(row) == {"query", "response"}
        assert row["query"].strip() and row["response"].strip()
        assert "{{NAME}}" in row["response"] or "{{AUTHOR}}" in row["response"], row
    both = [r for r in rows if "{{NAME}}" in r["response"] and "{{AUTHOR}}" in r["response"]]
    assert len(both) >= 80
    chinese = [r for r in rows if any("\u4e00" <= ch <= "\u9fff" for ch in r["query"])]
    assert len(chinese) >= 15
    assert len({r["query"] for r in rows}) == len(rows), "queries should not repeat"


def test_alpaca_sample_rows() -> None:
    rows = _read_jsonl("alpaca_sample.jsonl")
    assert len(rows) >= 30
    for row in rows:
        assert set(row) == {"instruction", "input", "output"}
        assert row["instruction"].strip() and row["output"].strip()


def test_unknown_asset_names_the_known_ones() -> None:
    with pytest.raises(FileNotFoundError, match=r"self_cognition\.jsonl"):
        assets.path("no_such_file.jsonl")
    assert {"self_cognition.jsonl", "alpaca_sample.jsonl"} <= set(assets.available())


# --- the built folder ---------------------------------------------------------------------------


def test_same_seed_gives_identical_files(tiny_model_dir: Path, tmp_path: Path) -> None:
    again = build_tiny_model(tmp_path / "again", seed=0)
    assert _files(again) == _files(tiny_model_dir)


def test_other_seed_changes_only_weights(tiny_model_dir: Path, tmp_path: Path) -> None:
    other = _files(build_tiny_model(tmp_path / "seed1", seed=1))
    base = _files(tiny_model_dir)
    assert other.keys() == base.keys()
    assert other["model.safetensors"] != base["model.safetensors"]
    assert other["tokenizer.json"] == base["tokenizer.json"]


def test_folder_is_small_and_qwen2(tiny_model_dir: Path) -> None:
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["model_type"] == "qwen2"
    assert config["architectures"] == ["Qwen2ForCausalLM"]
    assert config["tie_word_embeddings"] is False
    assert 1000 <= config["vocab_size"] <= 2000
    assert (tiny_model_dir / "model.safetensors").stat().st_size < 2_000_000
    assert not list(tiny_model_dir.glob("*.bin")), "weights must be safetensors only"


def test_loads_offline_and_runs(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    tokenizer, model = _load(tiny_model_dir, monkeypatch)
    assert len(tokenizer) == model.config.vocab_size
    assert tokenizer.eos_token == EOS_TOKEN and tokenizer.pad_token == "<|endoftext|>"
    assert model.config.eos_token_id == tokenizer.eos_token_id
    assert model.dtype == torch.float32
    ids = tokenizer("I am twinkle model, made by ModelScope Team.", return_tensors="pt")["input_ids"]
    logits = model(ids).logits
    assert logits.shape == (1, ids.shape[1], len(tokenizer))
    assert torch.isfinite(logits).all()


def test_loaded_tokenizer_matches_saved_tokenizer_json(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tokenizers import Tokenizer

    tokenizer, _ = _load(tiny_model_dir, monkeypatch)
    raw = Tokenizer.from_file(str(tiny_model_dir / "tokenizer.json"))
    texts = [r["query"] + " " + r["response"] for r in _read_jsonl("self_cognition.jsonl")]
    texts += ["Tabs\tand  spaces\n\nnew lines 12345 café 😀 你好", "<|im_start|>user\nhi<|im_end|>\n"]
    for text in texts:
        assert tokenizer(text)["input_ids"] == raw.encode(text).ids, text
        assert tokenizer.decode(raw.encode(text).ids) == text
    # The sample names are learnt words, not strings of bytes.
    assert len(tokenizer.tokenize(" twinkle model")) <= 3


# --- chat template ------------------------------------------------------------------------------


def _segments(ids: list[int], mask: list[int]) -> list[list[int]]:
    segments, current = [], []
    for token, keep in zip(ids, mask, strict=True):
        if keep:
            current.append(token)
        elif current:
            segments.append(current)
            current = []
    if current:
        segments.append(current)
    return segments


def test_assistant_mask_covers_exactly_assistant_turns(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokenizer, _ = _load(tiny_model_dir, monkeypatch)
    replies = ["I am twinkle model, made by ModelScope Team.", "我是twinkle model。\n", " 2 + 2 = 4"]
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Who are you?"},
        {"role": "assistant", "content": replies[0]},
        {"role": "user", "content": "你是谁？"},  # noqa: RUF001 (Chinese punctuation on purpose)
        {"role": "assistant", "content": replies[1]},
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": replies[2]},
    ]
    out = tokenizer.apply_chat_template(
        messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    ids, mask = list(out["input_ids"]), list(out["assistant_masks"])
    assert len(ids) == len(mask)
    segments = _segments(ids, mask)
    assert [tokenizer.decode(s) for s in segments] == [r + EOS_TOKEN for r in replies]
    for segment, reply in zip(segments, replies, strict=True):
        assert segment == tokenizer(reply)["input_ids"] + [tokenizer.eos_token_id]
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    assert tokenizer(text)["input_ids"] == ids


def test_template_adds_default_system_and_generation_prompt(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokenizer, _ = _load(tiny_model_dir, monkeypatch)
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )
    without = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False)
    assert without.endswith("<|im_start|>user\nHi<|im_end|>\n")


# --- command line -------------------------------------------------------------------------------


def test_cli_builds_the_same_folder_in_a_fresh_process(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli-model"
    cmd = [sys.executable, "-m", "twinkle_server.cli", "build-tiny-model", "--out", str(out), "--seed", "0"]
    result = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert str(out) in result.stdout
    # A fresh process has fresh hash seeds, so this also checks determinism across processes.
    assert _files(out) == _files(tiny_model_dir)


def test_cli_rejects_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build-tiny-model", "--out", str(tmp_path / "m"), "--seed", "-1"]) == 2
    assert "seed must be a non-negative integer" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["build-tiny-model", "--out", str(blocker)]) == 2
    assert "not a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["no-such-command"])
