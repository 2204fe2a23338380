"""What the client's calls return: small pydantic models with the API's field names.

Responses may grow new fields (the spec promises only that existing ones stay), so every model here
keeps unknown fields instead of failing (``extra="allow"``). Field names are the spec's, which are
the names twinkle users already know (``training_run_id``, ``twinkle_path``, ...), and every model
has pydantic's ``model_dump_json``/``model_dump``.

The result of a training call prints readably, because a training loop logs it as is
(``logger.info(f'loss: {output}')``): ``loss=2.3017 num_tokens=412 micro_step=1/2``.

The local face (``twinkle``) returns the same classes, so both faces print and compare alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AppliedOutput",
    "BackwardOutput",
    "Capacity",
    "Checkpoint",
    "ClipGradAndStepOutput",
    "ClipGradNormOutput",
    "Cursor",
    "DataLoaderInfo",
    "DataLoaderState",
    "DatasetInfo",
    "ForwardBackwardOutput",
    "ForwardOutput",
    "Health",
    "HistoryPoint",
    "LoraConfigInfo",
    "LossOutput",
    "LrStepOutput",
    "MetricOutput",
    "ModelCapability",
    "ModelCapacity",
    "Page",
    "SampleOutput",
    "SampledSequence",
    "ServerCapabilities",
    "Session",
    "StepOutput",
    "Task",
    "TensorInfo",
    "TrainConfigs",
    "TrainingRun",
    "UploadTask",
    "WeightsInfo",
    "WhoAmI",
]


class _Response(BaseModel):
    """Base of every response model: unknown fields are kept, not refused."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())


def _fmt(value: float | None) -> str:
    return "None" if value is None else f"{value:.6g}"


class Health(_Response):
    """Answer of ``health_check``: ``status`` is ``"ok"`` while the server is up."""

    status: str
    version: str


class ModelCapability(_Response):
    """One served base model and the limits of the adapters trained on it."""

    model_id: str
    max_loras: int
    max_r: int
    max_length: int
    device: str
    dtype: str


class ServerCapabilities(_Response):
    """What the server offers: models, and the names it accepts for losses, optimizers, ..."""

    version: str
    models: list[ModelCapability]
    losses: list[str] = []
    optimizers: list[str] = []
    lr_schedulers: list[str] = []
    templates: list[str] = []
    processors: list[str] = []
    preprocessors: list[str] = []
    metrics: list[str] = []
    max_body_bytes: int | None = None


class ModelCapacity(_Response):
    """Adapter slots of one served model."""

    model_id: str
    max_loras: int
    used: int
    free: int


class Capacity(_Response):
    """Answer of ``get_capacity``: adapter slots per served model."""

    models: list[ModelCapacity]


class Cursor(_Response):
    """Where a page sits in its list: ``total_count`` items in all."""

    limit: int
    offset: int
    total_count: int


class Session(_Response):
    """A client session; the server frees its adapters when it is closed or expires."""

    session_id: str
    status: str
    created_at: datetime
    last_heartbeat_at: datetime
    expires_at: datetime
    heartbeat_interval_s: float
    metadata: dict[str, str] | None = None


class LoraConfigInfo(_Response):
    """The LoRA settings of an adapter, as the server stored them."""

    r: int = 8
    lora_alpha: float = 8
    lora_dropout: float = 0.0
    target_modules: str | list[str] = "all-linear"
    bias: str = "none"
    use_rslora: bool = False
    modules_to_save: Any = None
    init_lora_weights: bool = True


class Checkpoint(_Response):
    """A saved adapter; pass ``twinkle_path`` to ``MultiLoraTransformersModel.load``."""

    checkpoint_id: str
    training_run_id: str
    name: str
    twinkle_path: str
    base_model: str
    created_at: datetime
    size_bytes: int
    has_optimizer: bool
    optimizer_step: int


class TrainingRun(_Response):
    """A training run: one LoRA adapter on a served base model."""

    training_run_id: str
    session_id: str
    base_model: str
    adapter_name: str
    lora_config: LoraConfigInfo
    gradient_accumulation_steps: int
    status: str
    created_at: datetime
    last_checkpoint: Checkpoint | None = None
    metadata: dict[str, str] | None = None


class WhoAmI(_Response):
    """The user an API key belongs to."""

    user_id: str
    user_name: str


class HistoryPoint(_Response):
    """One recorded point of a run's history: an optimizer step (``kind == "train"``), an
    evaluation (``"eval"``) or a training metric report (``"train_metrics"``)."""

    seq: int
    kind: str
    step: int
    loss: float | None = None
    num_tokens: int = 0
    micro_batches: int = 0
    grad_norm: float | None = None
    lr: float | None = None
    step_time_s: float | None = None
    tokens_per_s: float | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    recorded_at: datetime


class TrainConfigs(_Response):
    """A run's configuration and progress (the answer of the setters and ``get_train_configs``)."""

    lora_config: LoraConfigInfo
    gradient_accumulation_steps: int
    template: dict[str, Any] | None = None
    processor: dict[str, Any] | None = None
    loss: dict[str, Any] | None = None
    optimizer: dict[str, Any] | None = None
    lr_scheduler: dict[str, Any] | None = None
    metrics: list[str] = []
    micro_step: int = 0
    optimizer_step: int = 0
    lr: float | None = None


class ForwardOutput(_Response):
    """Result of ``forward``/``forward_only``: the batch's mean loss over its label tokens."""

    loss: float
    num_tokens: int
    logprobs: list[list[float]] | None = None

    def __str__(self) -> str:
        return f"loss={_fmt(self.loss)} num_tokens={self.num_tokens}"


class LossOutput(_Response):
    """Result of ``calculate_loss``."""

    loss: float
    num_tokens: int

    def __str__(self) -> str:
        return f"loss={_fmt(self.loss)} num_tokens={self.num_tokens}"


class BackwardOutput(_Response):
    """Result of ``backward``: micro-batches accumulated so far in the current window."""

    micro_step: int
    accumulation_steps: int

    def __str__(self) -> str:
        return f"micro_step={self.micro_step}/{self.accumulation_steps}"


class ForwardBackwardOutput(_Response):
    """Result of ``forward_backward``: the micro-batch's loss and the accumulation position."""

    loss: float
    num_tokens: int
    logprobs: list[list[float]] | None = None
    micro_step: int
    accumulation_steps: int

    def __str__(self) -> str:
        return (
            f"loss={_fmt(self.loss)} num_tokens={self.num_tokens} "
            f"micro_step={self.micro_step}/{self.accumulation_steps}"
        )


class ClipGradNormOutput(_Response):
    """Result of ``clip_grad_norm``; ``grad_norm`` is None when not at an accumulation boundary."""

    grad_norm: float | None = None
    applied: bool

    def __str__(self) -> str:
        return f"grad_norm={_fmt(self.grad_norm)} applied={self.applied}"


class StepOutput(_Response):
    """Result of ``step``; ``applied`` is False when not at an accumulation boundary."""

    applied: bool
    optimizer_step: int
    lr: float | None = None

    def __str__(self) -> str:
        return f"applied={self.applied} optimizer_step={self.optimizer_step} lr={_fmt(self.lr)}"


class AppliedOutput(_Response):
    """Result of ``zero_grad``."""

    applied: bool

    def __str__(self) -> str:
        return f"applied={self.applied}"


class LrStepOutput(_Response):
    """Result of ``lr_step``: the learning rate after it."""

    applied: bool
    lr: float | None = None

    def __str__(self) -> str:
        return f"applied={self.applied} lr={_fmt(self.lr)}"


class ClipGradAndStepOutput(_Response):
    """Result of ``clip_grad_and_step``."""

    grad_norm: float | None = None
    applied: bool
    optimizer_step: int
    lr: float | None = None

    def __str__(self) -> str:
        return (
            f"grad_norm={_fmt(self.grad_norm)} applied={self.applied} "
            f"optimizer_step={self.optimizer_step} lr={_fmt(self.lr)}"
        )


class MetricOutput(_Response):
    """Result of ``calculate_metric``: metric name -> value."""

    metrics: dict[str, float]

    def __str__(self) -> str:
        return " ".join(f"{k}={_fmt(v)}" for k, v in self.metrics.items()) or "(no metrics)"


class SampledSequence(_Response):
    """One sampled continuation: its tokens, their log-probabilities (when asked) and why it ended."""

    tokens: list[int]
    logprobs: list[float] | None = None
    stop_reason: str

    def __str__(self) -> str:
        return f"{len(self.tokens)} tokens ({self.stop_reason})"


class SampleOutput(_Response):
    """Result of ``sample``: every continuation, prompt-major (all samples of prompt 0 first)."""

    sequences: list[SampledSequence]
    prompt_logprobs: list[list[float | None]] | None = None

    def __str__(self) -> str:
        return f"{len(self.sequences)} sequences"


class TensorInfo(_Response):
    """One tensor of a saved adapter."""

    name: str
    shape: list[int]
    dtype: str


class WeightsInfo(_Response):
    """The tensors of a saved adapter (``get_weights_info``)."""

    checkpoint_id: str
    base_model: str
    lora_config: LoraConfigInfo
    tensors: list[TensorInfo]
    num_parameters: int
    size_bytes: int


class UploadTask(_Response):
    """An upload of a checkpoint to a model hub."""

    upload_id: str
    checkpoint_id: str
    hub: str
    hub_model_id: str
    status: str
    created_at: datetime
    finished_at: datetime | None = None
    url: str | None = None
    error: dict[str, Any] | None = None
    progress: dict[str, Any] | None = None
    """``{"done", "total", "unit": "bytes", "stage"}`` once the upload has started."""


class Task(_Response):
    """A long-running operation (the client follows these itself; shown for completeness)."""

    task_id: str
    status: str
    operation: str
    training_run_id: str | None = None
    created_at: datetime
    finished_at: datetime | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    http_status: int | None = None
    progress: dict[str, Any] | None = None
    """``{"done", "total", "unit", "stage"}`` while the work reports it (rows encoded, ops ahead)."""


class DatasetInfo(_Response):
    """A server-side dataset: its length, columns and whether it is encoded."""

    dataset_id: str
    length: int
    columns: list[str]
    encoded: bool
    template: dict[str, Any] | None = None


class DataLoaderState(_Response):
    """A dataloader's progress, for resuming."""

    consumed_batches: int
    consumed_samples: int
    num_batches: int


class DataLoaderInfo(_Response):
    """A server-side dataloader."""

    dataloader_id: str
    dataset_id: str
    batch_size: int
    shuffle: bool
    seed: int
    drop_last: bool
    epochs: int
    num_batches: int
    state: DataLoaderState


T = TypeVar("T")


class Page(list[T], Generic[T]):
    """One page of a list: iterate it like a list; ``cursor`` says where it sits.

    Example:
        >>> runs = client.list_training_runs(limit=20)
        >>> for run in runs: ...
        >>> runs.cursor.total_count
    """

    def __init__(self, items: Iterable[T], cursor: Cursor) -> None:
        super().__init__(items)
        self.cursor = cursor

    @property
    def total_count(self) -> int:
        """Items in the whole list, over all pages."""
        return self.cursor.total_count

    @property
    def has_more(self) -> bool:
        """Whether a later page holds more items."""
        return self.cursor.offset + len(self) < self.cursor.total_count

    def __repr__(self) -> str:
        return f"Page({list.__repr__(self)}, cursor={self.cursor!r})"
