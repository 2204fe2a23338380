"""One base model shared by many training runs, each with its own LoRA adapter and training setup.

All runs' adapters sit in one peft model. Forward work (forward, forward_only, forward_backward,
backward) runs in *passes* (``passes.py``): one pass may hold several runs' rows, each routed
through its own adapter by the batched LoRA layer (``batched_lora.py``), and gives every run the
numbers its solo pass gives. The other operations touch one run's state only (``operations.py``,
``saving.py``). Each run's optimizer holds only that run's parameters and each run draws dropout
noise from its own generator, so one run can neither change nor disturb another.

The class is not thread-safe: one worker thread drives it (``ModelWorker`` in ``worker.py``), and
decides which prepared items share a pass (``planner.py``).
"""

from __future__ import annotations

import contextlib
import gc
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch

from twinkle_server.engine import operations, saving
from twinkle_server.engine.batched_lora import LoraRouter, install_router, routable
from twinkle_server.engine.checks import boolean, check_kwargs
from twinkle_server.engine.loading import load_base_model
from twinkle_server.engine.lora import (
    adapter_parameters,
    check_run_id,
    lora_config_from_dict,
    lora_config_to_dict,
)
from twinkle_server.engine.loss import build_loss, loss_inputs
from twinkle_server.engine.passes import FORWARD_OPS, PassItem, PassModel, run_backwards, run_pass
from twinkle_server.engine.planner import default_token_budget
from twinkle_server.engine.processor import validate_rows
from twinkle_server.engine.reference import reference_adapter, reference_rows
from twinkle_server.engine.run import RunState
from twinkle_server.engine.sampling import sample
from twinkle_server.engine.sources import SampleSources
from twinkle_server.engine.spec import Capacity, ModelSpec
from twinkle_server.errors import CapacityExceeded, Conflict, InvalidInput, NotFound, OutOfMemory, Unavailable

__all__ = ["DEFAULT_SEED", "MultiLoraModel", "PassItem"]

DEFAULT_SEED = 42
_OOM_ERRORS: tuple[type[BaseException], ...] = tuple(
    {getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError), torch.cuda.OutOfMemoryError}
)
_HANDLERS: Mapping[str, Callable[..., dict]] = {
    **operations.OPERATIONS,
    "save": saving.save,
    "load": saving.load,
}


class MultiLoraModel:
    """One base model shared by many runs' LoRA adapters. Not thread-safe: one worker thread drives it.

    Operations take keyword arguments and return JSON-able dicts whose keys are the API's response
    fields; see ``docs/internals.md``. ``run_op`` runs one op; the worker fuses forward work of
    several runs with ``prepare`` (checks, encodes and pads one op's rows) and ``run_passes``.

    - ``forward`` keeps its outputs (with the graph) for ``calculate_loss`` and one ``backward``;
      ``forward_only`` runs without gradients in eval mode and feeds the evaluation metrics.
    - ``logprobs`` are per row (unpadded) and per position: the label's log-probability, 0.0 where
      the label is -100. A batch without label tokens reports loss 0.0 and num_tokens 0.
    - A pass that fails (out of memory included) changes no run: the window, gradients and random
      state are as before the call.
    """

    FUSABLE_OPS: frozenset[str] = frozenset({*FORWARD_OPS, "backward", "sample"})
    OPERATIONS: frozenset[str] = frozenset({*FUSABLE_OPS, *_HANDLERS})

    def __init__(self, spec: ModelSpec, *, resolver: Any | None = None) -> None:
        for field_name in ("max_loras", "max_r", "max_length"):
            value = getattr(spec, field_name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInput(f"ModelSpec.{field_name} must be a whole number >= 1, got {value!r}")
        loaded = load_base_model(spec, resolver=resolver)
        self.spec = spec
        self.tokenizer = loaded.tokenizer
        self.device = loaded.device
        self.dtype = loaded.dtype
        self.model_path = loaded.path
        self._model = loaded.model
        self._peft: Any = None
        self._runs: dict[str, RunState] = {}
        self._active: str | None = None
        self._router = LoraRouter()
        self._vocab_size = self._model.get_input_embeddings().num_embeddings
        self._pass_model = PassModel(
            self._model,
            self._router,
            self._pick_pad_id(),
            _has_plain_head(self._model),
            loss_chunk_tokens=spec.loss_chunk_tokens,
            pack_rows=spec.pack_rows,
        )
        self._eos_ids = _eos_ids(self.tokenizer, self._model.config)
        self._sources = SampleSources(self, max_frozen=spec.max_frozen_adapters)
        self._vllm = _vllm_sampler(self) if spec.sampler_backend == "vllm" else None
        # After vLLM took its share of the device: the budget is derived from what is left.
        self.token_budget = spec.pass_token_budget or self._default_token_budget()

    # -- runs ------------------------------------------------------------------------------------

    @property
    def model_id(self) -> str:
        return self.spec.model_id

    @property
    def run_ids(self) -> list[str]:
        return list(self._runs)

    @property
    def peft_model(self) -> Any:
        return self._peft

    def capacity(self) -> Capacity:
        used = len(self._runs)
        return Capacity(max_loras=self.spec.max_loras, used=used, free=max(0, self.spec.max_loras - used))

    def add_run(
        self, run_id: str, *, lora: dict, gradient_accumulation_steps: int = 1, seed: int | None = None
    ) -> dict:
        """Create run ``run_id``'s adapter from ``lora`` (peft LoraConfig fields) and return its configs.

        The adapter's initial weights depend only on ``seed`` (default 42) and the config, never on
        which other runs exist. Raises Conflict for an existing id, CapacityExceeded when all
        ``max_loras`` slots are taken, InvalidInput for bad settings (rank over ``max_r`` included).
        """
        check_run_id(run_id)
        if run_id in self._runs:
            raise Conflict(f"run {run_id!r} already has an adapter on {self.model_id}")
        steps = gradient_accumulation_steps
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise InvalidInput(f"gradient_accumulation_steps must be a whole number >= 1, got {steps!r}")
        if seed is None:
            seed = DEFAULT_SEED
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
            raise InvalidInput(f"seed must be a whole number in [0, 2**63), got {seed!r}")
        config = lora_config_from_dict(lora, max_r=self.spec.max_r)
        settings = lora_config_to_dict(config)  # before peft expands "all-linear" in place
        if len(self._runs) >= self.spec.max_loras:
            raise CapacityExceeded(
                f"{self.model_id} already serves max_loras={self.spec.max_loras} adapters; release a run "
                "(or close its session) and try again",
                details={"max_loras": self.spec.max_loras, "used": len(self._runs)},
                retry_after=30.0,
            )
        self._inject(run_id, config, seed)
        run = RunState(
            run_id=run_id,
            lora=config,
            lora_settings=settings,
            accumulation_steps=steps,
            seed=seed,
            params=adapter_parameters(self._model, run_id),
            generator=torch.Generator(device=self.device).manual_seed(seed + 1),
            routable=routable(self._model, run_id),
        )
        self._runs[run_id] = run
        self._all_adapters_trainable()
        return run.train_configs()

    def remove_run(self, run_id: str) -> None:
        """Free the run's adapter, optimizer state and kept outputs; NotFound for an unknown run."""
        run = self._get_run(run_id)
        run.drop_pending()
        run.optimizer = None
        run.scheduler = None
        run.clear_grads()
        self._peft.delete_adapter(run_id)
        del self._runs[run_id]
        self._active = None
        self._all_adapters_trainable()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    # -- operations ------------------------------------------------------------------------------

    def run_op(self, run_id: str, op: str, **kwargs: Any) -> dict:
        """Run operation ``op`` for ``run_id`` on its own and return the result dict.

        NotFound for an unknown run, InvalidInput for an unknown op or argument (listing the accepted
        ones). A CUDA out-of-memory error frees what the op held and raises OutOfMemory; the model
        and every run stay usable.
        """
        if op in self.FUSABLE_OPS:
            (outcome,) = self.run_passes([self.prepare(run_id, op, **kwargs)])
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome
        run = self._get_run(run_id)
        handler = self._handler(op)
        _check_op_kwargs(op, handler, kwargs)
        return handler(self, run, **kwargs)

    def prepare(self, run_id: str, op: str, **kwargs: Any) -> PassItem:
        """Check, encode and pad one forward-family op's rows: everything that can fail on bad input.

        Raises the op's InvalidInput/NotFound/Conflict here, before any pass, so a bad request of
        one run never fails the runs that would have shared its pass.
        """
        if op == "sample":  # from a run's adapter, a checkpoint or the base model (``sources.py``)
            return self._sources.prepare(run_id, kwargs)
        run = self._get_run(run_id)
        if op not in self.FUSABLE_OPS:
            raise InvalidInput(
                f"{op} is not a forward operation; accepted: {', '.join(sorted(self.FUSABLE_OPS))}"
            )
        if op == "backward":
            check_kwargs(op, kwargs, ())
            return _backward_item(run)
        check_kwargs(op, kwargs, ("inputs", "return_logprobs", "loss_name"))
        if "inputs" not in kwargs:
            raise InvalidInput(f"{op} needs argument(s) inputs")
        return_logprobs = kwargs.get("return_logprobs", False)
        boolean("return_logprobs", return_logprobs)
        loss_name, loss_kwargs = run.loss_config["name"], run.loss_config["kwargs"]
        if kwargs.get("loss_name") is not None:  # this call's loss instead of the run's, with its defaults
            loss_name, loss_kwargs = kwargs["loss_name"], {}
        loss_fn = build_loss(loss_name, loss_kwargs)
        made: dict[str, Any] = {}
        rows = validate_rows(
            kwargs["inputs"],
            vocab_size=self._vocab_size,
            max_length=self.spec.max_length,
            need_labels=op == "forward_backward",
            encode_messages=self._encoder(run, made),
        )
        batch = run.processor(rows, pad_token_id=self._pass_model.pad_id, device=self.device)
        _check_loss_inputs(loss_name, batch)
        if "template" in made:
            run.template, run.template_config = made["template"], {"name": "Template", "kwargs": {}}
        reference = reference_adapter(self, run, loss_name, loss_kwargs, batch)
        return PassItem(
            run=run, op=op, batch=batch, loss_fn=loss_fn, return_logprobs=return_logprobs, reference=reference
        )

    def reference_rows(self, run_id: str, rows: int, *, loss_name: str | None, given: bool) -> int:
        """Rows a forward of ``rows`` rows of ``run_id`` adds to its pass to score a reference policy
        (``reference.reference_rows``), with this call's ``loss_name`` or else the run's loss, and
        ``given`` when every row brings its reference_logprobs. Read from another thread before the
        op is queued: it sees the run's loss as it stands now, not a set_loss still queued ahead.
        """
        run = self._runs.get(run_id)
        if run is None:
            return 0
        name = loss_name if loss_name is not None else run.loss_config["name"]
        return reference_rows(rows, loss_name=name, given=given)

    def pass_key(self, item: PassItem) -> tuple[str, str]:
        """Items with equal keys may share a pass: same mode, and routable runs only."""
        if item.op == "sample":
            return (item.op, "" if item.routable else item.run.run_id)
        if item.op == "backward":
            return (item.op, "")
        mode = "train" if item.training else "eval"
        return (mode, "" if item.run.routable else item.run.run_id)

    def run_passes(self, items: Sequence[PassItem]) -> list[dict | BaseException]:
        """Run ``items`` (prepared by ``prepare``, one per run, equal ``pass_key``) as one pass.

        Returns one outcome per item: its result dict, or the error that failed it. A pass that runs
        out of device memory is split in halves and run again; only an item that cannot fit alone
        fails, with OutOfMemory.
        """
        if not items:
            return []
        try:
            self._run_pass(items)
            return [item.result for item in items]
        except _OOM_ERRORS:
            pass
        finally:
            self._sources.frozen.unpin()  # checkpoint adapters of these items may now be evicted
        # Recovery runs outside the except block: the caught error's traceback pins the failed
        # pass's frames, and with them every activation it allocated, until the block is left.
        self._free_memory(items)
        if len(items) == 1:
            return [_out_of_memory(items[0])]
        half = len(items) // 2
        return self.run_passes(items[:half]) + self.run_passes(items[half:])

    def build_template(self, name: Any, kwargs: Mapping[str, Any]) -> Any:
        """A chat template for this model's tokenizer, its max_length capped at the model's."""
        try:
            from twinkle_server.data.templates import get_template
        except ImportError as exc:
            raise Unavailable("chat templates are not available on this server; send encoded rows") from exc
        if self.tokenizer is None:
            raise InvalidInput(
                f"{self.model_id} has no tokenizer, so messages cannot be encoded; send input_ids"
            )
        args = {k: v for k, v in kwargs.items() if k != "model_id"}
        max_length = args.get("max_length")
        if max_length is None or (isinstance(max_length, int) and max_length > self.spec.max_length):
            args["max_length"] = self.spec.max_length
        return get_template(name, self.tokenizer, **args)

    # -- internals ---------------------------------------------------------------------------------

    def _run_pass(self, items: Sequence[PassItem]) -> None:
        if items[0].op == "backward":
            run_backwards([(item.run, item.run.pending.loss, item.run.pending.graph) for item in items])
            for item in items:
                item.run.pending = None
                item.result = {
                    "micro_step": item.run.micro_step,
                    "accumulation_steps": item.run.accumulation_steps,
                }
            return
        if items[0].op == "sample":
            self._sample(items)
            return
        solo = None if items[0].run.routable else (lambda: self._peft_forward(items[0].run))
        run_pass(self._pass_model, items, peft_forward=solo)

    def _sample(self, items: Sequence[Any]) -> None:
        """Decode sample requests: with vLLM those it serves (``sampler_backend: vllm``), the rest
        in the routed pass (a run the router cannot serve samples alone, through peft)."""
        served = [item for item in items if self._vllm is not None and self._vllm.serves(item)]
        if served:
            self._vllm.sample(served)
        rest = [item for item in items if all(item is not s for s in served)]
        if not rest:
            return
        solo = None if rest[0].routable else (lambda: self._peft_forward(rest[0].run))
        sample(
            self._pass_model, rest, eos_token_ids=self._eos_ids, tokenizer=self.tokenizer, peft_forward=solo
        )

    def _handler(self, op: str) -> Callable[..., dict]:
        handler = _HANDLERS.get(op)
        if handler is None:
            raise InvalidInput(
                f"unknown operation {op!r}; accepted: {', '.join(sorted(self.OPERATIONS))}",
                details={"accepted": sorted(self.OPERATIONS)},
            )
        return handler

    def _free_memory(self, items: Sequence[PassItem]) -> None:
        for item in items:
            if item.op == "backward":
                item.run.drop_pending()  # a backward cut short may have freed part of the graph
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def _get_run(self, run_id: str) -> RunState:
        run = self._runs.get(run_id) if isinstance(run_id, str) else None
        if run is None:
            raise NotFound(f"run {run_id!r} has no adapter on {self.model_id}; create the run first")
        return run

    def _pick_pad_id(self) -> int:
        for source in (self.tokenizer, self._model.config):
            for attr in ("pad_token_id", "eos_token_id"):
                value = getattr(source, attr, None) if source is not None else None
                if isinstance(value, list):
                    value = value[0] if value else None
                if isinstance(value, int) and 0 <= value < self._vocab_size:
                    return value
        return 0

    def _default_token_budget(self) -> int:
        config = self._model.config
        free = torch.cuda.mem_get_info(self.device)[0] if self.device.type == "cuda" else None
        return default_token_budget(
            device_type=self.device.type,
            free_bytes=free,
            num_layers=getattr(config, "num_hidden_layers", 0),
            hidden_size=getattr(config, "hidden_size", 0),
            vocab_size=self._vocab_size,
            dtype_bytes=torch.finfo(self.dtype).bits // 8,
        )

    def _inject(self, run_id: str, config: Any, seed: int) -> None:
        """Add the adapter with its weights drawn from ``seed`` alone (peft initialises on the CPU)."""
        from peft import get_peft_model

        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            try:
                if self._peft is None:
                    self._peft = get_peft_model(self._model, config, adapter_name=run_id)
                else:
                    self._peft.add_adapter(run_id, config)
            except ValueError as exc:
                raise InvalidInput(f"could not add the LoRA adapter: {exc}") from exc
        self._model.requires_grad_(False)
        install_router(self._model, self._router)
        self._active = None
        self._pass_model.training = None  # new modules start in train mode: set it again next pass

    def _all_adapters_trainable(self) -> None:
        """Every adapter's parameters require grad (peft freezes inactive ones); a pass only reaches
        the adapters of its own runs, so only those get gradients."""
        for run in self._runs.values():
            for _, param in run.params:
                param.requires_grad_(True)

    @contextlib.contextmanager
    def _peft_forward(self, run: RunState) -> Iterator[None]:
        """peft's own forward for a run the router cannot serve: its adapter active, its generator
        standing in for the global random state that peft's dropout draws from."""
        if self._active != run.run_id:
            self._peft.set_adapter(run.run_id)
            self._all_adapters_trainable()
            self._active = run.run_id
        cuda = self.device.type == "cuda"
        saved = torch.cuda.get_rng_state(self.device) if cuda else torch.get_rng_state()
        _set_global_rng(self.device, run.generator.get_state())
        try:
            yield
        finally:
            run.generator.set_state(torch.cuda.get_rng_state(self.device) if cuda else torch.get_rng_state())
            _set_global_rng(self.device, saved)

    def _encoder(self, run: RunState, made: dict[str, Any]):
        """Encode chat rows with the run's template; without one, the generic ``Template``, which is
        kept (in ``made``) only once the whole batch has passed validation."""

        def encode(messages: Any) -> Mapping[str, Any]:
            template = run.template or made.get("template")
            if template is None:
                template = made["template"] = self.build_template("Template", {})
            return template.encode(messages)

        return encode


def _vllm_sampler(engine: MultiLoraModel) -> Any:
    from twinkle_server.engine.vllm_sampler import VllmSampler

    return VllmSampler(engine)


def _check_loss_inputs(loss_name: str, batch: Any) -> None:
    """Every label token carries the per-token values the loss reads (advantages, ...)."""
    labelled = batch.labels != -100
    for name in loss_inputs(loss_name):
        values = batch.values.get(name)
        if values is None or bool(torch.isnan(values[labelled]).any()):
            raise InvalidInput(
                f"loss {loss_name} needs {name} for every label token of every row; "
                f"send {name} (one number per input token) with each row",
                details={"loss": loss_name, "field": name},
            )


def _eos_ids(tokenizer: Any, config: Any) -> list[int]:
    """Tokens that end a sampled sequence: the model's and the tokenizer's end-of-sequence ids."""
    ids: set[int] = set()
    for source in (getattr(config, "eos_token_id", None), getattr(tokenizer, "eos_token_id", None)):
        ids.update(source if isinstance(source, list) else [source] if isinstance(source, int) else [])
    return sorted(ids)


def _backward_item(run: RunState) -> PassItem:
    pending = run.pending
    if pending is None or not pending.has_graph:
        raise Conflict(
            "backward needs the outputs of a forward call with gradients; call forward first "
            "(forward_only keeps none, and each forward can be backpropagated once)"
        )
    if pending.loss is None:
        raise InvalidInput(
            "the last forward had no label tokens (all labels were -100); nothing to "
            "backpropagate - mark the target tokens in labels"
        )
    return PassItem(run=run, op="backward")


def _out_of_memory(item: PassItem) -> OutOfMemory:
    kept = " (its forward was dropped: call forward again)" if item.op == "backward" else ""
    return OutOfMemory(
        f"the device ran out of memory during {item.op}{kept}; nothing was applied. Send fewer or "
        "shorter rows per call (use gradient_accumulation_steps for large batches)",
        retry_after=1.0,
    )


def _set_global_rng(device: torch.device, state: torch.Tensor) -> None:
    if device.type == "cuda":
        torch.cuda.set_rng_state(state, device)
    else:
        torch.set_rng_state(state)


# Decoders whose causal-LM forward is exactly ``lm_head(decoder(...).last_hidden_state)``.
_PLAIN_HEAD_TYPES = frozenset({"qwen2", "qwen3", "llama", "mistral", "qwen2_moe", "qwen3_moe"})


def _has_plain_head(model: torch.nn.Module) -> bool:
    config = getattr(model, "config", None)
    return (
        getattr(config, "model_type", None) in _PLAIN_HEAD_TYPES
        and getattr(model, "base_model", model) is not model
        and model.get_output_embeddings() is not None
    )


def _check_op_kwargs(op: str, handler: Any, kwargs: Mapping[str, Any]) -> None:
    params = inspect.signature(handler).parameters
    named = [n for n, p in params.items() if n not in ("engine", "run") and p.kind is p.KEYWORD_ONLY]
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    if "engine" in kwargs or "run" in kwargs:
        raise InvalidInput(f"{op} got an unknown argument; accepted: {', '.join(named) or 'none'}")
    if not takes_any:
        check_kwargs(op, kwargs, named)
    missing = [n for n in named if params[n].default is inspect.Parameter.empty and n not in kwargs]
    if missing:
        raise InvalidInput(f"{op} needs argument(s) {', '.join(missing)}")
