"""Build the project's own tiny Qwen2 model, so tests and the demo never need a model hub.

The model is random-initialised (it knows nothing) but has the real architecture, a real byte-level
BPE tokenizer trained on the shipped sample data, and a ChatML chat template whose assistant turns
are wrapped in ``{% generation %}`` so ``return_assistant_tokens_mask`` marks exactly the tokens a
fine-tune should learn. Everything is derived from the seed and the shipped assets, so two builds
with the same seed write byte-identical files.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from twinkle_server import assets

__all__ = [
    "CHAT_TEMPLATE",
    "DEFAULT_SYSTEM",
    "EOS_TOKEN",
    "PAD_TOKEN",
    "SAMPLE_NAMES",
    "SPECIAL_TOKENS",
    "build_tiny_model",
]

PAD_TOKEN = "<|endoftext|>"
IM_START = "<|im_start|>"
EOS_TOKEN = "<|im_end|>"
SPECIAL_TOKENS = (PAD_TOKEN, IM_START, EOS_TOKEN)
DEFAULT_SYSTEM = "You are a helpful assistant."

# Names substituted for {{NAME}} / {{AUTHOR}} in the tokenizer corpus, so the names the examples
# and tests use become short token sequences, as they would in a real vocabulary.
SAMPLE_NAMES = (("twinkle model", "ModelScope Team"), ("Twinkle", "Twinkle Team"))

VOCAB_SIZE = 1536
MAX_POSITIONS = 2048
# The split regex of the Qwen2 tokenizer (words, single digits, punctuation runs, newlines, spaces).
PRETOKENIZE_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
    r"|\s+(?!\S)|\s+"
)

# ChatML, as the Qwen2 instruct models use it; the assistant content and its closing <|im_end|> sit
# inside the generation block, the newline after it does not (the model never has to predict it).
CHAT_TEMPLATE = (
    "{%- if not messages or messages[0]['role'] != 'system' -%}"
    "{{- '<|im_start|>system\\n" + DEFAULT_SYSTEM + "<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- generation -%}{{- message['content'] + '<|im_end|>' -}}{%- endgeneration -%}"
    "{{- '\\n' -}}"
    "{%- else -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)


def _read_jsonl(name: str) -> list[dict[str, str]]:
    with assets.path(name).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _chatml(user: str, assistant: str) -> str:
    return (
        f"{IM_START}system\n{DEFAULT_SYSTEM}{EOS_TOKEN}\n"
        f"{IM_START}user\n{user}{EOS_TOKEN}\n{IM_START}assistant\n{assistant}{EOS_TOKEN}\n"
    )


def _corpus() -> Iterator[str]:
    """Tokenizer training text: the shipped assets, raw and with the sample names filled in."""
    for row in _read_jsonl("self_cognition.jsonl"):
        yield _chatml(row["query"], row["response"])
        for name, author in SAMPLE_NAMES:
            fill = {"{{NAME}}": name, "{{AUTHOR}}": author}
            query, response = row["query"], row["response"]
            for key, value in fill.items():
                query, response = query.replace(key, value), response.replace(key, value)
            yield _chatml(query, response)
    for row in _read_jsonl("alpaca_sample.jsonl"):
        prompt = row["instruction"] + (f"\n{row['input']}" if row["input"] else "")
        yield _chatml(prompt, row["output"])


def _train_tokenizer():
    """Train a byte-level BPE with the Qwen2 normalizer and pre-tokenizer.

    transformers loads any ``qwen2`` model folder's tokenizer as ``Qwen2Tokenizer``, which rebuilds
    the pipeline around the saved vocabulary and merges with NFC and Qwen's split regex; training with
    the same pipeline keeps the saved ``tokenizer.json`` and the loaded tokenizer in agreement.
    The trainer breaks count ties by pair, so the merges do not depend on thread count or hash seed
    (the unit tests rebuild in a fresh process and compare bytes).
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tokenizer = Tokenizer(
        models.BPE(continuing_subword_prefix="", end_of_word_suffix="", byte_fallback=False)
    )
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(_corpus()), trainer=trainer)
    return tokenizer


def _wrap_tokenizer(tokenizer):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        model_max_length=MAX_POSITIONS,
        padding_side="right",
        chat_template=CHAT_TEMPLATE,
    )


TINY_SHAPE: Mapping[str, int] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
}
"""The tiny model's sizes (attention heads of 16)."""


def _build_model(tokenizer, seed: int, shape: Mapping[str, int]):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=len(tokenizer),
        **{**TINY_SHAPE, **shape},
        max_position_embeddings=MAX_POSITIONS,
        tie_word_embeddings=False,
        bos_token_id=None,
        eos_token_id=tokenizer.convert_tokens_to_ids(EOS_TOKEN),
        pad_token_id=tokenizer.convert_tokens_to_ids(PAD_TOKEN),
        dtype="float32",
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    return model.to(torch.float32).eval()


def build_tiny_model(out_dir: Path, *, seed: int = 0, shape: Mapping[str, int] | None = None) -> Path:
    """Write the tiny model folder (config, safetensors weights, tokenizer) into ``out_dir``.

    Returns ``out_dir``. Existing files of the same names are overwritten; the same seed always
    gives the same bytes, so a cached folder can be checked against a fresh build. ``shape``
    overrides some of ``TINY_SHAPE`` (the vLLM check needs attention heads of 64).
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"{out_dir} exists and is not a folder; choose another --out path")
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = _wrap_tokenizer(_train_tokenizer())
    model = _build_model(tokenizer, seed, shape or {})
    with _quiet_progress():
        model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir


@contextmanager
def _quiet_progress() -> Iterator[None]:
    """Hide transformers' shard-writing progress bar for a one-file model; restore the setting."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
