"""One base model shared by many training runs, each with its own LoRA adapter and training setup.

All runs' adapters sit in one peft model. Forward work (forward, forward_only, forward_backward,
backward) runs in *passes* (``passes.py``): one pass may hold several runs' rows, each routed
through its own adapter by the batched LoRA layer (``batched_lora.py``), and gives every run the
numbers its solo pass gives. The other operations touch one run's state only (``operations.py``,
``saving.py``). Each run's optimizer holds only that run's parameters and each run draws dropout
noise from its own generator, so one run can neither change nor disturb another. A request becomes
a pass item in ``preparing.py``; the peft model that holds the adapters lives in ``adapters.py``.

The class is not thread-safe: one worker thread drives it (``ModelWorker`` in ``worker.py``), and
decides which prepared items share a pass (``planner.py``).
"""

from __future__ import annotations

import gc
import inspect
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch

from twinkle_server.engine import model_facts, operations, saving
from twinkle_server.engine.adapter_shards import gather_whole, shard_run
from twinkle_server.engine.adapters import PeftAdapters
from twinkle_server.engine.batched_lora import LoraRouter, routable
from twinkle_server.engine.checks import check_kwargs
from twinkle_server.engine.loading import load_base_model
from twinkle_server.engine.lora import (
    adapter_parameters,
    check_run_id,
    lora_config_from_dict,
    lora_config_to_dict,
)
from twinkle_server.engine.passes import FORWARD_OPS, PassItem, PassModel, run_backwards, run_pass
from twinkle_server.engine.planner import DEFAULT_MAX_PADDING
from twinkle_server.engine.preparing import backward_item, forward_item
from twinkle_server.engine.recovery import RECOVERY_OPERATIONS
from twinkle_server.engine.reference import reference_rows
from twinkle_server.engine.run import RunState
from twinkle_server.engine.sampling import sample
from twinkle_server.engine.sharding import shard_decoder
from twinkle_server.engine.sources import SampleSources
from twinkle_server.engine.spec import Capacity, ModelSpec
from twinkle_server.errors import CapacityExceeded, Conflict, InvalidInput, NotFound, OutOfMemory, Unavailable

if TYPE_CHECKING:
    from torch.distributed.device_mesh import DeviceMesh

__all__ = ["DEFAULT_SEED", "MultiLoraModel", "PassItem"]

logger = logging.getLogger(__name__)

DEFAULT_SEED = 42
_OOM_ERRORS: tuple[type[BaseException], ...] = tuple(
    {getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError), torch.cuda.OutOfMemoryError}
)
_HANDLERS: Mapping[str, Callable[..., dict]] = {
    **operations.OPERATIONS,
    "save": saving.save,
    "load": saving.load,
    **RECOVERY_OPERATIONS,
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
        for field_name in ("max_loras", "max_r", "max_length", "shard_ranks"):
            value = getattr(spec, field_name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInput(f"ModelSpec.{field_name} must be a whole number >= 1, got {value!r}")
        loaded = load_base_model(spec, resolver=resolver)
        self._mesh: DeviceMesh | None = None  # set on one rank of a sharded replica (``replica.py``)
        if spec.shard_ranks > 1:
            self._mesh = shard_decoder(loaded.model, spec.shard_ranks, device_type=loaded.device.type)
        self.spec = spec
        self.tokenizer = loaded.tokenizer
        self.device = loaded.device
        self.dtype = loaded.dtype
        self.model_path = loaded.path
        self._model = loaded.model
        self._runs: dict[str, RunState] = {}
        self._router = LoraRouter()
        self.vocab_size = self._model.get_input_embeddings().num_embeddings
        pad_id = model_facts.pad_id(self.tokenizer, self._model.config, self.vocab_size)
        self._pass_model = PassModel(
            self._model,
            self._router,
            pad_id,
            model_facts.has_plain_head(self._model),
            loss_chunk_tokens=spec.loss_chunk_tokens,
            pack_rows=spec.pack_rows and self._packs_rows(pad_id),
            checkpointing=spec.activation_checkpointing,
        )
        self.adapters = PeftAdapters(self._model, self._router, self._pass_model, self._runs)
        if self._mesh is not None:  # one all-gather of a pass's sharded runs (``adapter_shards.py``)
            self._router.gather = self._whole_adapters
        self.eos_ids = model_facts.eos_ids(self.tokenizer, self._model.config)
        self.sources = SampleSources(self, max_frozen=spec.max_frozen_adapters)
        self._vllm = _vllm_sampler(self) if spec.sampler_backend == "vllm" else None
        # Packed passes compute (almost) no padding: rows of any widths may share one. The budget
        # still counts padded positions, an upper bound on the pass's memory.
        self.max_padding = math.inf if self._pass_model.pack_rows else DEFAULT_MAX_PADDING
        # After vLLM took its share of the device: the budget is derived from what is left.
        self.token_budget = spec.pass_token_budget or model_facts.token_budget(
            self._model, self.device, self.dtype, self.vocab_size, checkpointing=spec.activation_checkpointing
        )

    # -- runs ------------------------------------------------------------------------------------

    @property
    def model_id(self) -> str:
        return self.spec.model_id

    @property
    def run_ids(self) -> list[str]:
        return list(self._runs)

    @property
    def peft_model(self) -> Any:
        return self.adapters.peft

    @property
    def pad_id(self) -> int:
        return self._pass_model.pad_id

    @property
    def writes_files(self) -> bool:
        """Whether this process writes checkpoint files: on a sharded replica, rank 0 alone (the
        other ranks take part in gathering the adapter, then skip the writing)."""
        return self._mesh is None or self._mesh.get_rank() == 0

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
        if self.spec.shard_ranks > 1 and getattr(config, "use_dora", False):
            raise InvalidInput(
                f"use_dora is not available on {self.model_id}: its base model is sharded across "
                f"{self.spec.shard_ranks} ranks and DoRA reads whole base weights when it is created; "
                "use plain LoRA (use_dora: false)"
            )
        settings = lora_config_to_dict(config)  # before peft expands "all-linear" in place
        if len(self._runs) >= self.spec.max_loras:
            raise CapacityExceeded(
                f"{self.model_id} already serves max_loras={self.spec.max_loras} adapters; release a run "
                "(or close its session) and try again",
                details={"max_loras": self.spec.max_loras, "used": len(self._runs)},
                retry_after=30.0,
            )
        self.adapters.add(run_id, config, seed)
        if self._mesh is not None:
            self._shard_adapter(run_id)
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
        self.adapters.keep_trainable()
        return run.train_configs()

    def remove_run(self, run_id: str) -> None:
        """Free the run's adapter, optimizer state and kept outputs; NotFound for an unknown run."""
        run = self._get_run(run_id)
        run.drop_pending()
        run.optimizer = None
        run.scheduler = None
        run.clear_grads()
        del self._runs[run_id]
        self.adapters.delete(run_id)
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
            return self.sources.prepare(run_id, kwargs)
        run = self._get_run(run_id)
        if op not in self.FUSABLE_OPS:
            raise InvalidInput(
                f"{op} is not a forward operation; accepted: {', '.join(sorted(self.FUSABLE_OPS))}"
            )
        if op == "backward":
            check_kwargs(op, kwargs, ())
            return backward_item(run)
        return forward_item(self, run, op, kwargs)

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
        fails, with OutOfMemory. On a sharded model (``shard_ranks`` > 1) the error is raised instead.
        """
        if not items:
            return []
        try:
            self._run_pass(items)
            return [item.result for item in items]
        except _OOM_ERRORS:
            if self.spec.shard_ranks > 1:  # the other ranks ran on: halves here would meet their
                raise  # collectives out of step (``replica.py`` stops the replica instead)
        finally:
            self.sources.frozen.unpin()  # checkpoint adapters of these items may now be evicted
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
        run_pass(
            self._pass_model, items, peft_forward=self._peft_forward(items[0].run, items[0].run.routable)
        )

    def _sample(self, items: Sequence[Any]) -> None:
        """Decode sample requests: with vLLM those it serves (``sampler_backend: vllm``), the rest
        in the routed pass (a run the router cannot serve samples alone, through peft)."""
        served = [item for item in items if self._vllm is not None and self._vllm.serves(item)]
        if served:
            self._vllm.sample(served)
        rest = [item for item in items if all(item is not s for s in served)]
        if not rest:
            return
        solo = self._peft_forward(rest[0].run, rest[0].routable)
        sample(
            self._pass_model, rest, eos_token_ids=self.eos_ids, tokenizer=self.tokenizer, peft_forward=solo
        )

    def _peft_forward(self, run: RunState, routable: bool) -> Callable[[], Any] | None:
        """For a run the routed layer cannot serve (it then passes alone), peft's own forward."""
        return None if routable else (lambda: self.adapters.peft_forward(run, self.device))

    def _handler(self, op: str) -> Callable[..., dict]:
        handler = _HANDLERS.get(op)
        if handler is None:
            raise InvalidInput(
                f"unknown operation {op!r}; accepted: {', '.join(sorted(self.OPERATIONS))}",
                details={"accepted": sorted(self.OPERATIONS)},
            )
        return handler

    def _shard_adapter(self, run_id: str) -> None:
        """Shard the new adapter across the ranks (``adapter_shards.py``), or refuse one the routed
        layer cannot serve: peft's own forward would meet its weights sharded."""
        if not routable(self._model, run_id):
            self.adapters.delete(run_id)
            raise InvalidInput(
                f"this LoRA config is not available on {self.model_id}: its base model is sharded "
                f"across {self.spec.shard_ranks} ranks, where adapters are sharded too and only LoRA on "
                "linear layers is served; drop embedding or convolution layers from target_modules"
            )
        shard_run(self._model, run_id, self._mesh)

    def _whole_adapters(self, run_ids: list[str]) -> dict[int, torch.Tensor]:
        """The whole weights of the runs' sharded adapters by parameter id, in one collective (ids
        that are no run, such as a checkpoint sampled from or the base model, have none)."""
        params = [p for run_id in run_ids if run_id in self._runs for _, p in self._runs[run_id].params]
        return dict(zip(map(id, params), gather_whole(params), strict=True))

    def _free_memory(self, items: Sequence[PassItem]) -> None:
        for item in items:
            if item.op == "backward":
                item.run.drop_pending()  # a backward cut short may have freed part of the graph
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def _packs_rows(self, pad_id: int) -> bool:
        if model_facts.packs_rows_exactly(self._model, pad_id, self.vocab_size, self.device):
            return True
        logger.warning(
            "%s does not keep packed rows apart (its attention ignores position restarts): "
            "pack_rows is off for it, rows are padded",
            self.model_id,
        )
        return False

    def _get_run(self, run_id: str) -> RunState:
        run = self._runs.get(run_id) if isinstance(run_id, str) else None
        if run is None:
            raise NotFound(f"run {run_id!r} has no adapter on {self.model_id}; create the run first")
        return run


def _vllm_sampler(engine: MultiLoraModel) -> Any:
    from twinkle_server.engine.vllm_sampler import VllmSampler

    return VllmSampler(engine)


def _out_of_memory(item: PassItem) -> OutOfMemory:
    kept = " (its forward was dropped: call forward again)" if item.op == "backward" else ""
    return OutOfMemory(
        f"the device ran out of memory during {item.op}{kept}; nothing was applied. Send fewer or "
        "shorter rows per call (use gradient_accumulation_steps for large batches)",
        retry_after=1.0,
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
