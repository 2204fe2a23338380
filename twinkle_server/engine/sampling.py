"""Sampling from runs' current adapters, checkpoints or the base model, decoded together in one batch.

A request asks for ``num_samples`` continuations of each of its prompts. Every continuation is a row
of one decode batch: prompts are left-padded, prefilled once with a key/value cache, then extended a
token per step. The batched LoRA layer routes each row through its own adapter (the rows of a
request are contiguous, like a pass's segments), so requests of different runs share every forward
of the decode, and a request of run B can never be answered with run A's weights. A request's
adapter is its run's, a frozen checkpoint entry, or none (base-model rows; ``sources.py``).

Sampling per request: its own ``torch.Generator`` seeded by ``seed`` (same seed, same tokens),
``temperature`` (0: the argmax), ``top_k`` and ``top_p`` truncation, stop token ids and stop
strings, ``max_tokens``; optionally each prompt token's log-probability (``prompt_logprobs``,
None for the first token, which has no context) and a callback per decoded step (``on_token``, for
streaming). The log-probability reported for a sampled token is under the model's own
distribution (temperature 1, no truncation): what importance-sampling and PPO losses compare against.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from twinkle_server.engine.batched_lora import PassPlan, Segment
from twinkle_server.engine.checks import boolean, check_kwargs
from twinkle_server.engine.passes import PassModel
from twinkle_server.engine.run import RunState
from twinkle_server.errors import InvalidInput

__all__ = [
    "SAMPLE_KWARGS",
    "SOURCE_KWARGS",
    "SampleRequest",
    "check_sample_request",
    "draw_seed",
    "request_seed",
    "sample",
]

SAMPLE_KWARGS = (
    "prompts",
    "num_samples",
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "stop",
    "stop_token_ids",
    "seed",
    "logprobs",
    "prompt_logprobs",
)
SOURCE_KWARGS = ("adapter_path", "base", "template_name", "on_token")
"""Engine-side arguments beside the sampling ones: which weights (a checkpoint folder, or the base
model), the template for chat prompts, and a per-step callback ``on_token(rows)`` getting each
row's ``(token, logprob)`` of the step (None for a row that has stopped)."""
MAX_SAMPLES = 64
MAX_NEW_TOKENS = 4096


@dataclass
class SampleRequest:
    """One sample op, checked: its weights (``adapter``, a segment name), prompts as ids, how to draw.

    ``run`` is the run whose current adapter samples (None for a checkpoint or the base model);
    ``generator`` draws the seed when none is given.
    """

    op = "sample"
    run: RunState | None
    adapter: str
    generator: torch.Generator
    prompts: list[list[int]]
    num_samples: int = 1
    max_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    stop: list[str] = field(default_factory=list)
    stop_token_ids: list[int] = field(default_factory=list)
    seed: int | None = None
    logprobs: bool = False
    prompt_logprobs: bool = False
    on_token: Callable[[list[tuple[int, float] | None]], None] | None = None
    result: dict[str, Any] | None = field(default=None, init=False)

    @property
    def routable(self) -> bool:
        """Checkpoints and the base model always go through the routed layer; a run when it can."""
        return self.run is None or self.run.routable

    @property
    def rows(self) -> int:
        return len(self.prompts) * self.num_samples

    @property
    def pass_rows(self) -> int:
        """Rows of the decode batch (what the pass planner counts)."""
        return self.rows

    @property
    def width(self) -> int:
        return max(len(p) for p in self.prompts) + self.max_tokens


def check_sample_request(
    run: RunState | None,
    kwargs: dict[str, Any],
    *,
    adapter: str,
    generator: torch.Generator,
    vocab_size: int,
    max_length: int,
    encode: Any,
) -> SampleRequest:
    """Validate a sample op's arguments (InvalidInput naming the field) and build its request.

    ``encode`` turns a list of chat messages into prompt token ids (the run's template, with the
    generation prompt); prompts may also be given as token ids. ``kwargs`` holds the sampling
    arguments only (the source arguments are taken out before).
    """
    check_kwargs("sample", kwargs, SAMPLE_KWARGS)
    prompts = kwargs.get("prompts")
    if not isinstance(prompts, list) or not prompts:
        raise InvalidInput("sample needs prompts: a non-empty list of {input_ids} or {messages} objects")
    ids = [_prompt_ids(i, p, vocab_size, encode) for i, p in enumerate(prompts)]
    request = SampleRequest(
        run=run,
        adapter=adapter,
        generator=generator,
        prompts=ids,
        num_samples=_int("num_samples", kwargs.get("num_samples", 1), 1, MAX_SAMPLES),
        max_tokens=_int("max_tokens", kwargs.get("max_tokens", 64), 1, MAX_NEW_TOKENS),
        temperature=_float("temperature", kwargs.get("temperature", 1.0), 0.0, 100.0),
        top_p=_float("top_p", kwargs.get("top_p", 1.0), 0.0, 1.0, low_open=True),
        top_k=_int("top_k", kwargs.get("top_k", 0), 0, vocab_size),
        stop=_strings("stop", kwargs.get("stop") or []),
        stop_token_ids=[
            _token("stop_token_ids", t, vocab_size)
            for t in _list("stop_token_ids", kwargs.get("stop_token_ids") or [])
        ],
        seed=None if kwargs.get("seed") is None else _int("seed", kwargs["seed"], 0, 2**63 - 1),
        logprobs=boolean("logprobs", kwargs.get("logprobs", False)),
        prompt_logprobs=boolean("prompt_logprobs", kwargs.get("prompt_logprobs", False)),
    )
    longest = max(len(p) for p in ids)
    if longest + request.max_tokens > max_length:
        raise InvalidInput(
            f"a prompt of {longest} tokens plus max_tokens={request.max_tokens} is over this model's "
            f"max_length={max_length}; shorten the prompt or ask for fewer tokens",
            details={"max_length": max_length},
        )
    return request


@torch.no_grad()
def sample(
    engine: PassModel,
    requests: Sequence[SampleRequest],
    *,
    eos_token_ids: Sequence[int],
    tokenizer: Any,
    peft_forward: Any = None,
) -> None:
    """Decode every request's rows in one batch; each request gets its ``result``.

    Result: ``sequences``, one per prompt and sample (prompt-major), each with ``tokens``,
    ``logprobs`` (when asked) and ``stop_reason`` ("stop" or "length"); ``prompt_logprobs`` per
    prompt when asked. ``peft_forward``: a
    context factory for a run the router cannot serve (its request decodes alone, through peft).
    """
    rows = [(r, p) for r in requests for p in r.prompts for _ in range(r.num_samples)]
    width = max(len(p) for _, p in rows)
    device = next(engine.model.parameters()).device
    input_ids = torch.full((len(rows), width), engine.pad_id, dtype=torch.long, device=device)
    attention = torch.zeros((len(rows), width), dtype=torch.long, device=device)
    for i, (_, prompt) in enumerate(rows):
        input_ids[i, width - len(prompt) :] = torch.tensor(prompt, device=device)
        attention[i, width - len(prompt) :] = 1
    generators = [_generator(r, device) for r in requests]
    plan = _plan(requests)
    engine.set_training(False)
    decoder = _Decoder(engine, plan, input_ids, attention, peft_forward)
    state = _DecodeState(rows, eos_token_ids, tokenizer)
    steps = max(r.max_tokens for r in requests)
    logits, prompt_scores = decoder.prefill(any(r.prompt_logprobs for r in requests))
    for _ in range(steps):
        tokens, logprobs = _draw(logits, requests, generators)
        _notify(requests, state.add(tokens, logprobs))
        if state.all_done:
            break
        logits = decoder.step(tokens)
    for request, result in zip(requests, state.results(requests), strict=True):
        request.result = result
    if prompt_scores is not None:
        _add_prompt_logprobs(requests, rows, prompt_scores)


def _notify(requests: Sequence[SampleRequest], accepted: list[tuple[int, float] | None]) -> None:
    """Hand each streaming request its rows' (token, logprob) of this step (None: row stopped)."""
    start = 0
    for request in requests:
        if request.on_token is not None:
            request.on_token(accepted[start : start + request.rows])
        start += request.rows


def _add_prompt_logprobs(
    requests: Sequence[SampleRequest], rows: list[tuple[SampleRequest, list[int]]], scores: torch.Tensor
) -> None:
    """Per prompt, each token's log-probability given the tokens before it (None for the first)."""
    width, row = scores.shape[1] + 1, 0
    for request in requests:
        found = []
        for prompt in request.prompts:
            if request.prompt_logprobs:
                n = len(prompt)
                found.append([None, *scores[row, width - n : width - 1].tolist()])
            row += request.num_samples
        if request.prompt_logprobs:
            request.result["prompt_logprobs"] = found


class _Decoder:
    """The model with its cache: prefill the left-padded prompts, then one token per step."""

    def __init__(
        self,
        engine: PassModel,
        plan: PassPlan,
        input_ids: torch.Tensor,
        attention: torch.Tensor,
        peft_forward: Any,
    ):
        self.engine, self.plan, self.peft_forward = engine, plan, peft_forward
        self.input_ids, self.attention = input_ids, attention
        self.cache: Any = None

    def prefill(self, score_prompts: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The next-token logits of every row and, when asked, each prompt token's logprob
        ([rows, width - 1]: position i scores token i + 1)."""
        positions = (self.attention.cumsum(-1) - 1).clamp(min=0)
        logits = self._forward(self.input_ids, positions)
        if not score_prompts:
            return logits[:, -1, :].float(), None
        logprobs = torch.log_softmax(logits[:, :-1, :].float(), dim=-1)
        scores = logprobs.gather(-1, self.input_ids[:, 1:, None]).squeeze(-1)
        return logits[:, -1, :].float(), scores

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        self.attention = torch.cat([self.attention, torch.ones_like(tokens[:, None])], dim=1)
        positions = self.attention.sum(-1, keepdim=True) - 1
        return self._forward(tokens[:, None], positions)[:, -1, :].float()

    def _forward(self, ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        routing = (
            self.peft_forward() if self.peft_forward is not None else self.engine.router.route(self.plan)
        )
        with routing:
            out = self.engine.model(
                input_ids=ids,
                attention_mask=self.attention,
                position_ids=positions,
                past_key_values=self.cache,
                use_cache=True,
            )
        self.cache = out.past_key_values
        return out.logits


class _DecodeState:
    """Per row: tokens so far, their logprobs, and whether (and why) the row has stopped."""

    def __init__(
        self, rows: list[tuple[SampleRequest, list[int]]], eos_token_ids: Sequence[int], tokenizer: Any
    ):
        self.rows = rows
        self.eos = set(eos_token_ids)
        self.tokenizer = tokenizer
        self.tokens: list[list[int]] = [[] for _ in rows]
        self.logprobs: list[list[float]] = [[] for _ in rows]
        self.reason: list[str | None] = [None] * len(rows)

    @property
    def all_done(self) -> bool:
        return all(reason is not None for reason in self.reason)

    def add(self, tokens: torch.Tensor, logprobs: torch.Tensor) -> list[tuple[int, float] | None]:
        """Append each running row's token; returns (token, logprob) kept (None for stopped rows)."""
        kept: list[tuple[int, float] | None] = [None] * len(self.rows)
        for i, (token, logprob) in enumerate(zip(tokens.tolist(), logprobs.tolist(), strict=True)):
            request = self.rows[i][0]
            if self.reason[i] is not None:
                continue
            kept[i] = (token, logprob)
            self.tokens[i].append(token)
            self.logprobs[i].append(logprob)
            if token in self.eos or token in request.stop_token_ids or self._hit_stop_string(i, request):
                self.reason[i] = "stop"
            elif len(self.tokens[i]) >= request.max_tokens:
                self.reason[i] = "length"
        return kept

    def _hit_stop_string(self, i: int, request: SampleRequest) -> bool:
        if not request.stop or self.tokenizer is None:
            return False
        text = self.tokenizer.decode(self.tokens[i])
        return any(stop in text for stop in request.stop)

    def results(self, requests: Sequence[SampleRequest]) -> list[dict]:
        out, row = [], 0
        for request in requests:
            sequences = []
            for _ in range(request.rows):
                sequence = {"tokens": self.tokens[row], "stop_reason": self.reason[row] or "length"}
                if request.logprobs:
                    sequence["logprobs"] = self.logprobs[row]
                sequences.append(sequence)
                row += 1
            out.append({"sequences": sequences})
        return out


def _draw(logits: torch.Tensor, requests: Sequence[SampleRequest], generators: list[torch.Generator | None]):
    """One token per row, each request's rows drawn with its own settings and generator."""
    model_logprobs = torch.log_softmax(logits, dim=-1)
    tokens = torch.empty(logits.shape[0], dtype=torch.long, device=logits.device)
    start = 0
    for request, generator in zip(requests, generators, strict=True):
        stop = start + request.rows
        tokens[start:stop] = _pick(logits[start:stop], request, generator)
        start = stop
    return tokens, model_logprobs.gather(-1, tokens[:, None]).squeeze(-1)


def _pick(logits: torch.Tensor, request: SampleRequest, generator: torch.Generator | None) -> torch.Tensor:
    if request.temperature == 0:
        return logits.argmax(dim=-1)
    scaled = logits / request.temperature
    if request.top_k:
        kth = torch.topk(scaled, request.top_k, dim=-1).values[:, -1:]
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    probs = torch.softmax(scaled, dim=-1)
    if request.top_p < 1.0:
        ordered, index = torch.sort(probs, dim=-1, descending=True)
        outside = ordered.cumsum(-1) - ordered > request.top_p  # keep the smallest set reaching top_p
        ordered = ordered.masked_fill(outside, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, index, ordered)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def _plan(requests: Sequence[SampleRequest]) -> PassPlan:
    segments, start = [], 0
    for request in requests:
        segments.append(Segment(request.adapter, start, start + request.rows, 0, request.generator))
        start += request.rows
    return PassPlan(tuple(segments))


def request_seed(request: SampleRequest) -> int:
    """The request's seed, else one drawn from its source's generator: a run's samples without a
    seed still follow from the run's own seed, whichever backend decodes them."""
    return request.seed if request.seed is not None else draw_seed(request.generator)


def _generator(request: SampleRequest, device: torch.device) -> torch.Generator:
    """The request's own random stream (``request_seed``)."""
    return torch.Generator(device=device).manual_seed(request_seed(request))


def draw_seed(source: torch.Generator) -> int:
    """A seedless request's seed, drawn from its source's generator (which it advances)."""
    return int(torch.randint(0, 2**62, (1,), generator=source, device=source.device))


# -- argument checks ---------------------------------------------------------------------------------


def _prompt_ids(index: int, prompt: Any, vocab_size: int, encode: Any) -> list[int]:
    """A prompt is ``{"input_ids": [...]}`` or ``{"messages": [...]}``, exactly one of the two."""
    keys = set(prompt) if isinstance(prompt, dict) else set()
    if keys == {"messages"}:
        ids = list(encode(prompt["messages"]))
    elif keys == {"input_ids"} and _token_list(prompt["input_ids"]):
        ids = list(prompt["input_ids"])
    else:
        raise InvalidInput(
            f"prompts[{index}] must be an object with either input_ids (a non-empty list of token ids) "
            "or messages (a chat conversation)"
        )
    for pos, token in enumerate(ids):
        if not 0 <= token < vocab_size:
            raise InvalidInput(
                f"prompts[{index}] token {pos} = {token} is outside the vocabulary; "
                f"ids must be in [0, {vocab_size})"
            )
    return ids


def _token_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(t, int) and not isinstance(t, bool) for t in value)
    )


def _int(field_name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{field_name} must be a whole number in [{low}, {high}], got {value!r}")
    return value


def _float(field_name: str, value: Any, low: float, high: float, *, low_open: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value <= high
    ok = ok and (value > low if low_open else value >= low)
    if not ok:
        bracket = "(" if low_open else "["
        raise InvalidInput(f"{field_name} must be a number in {bracket}{low}, {high}], got {value!r}")
    return float(value)


def _list(field_name: str, value: Any) -> list:
    if not isinstance(value, list):
        raise InvalidInput(f"{field_name} must be a list, got {value!r}")
    return value


def _strings(field_name: str, value: Any) -> list[str]:
    items = _list(field_name, value)
    if not all(isinstance(s, str) and s for s in items) or len(items) > 16:
        raise InvalidInput(f"{field_name} must be a list of at most 16 non-empty strings")
    return items


def _token(field_name: str, value: Any, vocab_size: int) -> int:
    return _int(field_name, value, 0, vocab_size - 1)
