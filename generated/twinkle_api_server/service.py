# Generated from openapi.yaml by `python -m codegen`. Do not edit by hand.
"""The server-side interface of the Twinkle API: one async method per operationId.

Implement `TwinkleService` (subclass it, override `authenticate` and the operations you
serve) and pass the instance to `twinkle_api_server.router.build_router`.

Method contract (identical for every operation):

    async def <operation_id>(self, ctx: RequestContext, *, <path params>, <query params>,
                             body: <RequestModel> (when the operation has a body),
                             idempotency_key: str | None (on POSTs)) -> <result>

- Path and query parameters arrive validated and converted to their Python types; the body
  arrives as a validated pydantic model (unknown fields were already refused with 422).
  A body the spec marks optional is `None` when the client sent none.
- The result is the success model of the operation (an instance or a dict of its fields;
  it is validated and sent with the success status), or `Accepted(task)` on operations that
  may answer 202 (the Task body is sent with 202), or any `fastapi.Response` (file downloads,
  204, custom headers), which is sent unchanged.
- The default body of every operation raises `OperationNotImplemented`; the router answers
  it with 501 and the error schema (code "not_implemented").
- Domain errors raised here are not handled by the router: the application installs
  exception handlers that map them to the error schema.
"""

from __future__ import annotations

import abc
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response

from . import models

__all__ = ["Accepted", "OperationNotImplemented", "RequestContext", "TwinkleService"]


@dataclass
class RequestContext:
    """What every operation receives besides its parameters.

    `principal` is whatever `TwinkleService.authenticate` returned (None on operations
    without security, such as healthz). `request_id` is `request.state.request_id` when a
    middleware set one, else a fresh uuid4 hex.
    """

    request: Request
    principal: Any
    request_id: str

    @classmethod
    def from_request(cls, request: Request, principal: Any) -> RequestContext:
        request_id = getattr(request.state, "request_id", None) or uuid.uuid4().hex
        return cls(request=request, principal=principal, request_id=str(request_id))


@dataclass
class Accepted:
    """Return this from an operation that may answer 202: the router sends `task` with 202.

    `task` is a `models.Task` or a dict of its fields.
    """

    task: models.Task | dict[str, Any]


class OperationNotImplemented(Exception):
    """Raised by the default operation bodies; the router answers 501 in the error schema."""

    def __init__(self, operation_id: str) -> None:
        super().__init__(f"operation {operation_id!r} is not implemented by this server")
        self.operation_id = operation_id


class TwinkleService(abc.ABC):
    """Abstract Twinkle service: override `authenticate` and the operations you serve."""

    @abc.abstractmethod
    def authenticate(self, request: Request, token: str | None) -> Any:
        """Check the bearer token of a secured operation and return the caller's principal.

        Called by the router before every operation that requires bearer auth, with the token
        from `Authorization: Bearer <token>` (None when absent or not a bearer header). Raise
        to refuse (an exception the application maps to 401). May be a coroutine function.
        """

    async def healthz(
        self,
        ctx: RequestContext,
    ) -> models.Health | Response:
        """GET /healthz: Liveness check.

        Answers while the HTTP server is up; needs no credentials.

        Success: 200 (Health).
        Errors documented: 400, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("healthz")

    async def get_server_capabilities(
        self,
        ctx: RequestContext,
    ) -> models.ServerCapabilities | Response:
        """GET /api/v1/capabilities: Models served, supported components and limits.

        Lists the base models this server serves with their limits, and the names of the losses, optimizers, schedulers, templates, processors, preprocessors and metrics it accepts. Clients use it to check a configuration before creating a run.

        Success: 200 (ServerCapabilities).
        Errors documented: 400, 401, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("get_server_capabilities")

    async def get_capacity(
        self,
        ctx: RequestContext,
    ) -> models.Capacity | Response:
        """GET /api/v1/capacity: Adapter slots per served model.

        For each served model, how many LoRA adapters it can hold, how many are in use and how many are free. create_training_run answers 429 when a model is full.

        Success: 200 (Capacity).
        Errors documented: 400, 401, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("get_capacity")

    async def create_session(
        self,
        ctx: RequestContext,
        *,
        body: models.CreateSessionRequest | None,
        idempotency_key: str | None,
    ) -> models.Session | Response:
        """POST /api/v1/sessions: Open a session.

        A session must be kept alive with heartbeats; when it expires or closes, its adapters are freed.

        Success: 201 (Session).
        Errors documented: 400, 401, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("create_session")

    async def session_heartbeat(
        self,
        ctx: RequestContext,
        *,
        session_id: str,
        body: models.EmptyRequest | None,
        idempotency_key: str | None,
    ) -> models.Session | Response:
        """POST /api/v1/sessions/{session_id}/heartbeat: Keep a session alive.

        Extends the session's expiry; send one at least every heartbeat_interval_s seconds.

        Success: 200 (Session).
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("session_heartbeat")

    async def close_session(
        self,
        ctx: RequestContext,
        *,
        session_id: str,
        body: models.EmptyRequest | None,
        idempotency_key: str | None,
    ) -> models.Session | Response:
        """POST /api/v1/sessions/{session_id}/close: Close a session and free its adapters.

        Releases every training run of the session and frees their adapter slots; checkpoints are kept.

        Success: 200 (Session).
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("close_session")

    async def list_training_runs(
        self,
        ctx: RequestContext,
        *,
        limit: int,
        offset: int,
    ) -> models.TrainingRunList | Response:
        """GET /api/v1/training_runs: List the caller's training runs, newest first.

        Runs of the caller only, newest first, with their last checkpoint.

        Success: 200 (TrainingRunList).
        Errors documented: 400, 401, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("list_training_runs")

    async def create_training_run(
        self,
        ctx: RequestContext,
        *,
        body: models.CreateTrainingRunRequest,
        idempotency_key: str | None,
    ) -> models.TrainingRun | Response:
        """POST /api/v1/training_runs: Add a LoRA adapter to a served base model.

        The run belongs to the session; closing the session releases it.

        Success: 201 (TrainingRun).
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("create_training_run")

    async def get_training_run(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
    ) -> models.TrainingRun | Response:
        """GET /api/v1/training_runs/{run_id}: One training run.

        Another user's run answers 404, exactly like a missing one.

        Success: 200 (TrainingRun).
        Errors documented: 400, 401, 404, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("get_training_run")

    async def set_template(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.SetTemplateRequest,
        idempotency_key: str | None,
    ) -> models.TrainConfigs | Accepted | Response:
        """POST /api/v1/training_runs/{run_id}/set_template: Choose the chat template used to encode `messages` rows.

        Rows sent as chat `messages` are encoded with this template and the run's tokenizer (or `model_id`'s).

        Success: 200 (TrainConfigs).
        Return Accepted(task) to answer 202 with a Task.
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("set_template")

    async def set_processor(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.SetProcessorRequest,
        idempotency_key: str | None,
    ) -> models.TrainConfigs | Accepted | Response:
        """POST /api/v1/training_runs/{run_id}/set_processor: Choose the input processor that collates rows into a batch.

        The processor pads and collates encoded rows into the tensors of one micro-batch.

        Success: 200 (TrainConfigs).
        Return Accepted(task) to answer 202 with a Task.
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("set_processor")

    async def set_loss(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.SetLossRequest,
        idempotency_key: str | None,
    ) -> models.TrainConfigs | Accepted | Response:
        """POST /api/v1/training_runs/{run_id}/set_loss: Choose the loss function.

        The loss is computed on the logits against labels that are already shifted.

        Success: 200 (TrainConfigs).
        Return Accepted(task) to answer 202 with a Task.
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("set_loss")

    async def set_optimizer(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.SetOptimizerRequest,
        idempotency_key: str | None,
    ) -> models.TrainConfigs | Accepted | Response:
        """POST /api/v1/training_runs/{run_id}/set_optimizer: Choose the optimizer and its hyperparameters.

        Replaces the optimizer of the run's adapter; its state starts empty.

        Success: 200 (TrainConfigs).
        Return Accepted(task) to answer 202 with a Task.
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("set_optimizer")

    async def set_lr_scheduler(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.SetLrSchedulerRequest,
        idempotency_key: str | None,
    ) -> models.TrainConfigs | Accepted | Response:
        """POST /api/v1/training_runs/{run_id}/set_lr_scheduler: Choose the learning-rate scheduler.

        Replaces the learning-rate scheduler; it steps on lr_step at accumulation boundaries.

        Success: 200 (TrainConfigs).
        Return Accepted(task) to answer 202 with a Task.
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("set_lr_scheduler")

    async def add_metric(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.AddMetricRequest,
        idempotency_key: str | None,
    ) -> models.TrainConfigs | Accepted | Response:
        """POST /api/v1/training_runs/{run_id}/add_metric: Track one more metric in calculate_metric.

        Adds a metric to those reported by calculate_metric.

        Success: 200 (TrainConfigs).
        Return Accepted(task) to answer 202 with a Task.
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("add_metric")

    async def get_train_configs(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
    ) -> models.TrainConfigs | Response:
        """GET /api/v1/training_runs/{run_id}/train_configs: The run's current configuration and counters.

        What set_* configured so far, with the micro-step and optimizer-step counters.

        Success: 200 (TrainConfigs).
        Errors documented: 400, 401, 404, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("get_train_configs")

    async def forward(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.ForwardRequest,
        idempotency_key: str | None,
    ) -> models.ForwardResult | Accepted | Response:
        """POST /api/v1/training_runs/{run_id}/forward: Forward pass with the loss, keeping activations for a later backward.

        Computes the loss of the batch with gradients enabled and keeps the graph for backward. Operations of one run execute in the order they were sent.

        Success: 200 (ForwardResult).
        Return Accepted(task) to answer 202 with a Task.
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("forward")

    async def forward_only(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.ForwardRequest,
        idempotency_key: str | None,
    ) -> models.ForwardResult | Accepted | Response:
        """POST /api/v1/training_runs/{run_id}/forward_only: Forward pass without gradients (evaluation).

        Computes the loss of the batch without gradients and without changing any state.

        Success: 200 (ForwardResult).
        Return Accepted(task) to answer 202 with a Task.
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("forward_only")

    async def sample(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.SampleRequest,
        idempotency_key: str | None,
    ) -> models.SampleResult | Accepted | Response:
        """POST /api/v1/training_runs/{run_id}/sample: Sample continuations from the run's current adapter.

        Draws `num_samples` continuations of each prompt with the run's adapter exactly as it is now (after every update so far). Requests of several runs on the same base model are decoded together in one batch, each row through its own run's adapter. The same `seed` gives the same tokens; `temperature` 0 gives the argmax continuation. A sampled token's log-probability is under the model's own distribution (temperature 1, no truncation).

        Success: 200 (SampleResult).
        Return Accepted(task) to answer 202 with a Task.
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("sample")

    async def sample_model(
        self,
        ctx: RequestContext,
        *,
        body: models.ModelSampleRequest,
        idempotency_key: str | None,
    ) -> models.SampleResult | Accepted | Response:
        """POST /api/v1/sample: Sample from one of your checkpoints, one of your runs' current adapters, or the base model.

        The sampler's operation: draws continuations from the weights named by `model_path` (a checkpoint of yours, `twinkle://<run_id>/weights/<name>`; another user's answers 404), or by `training_run_id` (that run's adapter as it is now, after the run's earlier requests), or from `base_model` alone (no adapter). A checkpoint is loaded once as a frozen adapter beside the runs' adapters (it takes no run slot) and kept while it is used. Requests of every kind on one base model decode together in one batch, each row through its own weights. Sampling parameters are those of `sample`.

        Success: 200 (SampleResult).
        Return Accepted(task) to answer 202 with a Task.
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("sample_model")

    async def sample_stream(
        self,
        ctx: RequestContext,
        *,
        body: models.ModelSampleRequest,
    ) -> Response:
        """POST /api/v1/sample_stream: Stream the tokens of one continuation of one prompt as they are decoded.

        The body is that of `sample_model`, with exactly one prompt and `num_samples` 1. The answer is `text/event-stream` (server-sent events): a `token` event per decoded token, whose data is `{"token": <id>, "logprob": <number or null>}` (the logprob when `logprobs` was asked), then one `done` event whose data is the whole `SampleResult`, as `sample_model` would have answered it (the same seed gives the same tokens). An error after the stream has started comes as an `error` event whose data is the error body; errors found before it starts answer with their status as usual. A stream is not replayed: send no Idempotency-Key, or expect a retry to sample again.

        Success: 200 (text/event-stream).
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("sample_stream")

    async def calculate_loss(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.EmptyRequest | None,
        idempotency_key: str | None,
    ) -> models.LossResult | Accepted | Response:
        """POST /api/v1/training_runs/{run_id}/calculate_loss: The loss of the last forward pass.

        Returns the loss of the most recent forward pass.

        Success: 200 (LossResult).
        Return Accepted(task) to answer 202 with a Task.
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("calculate_loss")

    async def backward(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.EmptyRequest | None,
        idempotency_key: str | None,
    ) -> models.BackwardResult | Accepted | Response:
        """POST /api/v1/training_runs/{run_id}/backward: Backward pass of the last forward, accumulating gradients.

        Backpropagates the most recent forward pass and counts one micro-batch.

        Success: 200 (BackwardResult).
        Return Accepted(task) to answer 202 with a Task.
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("backward")

    async def forward_backward(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.ForwardRequest,
        idempotency_key: str | None,
    ) -> models.ForwardBackwardResult | Accepted | Response:
        """POST /api/v1/training_runs/{run_id}/forward_backward: Forward and backward in one call, accumulating gradients.

        forward and backward in one call: the usual step of a training loop.

        Success: 200 (ForwardBackwardResult).
        Return Accepted(task) to answer 202 with a Task.
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("forward_backward")

    async def clip_grad_norm(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.ClipGradNormRequest,
        idempotency_key: str | None,
    ) -> models.ClipGradNormResult | Accepted | Response:
        """POST /api/v1/training_runs/{run_id}/clip_grad_norm: Clip the accumulated gradients at an accumulation boundary.

        Takes effect on every Nth micro-batch (N = gradient_accumulation_steps), after gradients are divided by the window's label-token count; elsewhere it answers applied=false.

        Success: 200 (ClipGradNormResult).
        Return Accepted(task) to answer 202 with a Task.
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("clip_grad_norm")

    async def step(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.EmptyRequest | None,
        idempotency_key: str | None,
    ) -> models.StepResult | Accepted | Response:
        """POST /api/v1/training_runs/{run_id}/step: Optimizer step at an accumulation boundary.

        Applies the optimizer on every Nth micro-batch (N = gradient_accumulation_steps); elsewhere it answers applied=false and changes nothing.

        Success: 200 (StepResult).
        Return Accepted(task) to answer 202 with a Task.
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("step")

    async def zero_grad(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.EmptyRequest | None,
        idempotency_key: str | None,
    ) -> models.AppliedResult | Accepted | Response:
        """POST /api/v1/training_runs/{run_id}/zero_grad: Zero the gradients at an accumulation boundary.

        Clears the gradients at an accumulation boundary; elsewhere it answers applied=false.

        Success: 200 (AppliedResult).
        Return Accepted(task) to answer 202 with a Task.
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("zero_grad")

    async def lr_step(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.EmptyRequest | None,
        idempotency_key: str | None,
    ) -> models.LrStepResult | Accepted | Response:
        """POST /api/v1/training_runs/{run_id}/lr_step: Scheduler step at an accumulation boundary.

        Advances the scheduler at an accumulation boundary; elsewhere it answers applied=false.

        Success: 200 (LrStepResult).
        Return Accepted(task) to answer 202 with a Task.
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("lr_step")

    async def clip_grad_and_step(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.ClipGradNormRequest,
        idempotency_key: str | None,
    ) -> models.ClipGradAndStepResult | Accepted | Response:
        """POST /api/v1/training_runs/{run_id}/clip_grad_and_step: clip_grad_norm followed by step, in one call.

        Saves a round trip in the common loop; same boundary rules as its two parts.

        Success: 200 (ClipGradAndStepResult).
        Return Accepted(task) to answer 202 with a Task.
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("clip_grad_and_step")

    async def run_calls(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.RunCallsRequest,
        idempotency_key: str | None,
    ) -> models.RunCallsResult | Accepted | Response:
        """POST /api/v1/training_runs/{run_id}/calls: Several training-loop calls of the run, applied in order, in one request.

        Each call is what its own operation does (`op` names it, `body` is that operation's request body), applied in the order given and after the run's earlier requests. The calls stop at the first one that fails: it is reported `failed` with its error and the status its own operation would have answered, the ones after it `skipped` (not applied). The answer is 200 with every call's outcome even then; a body that is not valid for its operation, or a batch over the request limits (the rows of all its calls count together), is refused as a whole before anything is applied. The Python client sends the calls whose answers a loop rarely reads (`clip_grad_norm`, `step`, `zero_grad`, `lr_step`) with its next call this way: one round trip per micro-batch instead of five.

        Success: 200 (RunCallsResult).
        Return Accepted(task) to answer 202 with a Task.
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("run_calls")

    async def calculate_metric(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.CalculateMetricRequest | None,
        idempotency_key: str | None,
    ) -> models.MetricResult | Accepted | Response:
        """POST /api/v1/training_runs/{run_id}/calculate_metric: The tracked metrics since the last call.

        Aggregates the tracked metrics over the micro-batches since the previous call.

        Success: 200 (MetricResult).
        Return Accepted(task) to answer 202 with a Task.
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("calculate_metric")

    async def list_checkpoints(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        limit: int,
        offset: int,
    ) -> models.CheckpointList | Response:
        """GET /api/v1/training_runs/{run_id}/checkpoints: List a run's checkpoints, newest first.

        Checkpoints of one run, newest first.

        Success: 200 (CheckpointList).
        Errors documented: 400, 401, 404, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("list_checkpoints")

    async def save_checkpoint(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.SaveCheckpointRequest,
        idempotency_key: str | None,
    ) -> models.Checkpoint | Accepted | Response:
        """POST /api/v1/training_runs/{run_id}/checkpoints: Save the adapter (and optionally the optimizer) under a name.

        Writes the adapter in PEFT format (and the optimizer state when asked) and returns its twinkle:// path.

        Success: 200 (Checkpoint).
        Return Accepted(task) to answer 202 with a Task.
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("save_checkpoint")

    async def load_checkpoint(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.LoadCheckpointRequest,
        idempotency_key: str | None,
    ) -> models.TrainConfigs | Accepted | Response:
        """POST /api/v1/training_runs/{run_id}/load: Load a checkpoint into the run's adapter (and optionally its optimizer).

        Loads the adapter weights of one of the caller's checkpoints into this run, and the optimizer state when asked for and saved.

        Success: 200 (TrainConfigs).
        Return Accepted(task) to answer 202 with a Task.
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("load_checkpoint")

    async def get_checkpoint_path(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        checkpoint_id: str,
    ) -> models.Checkpoint | Response:
        """GET /api/v1/training_runs/{run_id}/checkpoints/{checkpoint_id}: One checkpoint, by id or by name.

        Accepts the `ckpt_...` id or the checkpoint's name; the answer carries the twinkle:// path to load.

        Success: 200 (Checkpoint).
        Errors documented: 400, 401, 404, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("get_checkpoint_path")

    async def delete_checkpoint(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        checkpoint_id: str,
    ) -> None | Response:
        """DELETE /api/v1/training_runs/{run_id}/checkpoints/{checkpoint_id}: Delete a checkpoint and its files.

        Removes the checkpoint's record and files.

        Success: 204 (no body).
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("delete_checkpoint")

    async def get_weights_info(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        checkpoint_id: str,
    ) -> models.WeightsInfo | Response:
        """GET /api/v1/training_runs/{run_id}/checkpoints/{checkpoint_id}/weights_info: The tensors stored in a checkpoint.

        Reads the stored safetensors header: tensor names, shapes and dtypes, without loading the weights.

        Success: 200 (WeightsInfo).
        Errors documented: 400, 401, 404, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("get_weights_info")

    async def download_checkpoint(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        checkpoint_id: str,
    ) -> Response:
        """GET /api/v1/training_runs/{run_id}/checkpoints/{checkpoint_id}/archive: Download the checkpoint as a tar.gz of its PEFT adapter folder.

        Streams a tar.gz of the PEFT adapter folder, loadable with peft's PeftModel.from_pretrained after extraction.

        Success: 200 (application/gzip).
        Errors documented: 400, 401, 404, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("download_checkpoint")

    async def upload_checkpoint_to_hub(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        checkpoint_id: str,
        body: models.UploadCheckpointRequest,
        idempotency_key: str | None,
    ) -> models.UploadTask | Response:
        """POST /api/v1/training_runs/{run_id}/checkpoints/{checkpoint_id}/upload: Upload a checkpoint to a model hub in the background.

        Queues an upload of the checkpoint's adapter (adapter_config.json, adapter weights and a README) to the hub and answers at once; get_upload_task reports progress. A hub repository belongs to the user who first published to it through this server; another user gets 403. The training state (optimizer, scheduler, gradients, random state) is published only with include_training_state, and only to a private repository.

        Success: 202 (UploadTask).
        Errors documented: 400, 401, 403, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("upload_checkpoint_to_hub")

    async def get_upload_task(
        self,
        ctx: RequestContext,
        *,
        upload_id: str,
    ) -> models.UploadTask | Response:
        """GET /api/v1/uploads/{upload_id}: The state of a hub upload.

        Poll until status is succeeded (with url) or failed (with error).

        Success: 200 (UploadTask).
        Errors documented: 400, 401, 404, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("get_upload_task")

    async def create_dataset(
        self,
        ctx: RequestContext,
        *,
        body: models.CreateDatasetRequest,
        idempotency_key: str | None,
    ) -> models.DatasetInfo | Accepted | Response:
        """POST /api/v1/datasets: Load a dataset on the server.

        Answers 201 when the load finishes within the wait window, otherwise 202 with a Task.

        Success: 201 (DatasetInfo).
        Return Accepted(task) to answer 202 with a Task.
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("create_dataset")

    async def get_dataset(
        self,
        ctx: RequestContext,
        *,
        dataset_id: str,
    ) -> models.DatasetInfo | Response:
        """GET /api/v1/datasets/{dataset_id}: A dataset's length, columns and state.

        Reports the current length and columns, whether it is encoded, and its template.

        Success: 200 (DatasetInfo).
        Errors documented: 400, 401, 404, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("get_dataset")

    async def dataset_set_template(
        self,
        ctx: RequestContext,
        *,
        dataset_id: str,
        body: models.SetTemplateRequest,
        idempotency_key: str | None,
    ) -> models.DatasetInfo | Response:
        """POST /api/v1/datasets/{dataset_id}/template: Choose the chat template used by encode.

        Chooses the template and tokenizer used by a later encode.

        Success: 200 (DatasetInfo).
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("dataset_set_template")

    async def dataset_map(
        self,
        ctx: RequestContext,
        *,
        dataset_id: str,
        body: models.DatasetMapRequest,
        idempotency_key: str | None,
    ) -> models.DatasetInfo | Accepted | Response:
        """POST /api/v1/datasets/{dataset_id}/map: Apply a named preprocessor to every row.

        Runs a server-side preprocessor (e.g. SelfCognitionProcessor) over every row; init_args are passed to its constructor.

        Success: 200 (DatasetInfo).
        Return Accepted(task) to answer 202 with a Task.
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("dataset_map")

    async def dataset_filter(
        self,
        ctx: RequestContext,
        *,
        dataset_id: str,
        body: models.DatasetFilterRequest,
        idempotency_key: str | None,
    ) -> models.DatasetInfo | Accepted | Response:
        """POST /api/v1/datasets/{dataset_id}/filter: Keep the rows a named filter accepts.

        Runs a server-side filter over every row and keeps the rows it accepts.

        Success: 200 (DatasetInfo).
        Return Accepted(task) to answer 202 with a Task.
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("dataset_filter")

    async def dataset_encode(
        self,
        ctx: RequestContext,
        *,
        dataset_id: str,
        body: models.DatasetEncodeRequest | None,
        idempotency_key: str | None,
    ) -> models.DatasetInfo | Accepted | Response:
        """POST /api/v1/datasets/{dataset_id}/encode: Encode every row into token ids and shifted labels with the dataset's template.

        Turns every row into input_ids, shifted labels (-100 where no loss), attention_mask, position_ids and length. Needs a template (dataset_set_template).

        Success: 200 (DatasetInfo).
        Return Accepted(task) to answer 202 with a Task.
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("dataset_encode")

    async def dataset_add(
        self,
        ctx: RequestContext,
        *,
        dataset_id: str,
        body: models.DatasetAddRequest,
        idempotency_key: str | None,
    ) -> models.DatasetInfo | Accepted | Response:
        """POST /api/v1/datasets/{dataset_id}/add: Load another dataset and keep it alongside this one for mix.

        Loads another source into this dataset's list of parts; dataset_mix combines them.

        Success: 200 (DatasetInfo).
        Return Accepted(task) to answer 202 with a Task.
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("dataset_add")

    async def dataset_mix(
        self,
        ctx: RequestContext,
        *,
        dataset_id: str,
        body: models.DatasetMixRequest | None,
        idempotency_key: str | None,
    ) -> models.DatasetInfo | Accepted | Response:
        """POST /api/v1/datasets/{dataset_id}/mix: Combine the added datasets into one.

        Interleaves (with optional probabilities and seed) or concatenates the parts added with dataset_add.

        Success: 200 (DatasetInfo).
        Return Accepted(task) to answer 202 with a Task.
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("dataset_mix")

    async def get_dataset_row(
        self,
        ctx: RequestContext,
        *,
        dataset_id: str,
        index: int,
    ) -> models.DatasetRow | Response:
        """GET /api/v1/datasets/{dataset_id}/rows/{index}: One row of a dataset.

        One row by zero-based index, as currently stored.

        Success: 200 (DatasetRow).
        Errors documented: 400, 401, 404, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("get_dataset_row")

    async def create_dataloader(
        self,
        ctx: RequestContext,
        *,
        body: models.CreateDataLoaderRequest,
        idempotency_key: str | None,
    ) -> models.DataLoaderInfo | Response:
        """POST /api/v1/dataloaders: Batch a dataset; batches are then fetched by index.

        Splits the dataset into batches over the given epochs. Batches are computed from (index, settings), so fetching one twice gives the same rows.

        Success: 201 (DataLoaderInfo).
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("create_dataloader")

    async def get_dataloader_batch(
        self,
        ctx: RequestContext,
        *,
        dataloader_id: str,
        index: int,
    ) -> models.Batch | Response:
        """GET /api/v1/dataloaders/{dataloader_id}/batches/{index}: One batch by index; a pure function of the index and the dataloader's settings.

        Retry-safe: the same index always gives the same rows.

        Success: 200 (Batch).
        Errors documented: 400, 401, 404, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("get_dataloader_batch")

    async def get_dataloader_state(
        self,
        ctx: RequestContext,
        *,
        dataloader_id: str,
    ) -> models.DataLoaderState | Response:
        """GET /api/v1/dataloaders/{dataloader_id}/state: How far the dataloader has been consumed.

        The resume point recorded with set_dataloader_state.

        Success: 200 (DataLoaderState).
        Errors documented: 400, 401, 404, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("get_dataloader_state")

    async def set_dataloader_state(
        self,
        ctx: RequestContext,
        *,
        dataloader_id: str,
        body: models.SetDataLoaderStateRequest,
        idempotency_key: str | None,
    ) -> models.DataLoaderState | Response:
        """POST /api/v1/dataloaders/{dataloader_id}/state: Record progress, or move the resume point.

        Records how many batches were consumed, so a restarted client resumes from there.

        Success: 200 (DataLoaderState).
        Errors documented: 400, 401, 404, 409, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("set_dataloader_state")

    async def get_task(
        self,
        ctx: RequestContext,
        *,
        task_id: str,
        wait: float,
    ) -> models.Task | Response:
        """GET /api/v1/tasks/{task_id}: A task's state; with `wait`, holds the request until it finishes or the wait ends.

        Holds the request up to `wait` seconds while the task is pending or running. A finished task carries the operation's result (or error) and its HTTP status.

        Success: 200 (Task).
        Errors documented: 400, 401, 404, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("get_task")

    async def whoami(
        self,
        ctx: RequestContext,
    ) -> models.WhoAmI | Response:
        """GET /api/v1/whoami: The user the API key belongs to.

        The caller's user id and name (an open server without keys answers its local user).

        Success: 200 (WhoAmI).
        Errors documented: 400, 401, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("whoami")

    async def get_run_history(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        limit: int,
        offset: int,
        kind: str | None,
    ) -> models.RunHistory | Response:
        """GET /api/v1/training_runs/{run_id}/history: One page of a run's training history, oldest first.

        One point per optimizer step (`train`: loss over the accumulation window, label tokens, micro-batches, grad norm, learning rate, step time), per evaluation (`eval`: calculate_metric with is_training false, with the forward_only loss since the last one) and per training metric report (`train_metrics`). Kept with the run after its session ends. Another user's run answers 404, exactly like a missing one.

        Success: 200 (RunHistory).
        Errors documented: 400, 401, 404, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("get_run_history")

    async def export_run_history_csv(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        kind: str | None,
    ) -> Response:
        """GET /api/v1/training_runs/{run_id}/history/csv: The whole training history of a run as a CSV file.

        Every point, oldest first, as a download. Another user's run answers 404.

        Success: 200 (text/csv).
        Errors documented: 400, 401, 404, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("export_run_history_csv")

    async def export_run_history_json(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        kind: str | None,
    ) -> models.HistoryExport | Response:
        """GET /api/v1/training_runs/{run_id}/history/json: The whole training history of a run as a JSON file.

        Every point, oldest first, as a download. Another user's run answers 404.

        Success: 200 (HistoryExport).
        Errors documented: 400, 401, 404, 413, 422, 429, 500, 503.
        """
        raise OperationNotImplemented("export_run_history_json")
