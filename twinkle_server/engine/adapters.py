"""peft's side of the engine: every run's adapter (and every frozen checkpoint) in one peft model.

Why a class of its own: peft keeps one *active* adapter and freezes the others whenever one is
added or activated, while the engine trains many adapters at once through the routed layer
(``batched_lora.py``). This class adds adapters with weights drawn from a seed alone, keeps every
run's parameters trainable after peft's freezing, and, for the runs the routed layer cannot serve
(DoRA, LoRA on embeddings), runs peft's own forward with that run's adapter active and that run's
generator standing in for the global random state peft's dropout draws from.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from twinkle_server.engine.batched_lora import LoraRouter, install_router
from twinkle_server.engine.passes import PassModel
from twinkle_server.engine.run import RunState
from twinkle_server.errors import InvalidInput

__all__ = ["PeftAdapters"]


class PeftAdapters:
    """The peft model holding every adapter of ``model`` (created with the first one).

    Args:
        model: the base model; peft injects its LoRA layers into it in place.
        router: installed on every LoRA layer as it appears.
        pass_model: told when new modules appear (they start in train mode).
        runs: the engine's runs by id, whose parameters must stay trainable.
    """

    def __init__(
        self, model: torch.nn.Module, router: LoraRouter, pass_model: PassModel, runs: Mapping[str, RunState]
    ) -> None:
        self._model = model
        self._router = router
        self._pass_model = pass_model
        self._runs = runs
        self.peft: Any = None
        self.active: str | None = None  # the adapter peft's own forward last ran with

    def add(self, name: str, config: Any, seed: int) -> None:
        """Add adapter ``name`` with its weights drawn from ``seed`` alone (peft initialises on the CPU)."""
        from peft import get_peft_model

        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            try:
                if self.peft is None:
                    self.peft = get_peft_model(self._model, config, adapter_name=name)
                else:
                    self.peft.add_adapter(name, config)
            except ValueError as exc:
                raise InvalidInput(f"could not add the LoRA adapter: {exc}") from exc
        self._model.requires_grad_(False)
        install_router(self._model, self._router)
        self.active = None
        self._pass_model.training = None  # new modules start in train mode: set it again next pass
        self.keep_trainable()

    def delete(self, name: str) -> None:
        """Drop adapter ``name`` if peft holds it."""
        if self.peft is not None and name in self.peft.peft_config:
            self.peft.delete_adapter(name)
        self.active = None
        self.keep_trainable()

    def keep_trainable(self) -> None:
        """Every run's parameters require grad (peft freezes inactive adapters); a pass only
        reaches the adapters of its own runs, so only those get gradients."""
        for run in self._runs.values():
            for _, param in run.params:
                param.requires_grad_(True)

    @contextlib.contextmanager
    def peft_forward(self, run: RunState, device: torch.device) -> Iterator[None]:
        """peft's own forward for a run the router cannot serve: its adapter active, its generator
        standing in for the global random state that peft's dropout draws from."""
        if self.active != run.run_id:
            self.peft.set_adapter(run.run_id)
            self.keep_trainable()
            self.active = run.run_id
        saved = _global_rng(device)
        _set_global_rng(device, run.generator.get_state())
        try:
            yield
        finally:
            run.generator.set_state(_global_rng(device))
            _set_global_rng(device, saved)


def _global_rng(device: torch.device) -> torch.Tensor:
    return torch.cuda.get_rng_state(device) if device.type == "cuda" else torch.get_rng_state()


def _set_global_rng(device: torch.device, state: torch.Tensor) -> None:
    if device.type == "cuda":
        torch.cuda.set_rng_state(state, device)
    else:
        torch.set_rng_state(state)
