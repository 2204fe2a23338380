"""One training run's state on a shared model: its adapter, training setup and accumulation window.

The accumulation rules live here, apart from any model code, because they are what makes the
engine's numbers match a single large batch:

- A *window* is ``accumulation_steps`` micro-batches (a micro-batch is counted by backward or
  forward_backward). The loss of each micro-batch is a sum over its label tokens; at the boundary
  the gradients are divided once by the window's total label-token count, before clipping.
- clip_grad_norm, step, zero_grad and lr_step take effect once per window, when the window is full;
  called in between they do nothing and say so (``applied: False``).
- A new window always starts from zero gradients, so exactly N micro-batches feed each update.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import torch
from peft import LoraConfig

from twinkle_server.engine.lora import spec_lora_config
from twinkle_server.engine.loss import LossOutput
from twinkle_server.engine.metrics import TokenStats
from twinkle_server.engine.processor import InputProcessor

__all__ = ["BOUNDARY_OPS", "PendingForward", "RunState", "SharedGraph"]

logger = logging.getLogger(__name__)

BOUNDARY_OPS = ("clip_grad_norm", "step", "zero_grad", "lr_step")


@dataclass
class SharedGraph:
    """The autograd graph of one fused forward pass, and the runs that may still backpropagate it.

    Runs whose forwards shared a pass share one graph; it must outlive every run's backward but the
    last (``retain_graph``), and is freed once no run needs it.
    """

    open: set[str]


@dataclass
class PendingForward:
    """What forward keeps for calculate_loss and backward; ``loss`` holds the graph when it has one."""

    loss: LossOutput | None
    has_graph: bool
    graph: SharedGraph | None = None


@dataclass
class RunState:
    """Everything one run owns. Only the worker thread touches it."""

    run_id: str
    lora: LoraConfig
    lora_settings: dict[str, Any]
    accumulation_steps: int
    seed: int
    params: list[tuple[str, torch.nn.Parameter]]
    generator: torch.Generator
    routable: bool = True
    loss_config: dict[str, Any] = field(default_factory=lambda: {"name": "CrossEntropyLoss", "kwargs": {}})
    reference_folder: str | None = None  # the checkpoint of the loss's reference_model_path (reference.py)
    template_config: dict[str, Any] | None = None
    template: Any = None
    processor: InputProcessor = field(default_factory=InputProcessor)
    optimizer_config: dict[str, Any] | None = None
    optimizer: torch.optim.Optimizer | None = None
    scheduler_config: dict[str, Any] | None = None
    scheduler: Any = None
    metrics: list[str] = field(default_factory=list)
    micro_steps: int = 0
    optimizer_step: int = 0
    window: TokenStats = field(default_factory=TokenStats)
    window_scaled: bool = False
    grad_norm: float | None = None
    applied: dict[str, int] = field(default_factory=dict)
    eval_stats: TokenStats = field(default_factory=TokenStats)
    pending: PendingForward | None = None
    last_loss: tuple[float | None, int] | None = None

    def drop_pending(self) -> None:
        """Forget the kept forward (a new forward replaces it), releasing its share of the graph."""
        pending = self.pending
        if pending is not None and pending.graph is not None:
            pending.graph.open.discard(self.run_id)
        self.pending = None

    # -- accumulation window -------------------------------------------------------------------

    @property
    def at_boundary(self) -> bool:
        """True once the current window holds all of its micro-batches."""
        return self.micro_steps > 0 and self.micro_steps % self.accumulation_steps == 0

    @property
    def micro_step(self) -> int:
        """Micro-batches in the current window: 1..N, and N while the window waits for its update."""
        if self.micro_steps == 0:
            return 0
        return (self.micro_steps - 1) % self.accumulation_steps + 1

    def begin_micro_batch(self) -> None:
        """Open a new window when the last one is full: fresh gradients and fresh statistics."""
        if self.micro_steps % self.accumulation_steps == 0:
            if self.micro_steps and self.applied.get("step") != self.micro_steps:
                logger.warning(
                    "run %s: accumulation window ending at micro-batch %d had no step; its gradients "
                    "were dropped (call step at every boundary)",
                    self.run_id,
                    self.micro_steps,
                )
            self.clear_grads()
            self.window = TokenStats()
            self.window_scaled = False
            self.grad_norm = None

    def end_micro_batch(self, out: LossOutput) -> None:
        self.window.add(float(out.loss_sum.detach()), out.num_tokens, out.num_correct)
        self.micro_steps += 1

    def discard_window(self) -> None:
        """Forget the open window (after a failure mid-backward): the user re-sends its micro-batches.

        The counter goes back to the last boundary and that boundary counts as used, so no update
        can ever run on a partial or emptied set of gradients.
        """
        self.micro_steps -= self.micro_steps % self.accumulation_steps
        self.clear_grads()
        self.window = TokenStats()
        self.window_scaled = False
        self.grad_norm = None
        if self.micro_steps:
            for op in BOUNDARY_OPS:
                self.applied[op] = self.micro_steps

    def takes_effect(self, op: str) -> bool:
        """Whether ``op`` acts now: the window is full and ``op`` has not acted on it yet."""
        if not self.at_boundary or self.applied.get(op) == self.micro_steps:
            return False
        self.applied[op] = self.micro_steps
        return True

    def finalize_grads(self) -> None:
        """Divide the window's summed gradients by its label-token count, once per window."""
        if self.window_scaled:
            return
        grads = [param.grad for _, param in self.params if param.grad is not None]
        if grads:  # one foreach call: a kernel per device and dtype, not one per LoRA tensor
            with torch.no_grad():
                torch._foreach_div_(grads, self.window.num_tokens)
        self.window_scaled = True

    def clear_grads(self) -> None:
        for _, param in self.params:
            param.grad = None

    # -- reporting -------------------------------------------------------------------------------

    @property
    def lr(self) -> float | None:
        if self.optimizer is None:
            return None
        return float(self.optimizer.param_groups[0]["lr"])

    def train_configs(self) -> dict[str, Any]:
        """The run's setup and counters in the API's ``TrainConfigs`` shape (get_train_configs)."""
        return {
            "lora_config": spec_lora_config(self.lora_settings),
            "gradient_accumulation_steps": self.accumulation_steps,
            "template": self.template_config,
            "processor": self.processor.config(),
            "loss": self.loss_config,
            "optimizer": self.optimizer_config,
            "lr_scheduler": self.scheduler_config,
            "metrics": list(self.metrics),
            "micro_step": self.micro_step,
            "optimizer_step": self.optimizer_step,
            "lr": self.lr,
        }
