# Generated from openapi.yaml by `python -m codegen`. Do not edit by hand.
# Pydantic v2 models of components/schemas (datamodel-code-generator).

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from typing_extensions import TypeAliasType


class ErrorBody(BaseModel):
    code: str
    """
    Stable machine-readable code, e.g. `not_found`, `invalid_input`, `capacity_exceeded`.
    """
    message: str
    """
    What went wrong and how to fix it.
    """
    details: dict[str, Any]
    """
    Structured context (field errors, limits, ids).
    """
    request_id: str


class ErrorResponse(BaseModel):
    error: ErrorBody


class EmptyRequest(BaseModel):
    """
    An operation without parameters; send `{}` or no body.
    """

    model_config = ConfigDict(
        extra="forbid",
    )


StringMapAdditionalProperty = TypeAliasType(
    "StringMapAdditionalProperty", Annotated[str, Field(max_length=1024)]
)


StringMap = TypeAliasType(
    "StringMap", Annotated[dict[str, StringMapAdditionalProperty], Field(max_length=64)]
)
"""
Free-form string labels (at most 64 entries).
"""


class Health(BaseModel):
    status: Literal["ok"]
    version: str


class ModelCapability(BaseModel):
    model_id: str
    max_loras: Annotated[int, Field(ge=0)]
    max_r: Annotated[int, Field(ge=1)]
    max_length: Annotated[int, Field(ge=1)]
    device: str
    dtype: str


class ServerCapabilities(BaseModel):
    version: str
    """
    The server's software version.
    """
    api_version: str
    """
    The API version (semver, the spec's info.version) this server implements.
    """
    min_client_version: str
    """
    The oldest client API version this server serves; older clients get 400 unsupported_client_version.
    """
    models: list[ModelCapability]
    losses: list[str]
    optimizers: list[str]
    lr_schedulers: list[str]
    templates: list[str]
    processors: list[str]
    preprocessors: list[str]
    metrics: list[str]
    max_body_bytes: Annotated[int, Field(ge=1)]


class ModelCapacity(BaseModel):
    model_id: str
    max_loras: Annotated[int, Field(ge=0)]
    used: Annotated[int, Field(ge=0)]
    free: Annotated[int, Field(ge=0)]


class Capacity(BaseModel):
    models: list[ModelCapacity]


class Cursor(BaseModel):
    limit: Annotated[int, Field(ge=1)]
    offset: Annotated[int, Field(ge=0)]
    total_count: Annotated[int, Field(ge=0)]


class CreateSessionRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    metadata: StringMap | None = None


class Session(BaseModel):
    session_id: str
    status: Literal["active", "closed", "expired"]
    created_at: AwareDatetime
    last_heartbeat_at: AwareDatetime
    expires_at: AwareDatetime
    heartbeat_interval_s: float
    """
    Send a heartbeat at least this often.
    """
    metadata: StringMap | None = None


TargetModules = TypeAliasType("TargetModules", Annotated[str, Field(max_length=256, min_length=1)])
"""
Module names to wrap, a regex, or "all-linear" (every linear layer but the output head). The default differs from peft's LoraConfig, whose None picks per-architecture modules: a peft LoraConfig sent by the client must name its target_modules.
"""


TargetModules1Item = TypeAliasType("TargetModules1Item", Annotated[str, Field(max_length=256, min_length=1)])


TargetModules1 = TypeAliasType(
    "TargetModules1", Annotated[list[TargetModules1Item], Field(max_length=256, min_length=1)]
)
"""
Module names to wrap, a regex, or "all-linear" (every linear layer but the output head). The default differs from peft's LoraConfig, whose None picks per-architecture modules: a peft LoraConfig sent by the client must name its target_modules.
"""


class LoraConfig(BaseModel):
    """
    The LoRA settings of an adapter (a subset of peft's LoraConfig).
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    r: Annotated[int, Field(ge=1, le=1024)] = 8
    lora_alpha: Annotated[float, Field(gt=0.0)] = 8
    """
    The LoRA scaling numerator (scale = lora_alpha / r); 8, as in peft's LoraConfig.
    """
    lora_dropout: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    target_modules: TargetModules | TargetModules1 = "all-linear"
    """
    Module names to wrap, a regex, or "all-linear" (every linear layer but the output head). The default differs from peft's LoraConfig, whose None picks per-architecture modules: a peft LoraConfig sent by the client must name its target_modules.
    """
    bias: Literal["none"] = "none"
    """
    Only none: training biases would change the base model that all runs share.
    """
    use_rslora: bool = False
    modules_to_save: Annotated[None, Field(None)] = None
    """
    Not supported; must be null or absent.
    """
    init_lora_weights: bool = True


class CreateTrainingRunRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    session_id: Annotated[str, Field(pattern="^[A-Za-z0-9_-]{1,128}$")]
    """
    A server-generated, URL-safe id such as `run_...`, `ds_...`, `task_...`.
    """
    base_model: Annotated[str, Field(max_length=256, min_length=1)]
    """
    A served model id, e.g. `ms://Qwen/Qwen2.5-7B-Instruct`.
    """
    adapter_name: Annotated[str, Field(pattern="^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    lora_config: LoraConfig | None = None
    gradient_accumulation_steps: Annotated[int, Field(ge=1, le=65536)] = 1
    seed: Annotated[int | None, Field(ge=0, le=4294967295)] = None
    metadata: StringMap | None = None


class Checkpoint(BaseModel):
    checkpoint_id: str
    """
    `ckpt_...`
    """
    training_run_id: str
    name: str
    twinkle_path: str
    """
    `twinkle://<run_id>/weights/<name>`; pass it to load_checkpoint.
    """
    base_model: str
    created_at: AwareDatetime
    size_bytes: Annotated[int, Field(ge=0)]
    has_optimizer: bool
    optimizer_step: Annotated[int, Field(ge=0)]


class TrainingRun(BaseModel):
    training_run_id: str
    """
    `run_...`
    """
    session_id: str
    base_model: str
    adapter_name: str
    lora_config: LoraConfig
    gradient_accumulation_steps: Annotated[int, Field(ge=1)]
    status: Literal["active", "released"]
    created_at: AwareDatetime
    last_checkpoint: Checkpoint | None
    metadata: StringMap


class TrainingRunList(BaseModel):
    training_runs: list[TrainingRun]
    cursor: Cursor


class TrainConfigs(BaseModel):
    lora_config: LoraConfig
    gradient_accumulation_steps: Annotated[int, Field(ge=1)]
    template: dict[str, Any] | None
    """
    The set_template arguments, or null.
    """
    processor: dict[str, Any] | None
    """
    The set_processor arguments, or null.
    """
    loss: dict[str, Any] | None
    """
    The set_loss arguments, or null.
    """
    optimizer: dict[str, Any] | None
    """
    The set_optimizer arguments, or null.
    """
    lr_scheduler: dict[str, Any] | None
    """
    The set_lr_scheduler arguments, or null.
    """
    metrics: list[str]
    micro_step: Annotated[int, Field(ge=0)]
    """
    Micro-batches since the last boundary.
    """
    optimizer_step: Annotated[int, Field(ge=0)]
    """
    Optimizer steps applied so far.
    """
    lr: float | None
    """
    The current learning rate, or null before set_optimizer.
    """


class SetTemplateRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    template_name: Annotated[str, Field(max_length=128, min_length=1)]
    model_id: Annotated[str | None, Field(max_length=256, min_length=1)] = None
    """
    The tokenizer's model; defaults to the run's base model.
    """
    max_length: Annotated[int | None, Field(ge=1, le=1048576)] = None
    truncation_strategy: Literal["raise", "left", "right", "delete"] | None = None
    """
    What to do with a row longer than max_length.
    """


class SetProcessorRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    processor_name: Annotated[str, Field(max_length=128, min_length=1)]
    """
    e.g. InputProcessor
    """
    padding_side: Literal["left", "right"] | None = None


Beta = TypeAliasType("Beta", Annotated[float, Field(ge=0.0, lt=1.0)])


class SetOptimizerRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    optimizer_name: Literal["AdamW", "Adam", "SGD", "default"]
    """
    `default` is AdamW.
    """
    lr: Annotated[float, Field(gt=0.0, le=10.0)] = 0.0001
    weight_decay: Annotated[float | None, Field(ge=0.0)] = None
    betas: Annotated[list[Beta] | None, Field(max_length=2, min_length=2)] = None
    eps: Annotated[float | None, Field(gt=0.0)] = None
    momentum: Annotated[float | None, Field(ge=0.0)] = None
    nesterov: bool | None = None


class SetLrSchedulerRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    scheduler_name: Literal[
        "LinearLR",
        "CosineAnnealingLR",
        "ConstantLR",
        "CosineWarmupScheduler",
        "LinearWarmupScheduler",
        "default",
    ]
    """
    `default` is a linear warmup then linear decay to min_lr.
    """
    start_factor: Annotated[float | None, Field(gt=0.0, le=1.0)] = None
    end_factor: Annotated[float | None, Field(ge=0.0, le=1.0)] = None
    total_iters: Annotated[int | None, Field(ge=1)] = None
    factor: Annotated[float | None, Field(gt=0.0, le=1.0)] = None
    T_max: Annotated[int | None, Field(ge=1)] = None
    eta_min: Annotated[float | None, Field(ge=0.0)] = None
    num_warmup_steps: Annotated[int | None, Field(ge=0)] = None
    num_training_steps: Annotated[int | None, Field(ge=1)] = None
    lr_decay_steps: Annotated[int | None, Field(ge=1)] = None
    max_lr: Annotated[float | None, Field(gt=0.0)] = None
    min_lr: Annotated[float | None, Field(ge=0.0)] = None
    warmup_steps: Annotated[int | None, Field(ge=0)] = None


class AddMetricRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    metric_name: Literal["loss", "grad_norm", "lr", "num_tokens", "accuracy"]


class ChatMessage(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    role: Literal["system", "user", "assistant", "tool"]
    content: Annotated[str, Field(max_length=1048576)]


InputId = TypeAliasType("InputId", Annotated[int, Field(ge=0, le=2147483647)])


Label = TypeAliasType("Label", Annotated[int, Field(ge=-100, le=2147483647)])


AttentionMaskItem = TypeAliasType("AttentionMaskItem", Annotated[int, Field(ge=0, le=1)])


PositionId = TypeAliasType("PositionId", Annotated[int, Field(ge=0, le=2147483647)])


class Row(BaseModel):
    """
    One training example: either encoded (`input_ids` with `labels` already shifted, so `labels[i]` is the target of position `i` and -100 means no loss) or chat `messages`, which the server encodes with the run's template. Exactly one of `input_ids` and `messages` must be present.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    input_ids: Annotated[list[InputId] | None, Field(max_length=131072)] = None
    labels: Annotated[list[Label] | None, Field(max_length=131072)] = None
    attention_mask: Annotated[list[AttentionMaskItem] | None, Field(max_length=131072)] = None
    position_ids: Annotated[list[PositionId] | None, Field(max_length=131072)] = None
    length: Annotated[int | None, Field(ge=0, le=131072)] = None
    messages: Annotated[list[ChatMessage] | None, Field(max_length=1024, min_length=1)] = None
    advantages: Annotated[list[float] | None, Field(max_length=131072)] = None
    """
    Per input token (aligned with labels), the advantage of the label token; read by ImportanceSamplingLoss and PPOLoss.
    """
    sampler_logprobs: Annotated[list[float] | None, Field(max_length=131072)] = None
    """
    Per input token, the log-probability the sampler gave the label token (the `logprobs` of `sample`); read by ImportanceSamplingLoss and PPOLoss.
    """
    weights: Annotated[list[float] | None, Field(max_length=131072)] = None
    """
    Per input token, the weight of the label token's log-probability in LinearLoss (a custom loss's gradient, computed by the client).
    """
    reference_logprobs: Annotated[list[float] | None, Field(max_length=131072)] = None
    """
    Per input token, the reference policy's log-probability of the label token; read by DPOLoss. Send it with every row or with none: without it the server scores the base model as the reference, in the same pass.
    """
    preference: Literal["chosen", "rejected"] | None = None
    """
    DPOLoss: this row is the chosen or the rejected answer of a pair. Every row of such a batch carries it; a pair is two adjacent rows (0 and 1, 2 and 3, ...) or the two rows of one `pair_id`, and holds one chosen and one rejected row, each with label tokens.
    """
    pair_id: Annotated[int | None, Field(ge=0, le=2147483647)] = None
    """
    Names the pair of a preference row; give it on every row or on none (pairs are then adjacent rows).
    """


class DataRow(BaseModel):
    """
    A dataset row as stored; encoded rows carry the Row fields, others their own columns.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    input_ids: list[int] | None = None
    labels: list[int] | None = None
    attention_mask: list[int] | None = None
    position_ids: list[int] | None = None
    length: int | None = None
    messages: list[ChatMessage] | None = None


class SamplePrompt(BaseModel):
    """
    One prompt, as token ids or as chat messages (rendered with the run's template and its generation prompt). Exactly one of the two.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    input_ids: Annotated[list[InputId] | None, Field(max_length=131072, min_length=1)] = None
    messages: Annotated[list[ChatMessage] | None, Field(max_length=1024, min_length=1)] = None


StopItem = TypeAliasType("StopItem", Annotated[str, Field(max_length=256, min_length=1)])


StopTokenId = TypeAliasType("StopTokenId", Annotated[int, Field(ge=0, le=2147483647)])


class SampleRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    prompts: Annotated[list[SamplePrompt], Field(max_length=256, min_length=1)]
    num_samples: Annotated[int, Field(ge=1, le=64)] = 1
    """
    Continuations per prompt.
    """
    max_tokens: Annotated[int, Field(ge=1, le=4096)] = 64
    """
    New tokens per continuation at most.
    """
    temperature: Annotated[float, Field(ge=0.0, le=100.0)] = 1.0
    """
    0 takes the argmax token.
    """
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    """
    Nucleus sampling: keep the smallest set of tokens whose probability reaches top_p.
    """
    top_k: Annotated[int, Field(ge=0, le=2147483647)] = 0
    """
    Keep the k most likely tokens; 0 keeps all.
    """
    stop: Annotated[list[StopItem] | None, Field(max_length=16)] = None
    """
    A continuation ends once its text contains one of these strings.
    """
    stop_token_ids: Annotated[list[StopTokenId] | None, Field(max_length=64)] = None
    """
    A continuation ends at one of these tokens (the model's end-of-sequence token always ends it).
    """
    seed: Annotated[int | None, Field(ge=0, le=4294967295)] = None
    """
    Same seed, same samples; unset draws one from the run's own random state.
    """
    logprobs: bool = False
    """
    Also return each sampled token's log-probability.
    """
    prompt_logprobs: bool = False
    """
    Also return each prompt token's log-probability given the tokens before it.
    """
    model_path: Annotated[str | None, Field(max_length=512, pattern="^twinkle://")] = None
    """
    Sample from this checkpoint of yours (`twinkle://<run_id>/weights/<name>`, on the run's base model) instead of the run's current adapter.
    """


class ModelSampleRequest(BaseModel):
    """
    What to sample from: `model_path` (a checkpoint of yours), or `training_run_id` (one of your runs, its adapter as it is now), or neither (the base model `base_model`, no adapter). `base_model` may be left out when `model_path` or `training_run_id` names the model; given, it must be theirs. The other fields are those of SampleRequest.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    base_model: Annotated[str | None, Field(max_length=256, min_length=1)] = None
    """
    A served model id or alias.
    """
    model_path: Annotated[str | None, Field(max_length=512, pattern="^twinkle://")] = None
    """
    `twinkle://<run_id>/weights/<name>`, a checkpoint of yours.
    """
    training_run_id: Annotated[str | None, Field(pattern="^[A-Za-z0-9_-]{1,128}$")] = None
    """
    A run of yours: sample its current adapter, in the run's order.
    """
    template_name: Annotated[str | None, Field(max_length=128, min_length=1)] = None
    """
    The chat template for `messages` prompts when no run supplies one (default Template).
    """
    prompts: Annotated[list[SamplePrompt], Field(max_length=256, min_length=1)]
    num_samples: Annotated[int, Field(ge=1, le=64)] = 1
    max_tokens: Annotated[int, Field(ge=1, le=4096)] = 64
    temperature: Annotated[float, Field(ge=0.0, le=100.0)] = 1.0
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    top_k: Annotated[int, Field(ge=0, le=2147483647)] = 0
    stop: Annotated[list[StopItem] | None, Field(max_length=16)] = None
    stop_token_ids: Annotated[list[StopTokenId] | None, Field(max_length=64)] = None
    seed: Annotated[int | None, Field(ge=0, le=4294967295)] = None
    logprobs: bool = False
    prompt_logprobs: bool = False


class SampledSequence(BaseModel):
    tokens: list[int]
    logprobs: list[float] | None = None
    """
    Each sampled token's log-probability under the model (temperature 1); absent unless asked.
    """
    stop_reason: Literal["stop", "length"]
    """
    stop: an end token or stop string; length: max_tokens reached.
    """


class SampleResult(BaseModel):
    sequences: list[SampledSequence]
    prompt_logprobs: list[list[float | None]] | None = None
    """
    Per prompt, each token's log-probability given the tokens before it (null for the first token); absent unless asked.
    """


class ForwardRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    inputs: Annotated[list[Row], Field(max_length=1024, min_length=1)]
    return_logprobs: bool = False
    """
    Also return the log-probability of each label token.
    """
    loss_name: (
        Literal["CrossEntropyLoss", "ImportanceSamplingLoss", "PPOLoss", "LinearLoss", "DPOLoss"] | None
    ) = None
    """
    This call's loss (with its defaults) instead of the run's; the run's loss is unchanged.
    """


class ForwardResult(BaseModel):
    loss: float
    """
    Mean loss over the batch's label tokens.
    """
    num_tokens: Annotated[int, Field(ge=0)]
    """
    Label tokens in the batch.
    """
    logprobs: list[list[float]] | None
    """
    Per row, the log-probability of each position's label (0 where the label is -100); null unless asked.
    """


class LossResult(BaseModel):
    loss: float
    num_tokens: Annotated[int, Field(ge=0)]


class BackwardResult(BaseModel):
    micro_step: Annotated[int, Field(ge=0)]
    """
    Micro-batches accumulated in the current window.
    """
    accumulation_steps: Annotated[int, Field(ge=1)]


class ForwardBackwardResult(BaseModel):
    loss: float
    num_tokens: Annotated[int, Field(ge=0)]
    logprobs: list[list[float]] | None
    micro_step: Annotated[int, Field(ge=0)]
    accumulation_steps: Annotated[int, Field(ge=1)]


class ClipGradNormRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    max_norm: Annotated[float, Field(gt=0.0)]
    norm_type: Annotated[float, Field(gt=0.0)] = 2.0


class ClipGradNormResult(BaseModel):
    grad_norm: float | None
    """
    The total norm before clipping; null when not at a boundary.
    """
    applied: bool


class StepResult(BaseModel):
    applied: bool
    """
    False when not at an accumulation boundary.
    """
    optimizer_step: Annotated[int, Field(ge=0)]
    lr: float | None


class AppliedResult(BaseModel):
    applied: bool


class LrStepResult(BaseModel):
    applied: bool
    lr: float | None


class ClipGradAndStepResult(BaseModel):
    grad_norm: float | None
    applied: bool
    optimizer_step: Annotated[int, Field(ge=0)]
    lr: float | None


class RowsCall(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    op: Literal["forward", "forward_only", "forward_backward"]
    body: ForwardRequest


class ClipCall(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    op: Literal["clip_grad_norm", "clip_grad_and_step"]
    body: ClipGradNormRequest


class PlainCall(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    op: Literal["calculate_loss", "backward", "step", "zero_grad", "lr_step"]
    body: EmptyRequest | None = None


class RunCallOutcome(BaseModel):
    op: Literal[
        "forward",
        "forward_only",
        "calculate_loss",
        "backward",
        "forward_backward",
        "clip_grad_norm",
        "step",
        "zero_grad",
        "lr_step",
        "clip_grad_and_step",
        "calculate_metric",
    ]
    """
    A training-loop operation that `run_calls` can carry (its operationId).
    """
    status: Literal["succeeded", "failed", "skipped"]
    """
    `skipped`: not applied, because a call before it failed.
    """
    result: dict[str, Any] | None = None
    """
    The operation's own success body, when succeeded.
    """
    error: ErrorBody | None = None
    """
    The operation's error, when failed.
    """
    http_status: int | None = None
    """
    The status the operation alone would have answered; null when skipped.
    """


class RunCallsResult(BaseModel):
    results: list[RunCallOutcome]


class CalculateMetricRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    is_training: bool = True


class MetricResult(BaseModel):
    metrics: dict[str, float]


class SaveCheckpointRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    name: Annotated[
        str,
        Field(max_length=128, min_length=1, pattern="^[A-Za-z0-9](?:[A-Za-z0-9_-]|\\.[A-Za-z0-9_-])*\\.?$"),
    ]
    """
    Unique within the run; letters, digits, `.`, `_`, `-`; no `..`.
    """
    save_optimizer: bool = False


class LoadCheckpointRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    twinkle_path: Annotated[
        str, Field(pattern="^twinkle://[A-Za-z0-9_-]{1,128}/weights/[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
    ]
    """
    `twinkle://<run_id>/weights/<name>` of a checkpoint you own.
    """
    load_optimizer: bool = False


class CheckpointList(BaseModel):
    checkpoints: list[Checkpoint]
    cursor: Cursor


ShapeItem = TypeAliasType("ShapeItem", Annotated[int, Field(ge=0)])


class TensorInfo(BaseModel):
    name: str
    shape: list[ShapeItem]
    dtype: str


class WeightsInfo(BaseModel):
    checkpoint_id: str
    base_model: str
    lora_config: LoraConfig
    tensors: list[TensorInfo]
    num_parameters: Annotated[int, Field(ge=0)]
    size_bytes: Annotated[int, Field(ge=0)]


class UploadCheckpointRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    hub_model_id: Annotated[
        str,
        Field(max_length=193, pattern="^[A-Za-z0-9]+([._-][A-Za-z0-9]+)*/[A-Za-z0-9]+([._-][A-Za-z0-9]+)*$"),
    ]
    """
    `org/name` on the hub: letters and digits joined by single '.', '_' or '-'.
    """
    hub: Literal["modelscope", "huggingface", "local"] | None = None
    """
    Defaults to the server's configured hub.
    """
    private: bool = True
    include_training_state: bool = False
    """
    Also publish optimizer.pt, scheduler.pt, trainer_state.json, rng_state.pt and grads.pt. Needs private true.
    """
    hub_token: Annotated[str | None, Field(max_length=1024, min_length=1)] = None
    """
    Your own access token for this upload (ModelScope or Hugging Face). Used once, never stored or echoed. Without it the server's token is used, only in namespaces the operator allows.
    """


class TaskProgress(BaseModel):
    """
    `done` of `total` `unit` so far. Encoding counts `rows`; engine work waiting in its model's queue counts `ops` (stage `queued`: `total` is the number of operations that were ahead of it when first asked, `done` how many of them have started since).
    """

    done: Annotated[int, Field(ge=0)]
    total: Annotated[int | None, Field(ge=0)] = None
    """
    Null when unknown.
    """
    unit: str
    """
    `rows`, `bytes` or `ops`.
    """
    stage: str | None = None
    """
    What the work is doing (`encode 5000 rows`, `queued`).
    """


class DataSlice(BaseModel):
    """
    Python slice semantics over the split.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    start: Annotated[int | None, Field(ge=0)] = None
    stop: Annotated[int | None, Field(ge=0)] = None
    step: Annotated[int | None, Field(ge=1)] = None


DataSlice1Item = TypeAliasType("DataSlice1Item", Annotated[int, Field(ge=0, le=2147483647)])


DataSlice1 = TypeAliasType("DataSlice1", Annotated[list[DataSlice1Item], Field(max_length=1048576)])


class DatasetMeta(BaseModel):
    """
    Where rows come from; give `dataset_id` or inline `data`.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    dataset_id: Annotated[str | None, Field(max_length=512, min_length=1)] = None
    """
    `ms://org/name`, `hf://org/name` or a file or folder inside a server data root.
    """
    subset_name: Annotated[str | None, Field(max_length=256)] = None
    split: Annotated[str, Field(max_length=256)] = "train"
    data_slice: DataSlice | DataSlice1 | None = None
    data: Annotated[list[dict[str, Any]] | None, Field(max_length=100000)] = None


class CreateDatasetRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    dataset_meta: DatasetMeta


class DatasetAddRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    dataset_meta: DatasetMeta


class DatasetInfo(BaseModel):
    dataset_id: str
    """
    `ds_...`
    """
    length: Annotated[int, Field(ge=0)]
    columns: list[str]
    encoded: bool
    template: dict[str, Any] | None
    """
    The set_template arguments, or null.
    """


InitArgs1 = TypeAliasType("InitArgs1", Annotated[str, Field(max_length=65536)])


InitArgs = TypeAliasType(
    "InitArgs", Annotated[dict[str, InitArgs1 | int | float | bool], Field(max_length=64)]
)
"""
Keyword arguments for a named preprocessor or filter.
"""


class DatasetMapRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    preprocessor: Annotated[str, Field(max_length=128, min_length=1)]
    init_args: InitArgs | None = None


class DatasetFilterRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    filter_name: Annotated[str, Field(max_length=128, min_length=1)]
    init_args: InitArgs | None = None


class DatasetEncodeRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    batched: bool = True
    num_proc: Annotated[int | None, Field(ge=1, le=64)] = None


Probability = TypeAliasType("Probability", Annotated[float, Field(ge=0.0, le=1.0)])


class DatasetMixRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    mode: Literal["interleave", "concatenate"] = "interleave"
    probabilities: Annotated[list[Probability] | None, Field(max_length=1024)] = None
    seed: Annotated[int | None, Field(ge=0, le=4294967295)] = None


class DatasetRow(BaseModel):
    index: Annotated[int, Field(ge=0)]
    row: DataRow


class CreateDataLoaderRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    dataset_id: Annotated[str, Field(pattern="^[A-Za-z0-9_-]{1,128}$")]
    """
    A server-generated, URL-safe id such as `run_...`, `ds_...`, `task_...`.
    """
    batch_size: Annotated[int, Field(ge=1, le=4096)]
    shuffle: bool = False
    seed: Annotated[int, Field(ge=0, le=4294967295)] = 0
    drop_last: bool = False
    epochs: Annotated[int, Field(ge=1, le=1000)] = 1


class DataLoaderState(BaseModel):
    consumed_batches: Annotated[int, Field(ge=0)]
    consumed_samples: Annotated[int, Field(ge=0)]
    num_batches: Annotated[int, Field(ge=0)]


class DataLoaderInfo(BaseModel):
    dataloader_id: str
    """
    `dl_...`
    """
    dataset_id: str
    batch_size: Annotated[int, Field(ge=1)]
    shuffle: bool
    seed: Annotated[int, Field(ge=0)]
    drop_last: bool
    epochs: Annotated[int, Field(ge=1)]
    num_batches: Annotated[int, Field(ge=0)]
    """
    Batches over all epochs.
    """
    state: DataLoaderState


class SetDataLoaderStateRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    consumed_batches: Annotated[int, Field(ge=0, le=2147483647)]


class Batch(BaseModel):
    index: Annotated[int, Field(ge=0)]
    rows: list[DataRow]


class WhoAmI(BaseModel):
    user_id: str
    user_name: str


class HistoryPoint(BaseModel):
    seq: Annotated[int, Field(ge=1)]
    """
    Position in the run's history, from 1.
    """
    kind: Literal["train", "eval", "train_metrics"]
    """
    `train`: an optimizer step; `eval`: an evaluation; `train_metrics`: a training metric report.
    """
    step: Annotated[int, Field(ge=0)]
    """
    The optimizer step reached (train) or current (others).
    """
    loss: float | None
    """
    Mean loss over the window's label tokens.
    """
    num_tokens: Annotated[int, Field(ge=0)]
    """
    Label tokens of the window.
    """
    micro_batches: Annotated[int, Field(ge=0)]
    grad_norm: float | None
    """
    Norm before clipping; null when not clipped.
    """
    lr: float | None
    step_time_s: float | None
    """
    Wall time since the previous optimizer step.
    """
    tokens_per_s: float | None
    """
    num_tokens / step_time_s.
    """
    metrics: dict[str, float]
    recorded_at: AwareDatetime


class RunHistory(BaseModel):
    training_run_id: str
    points: list[HistoryPoint]
    cursor: Cursor


class HistoryExport(BaseModel):
    training_run_id: str
    points: list[HistoryPoint]


class SetLossRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    loss_name: Literal["CrossEntropyLoss", "ImportanceSamplingLoss", "PPOLoss", "LinearLoss", "DPOLoss"]
    """
    CrossEntropyLoss: minus the label tokens' log-probabilities. ImportanceSamplingLoss: -sum(exp(logprob - sampler_logprob) * advantage). PPOLoss: the clipped surrogate -sum(min(r * A, clip(r, 1 - epsilon, 1 + epsilon) * A)). LinearLoss: sum(weight * logprob), the form a client-computed loss takes. Every loss is a sum over label tokens, divided by the accumulation window's label-token count, except DPOLoss: -sum over pairs of logsigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r))), with pi and ref an answer's summed label-token log-probabilities under the run's adapter and the reference policy (the rows' reference_logprobs, else the base model), divided by the window's pair count (num_tokens then counts pairs).
    """
    epsilon: Annotated[float | None, Field(gt=0.0, lt=1.0)] = None
    """
    PPOLoss: the ratio is clipped to [1 - epsilon, 1 + epsilon] (default 0.2).
    """
    beta: Annotated[float | None, Field(gt=0.0, le=1000.0)] = None
    """
    DPOLoss: the strength of the preference against the reference (default 0.1).
    """
    reference_model_path: Annotated[str | None, Field(max_length=512, pattern="^twinkle://")] = None
    """
    DPOLoss: a checkpoint of yours (on this run's base model) as the reference policy instead of the base model. It is loaded once as a frozen adapter (no run slot) and scored in the same pass as the run. After load_checkpoint, call set_loss again to load it.
    """


class MetricCall(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    op: Literal["calculate_metric"]
    body: CalculateMetricRequest | None = None


class UploadTask(BaseModel):
    upload_id: str
    """
    `upl_...`
    """
    checkpoint_id: str
    hub: Literal["modelscope", "huggingface", "local"]
    hub_model_id: str
    status: Literal["pending", "running", "succeeded", "failed"]
    created_at: AwareDatetime
    finished_at: AwareDatetime | None = None
    url: str | None = None
    """
    The uploaded model's page, when succeeded.
    """
    error: ErrorBody | None = None
    progress: TaskProgress | None = None
    """
    Bytes published so far, once the upload has started; null before.
    """


class Task(BaseModel):
    task_id: str
    """
    `task_...`
    """
    status: Literal["pending", "running", "succeeded", "failed"]
    operation: str
    """
    The operationId that created the task.
    """
    training_run_id: str | None = None
    created_at: AwareDatetime
    finished_at: AwareDatetime | None = None
    result: dict[str, Any] | None = None
    """
    The operation's success body, when succeeded.
    """
    error: ErrorBody | None = None
    """
    The operation's error, when failed.
    """
    http_status: int | None = None
    """
    The status the operation answered (its success or error status) once finished.
    """
    progress: TaskProgress | None = None
    """
    How far the work has got, when it reports it; null before it does.
    """


class RunCallsRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    calls: Annotated[
        list[Annotated[RowsCall | ClipCall | PlainCall | MetricCall, Field(discriminator="op")]],
        Field(max_length=16, min_length=1),
    ]
