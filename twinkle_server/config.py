"""Server settings: one validated object, read from a YAML file and then the environment.

Why by hand rather than pydantic-settings: the server must start on machines where only pydantic is
installed. The rules are short:

* The YAML file (optional) gives any field; unknown keys are refused, so a typo fails at start-up
  instead of being silently ignored.
* ``TWINKLE_<FIELD>`` overrides a top-level field (``TWINKLE_PORT=9000``,
  ``TWINKLE_DATA_DIR=/srv/twinkle``); ``TWINKLE_<FIELD>__<SUB>`` reaches one level down
  (``TWINKLE_HUBS__DEFAULT=modelscope``). Values of list, dict or model fields are parsed as
  YAML/JSON (``TWINKLE_DATA_ROOTS='["/data/a", "/data/b"]'``). Environment variables that name no
  field are ignored, because the client shares the ``TWINKLE_`` prefix.
* Fields left unset that depend on ``data_dir`` (``data_roots``, ``database_url``, ``hub_cache_dir``,
  ``hubs.local_dir``) are derived from it after the merge, so moving the data dir moves them all.
* Relative paths are resolved against the current directory.

Example::

    settings = load_settings(Path("twinkle.yaml"))
    settings.find_model("Qwen/Qwen2.5-7B-Instruct")   # -> ServedModel or None
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from twinkle_server.errors import InvalidInput

__all__ = [
    "ENV_PREFIX",
    "HubSettings",
    "ServedModel",
    "Settings",
    "load_settings",
]

ENV_PREFIX = "TWINKLE_"
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ServedModel(_Strict):
    """One base model the server loads, and the limits of the adapters trained on it."""

    model_id: str = Field(min_length=1, description="The id users send, e.g. Qwen/Qwen2.5-7B-Instruct.")
    path: str | None = Field(
        default=None, description="Local folder, alias or hub id to load from; defaults to model_id."
    )
    aliases: list[str] = Field(default_factory=list, description="Other ids users may send for it.")
    device: str = Field(default="auto", description="auto, cpu, mps, cuda or cuda:N.")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    max_loras: int = Field(default=8, ge=1, description="Adapters trained at once on this model.")
    max_r: int = Field(default=64, ge=1, description="Largest LoRA rank accepted.")
    max_length: int = Field(default=2048, ge=1, description="Longest sequence accepted, in tokens.")
    random_init: bool = Field(default=False, description="Build from config.json without loading weights.")
    fuse: bool = Field(
        default=True, description="Run several runs' forward work in shared passes over the base model."
    )
    fusion_wait_ms: float = Field(
        default=20.0,
        ge=0,
        le=1000,
        description="How long forward work may wait for the runs of the last pass and those due at its pace.",
    )
    loss_chunk_tokens: int | None = Field(
        default=1024, ge=0, description="Label positions whose logits exist at once; 0: all together."
    )
    fused_optimizer: bool = Field(
        default=True, description="A run's optimizer steps all its tensors at once (fused kernel on CUDA)."
    )
    pack_rows: bool = Field(
        default=True, description="Lay a pass's short rows end to end (across runs) instead of padding each."
    )
    activation_checkpointing: bool = Field(
        default=False,
        description="Recompute each decoder layer in the backward instead of keeping its activations "
        "(far less memory, about a third more compute).",
    )
    pass_token_budget: int | None = Field(
        default=None, ge=1, description="Positions per fused pass; unset: derived from free device memory."
    )
    sampler_backend: Literal["transformers", "vllm"] = Field(
        default="transformers",
        description="Who decodes samples: transformers (any device) or vLLM with LoRA (a GPU with vllm).",
    )
    max_frozen_adapters: int = Field(
        default=4, ge=1, description="Checkpoints kept loaded for sampling and as DPO references."
    )
    shard_ranks: int = Field(
        default=1,
        ge=1,
        description="Processes (GPUs cuda:0..N-1, or the CPU) the decoder layers are sharded across; "
        "1: the whole model in the server process.",
    )

    @field_validator("sampler_backend")
    @classmethod
    def _check_sampler_backend(cls, value: str) -> str:
        if value == "vllm" and importlib.util.find_spec("vllm") is None:
            raise ValueError(
                "sampler_backend 'vllm' needs the vllm package, which is not installed in this "
                "environment: install vllm on a GPU machine (docs/gpu.md), or use sampler_backend "
                "'transformers'"
            )
        return value

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        if not _DEVICE_RE.match(value):
            raise ValueError(f"device must be auto, cpu, mps, cuda or cuda:N, not {value!r}")
        return value

    @model_validator(mode="after")
    def _check_sharding(self) -> ServedModel:
        if self.shard_ranks > 1 and self.sampler_backend == "vllm":
            raise ValueError("shard_ranks > 1 needs sampler_backend 'transformers' (vLLM is not sharded)")
        if self.shard_ranks > 1 and self.device == "mps":
            raise ValueError("shard_ranks > 1 needs CUDA devices or the CPU, not mps")
        if self.shard_ranks > 1 and self.activation_checkpointing:
            # Not yet checked: recomputing a sharded layer gathers its weights again in the backward.
            raise ValueError(
                "activation_checkpointing needs shard_ranks 1 (sharded models do not checkpoint yet)"
            )
        return self

    @property
    def ids(self) -> list[str]:
        """Every id that names this model: its model_id first, then the aliases."""
        return [self.model_id, *self.aliases]


class HubSettings(_Strict):
    """Where checkpoints can be uploaded; tokens are read from the named environment variables."""

    default: Literal["local", "modelscope", "huggingface"] = "local"
    local_dir: Path | None = Field(default=None, description="Local-folder hub root; data_dir/hub if unset.")
    modelscope_token_env: str = "MODELSCOPE_API_TOKEN"
    huggingface_token_env: str = "HF_TOKEN"
    server_token_namespaces: list[str] = Field(
        default_factory=list,
        description=(
            "Hub namespaces (the 'org' of 'org/name') the server's own ModelScope/Hugging Face token "
            "may publish into; '*' allows every namespace. Elsewhere users send their own hub_token."
        ),
    )


class Settings(_Strict):
    """Everything the server reads at start-up. Build it with :func:`load_settings`."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    data_dir: Path = Path("twinkle-data")
    data_roots: list[Path] | None = Field(
        default=None, description="Folders users may name data files in; data_dir/datasets if unset."
    )
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; sqlite in data_dir if unset.")
    models: list[ServedModel] = Field(default_factory=list)
    dataset_aliases: dict[str, str] = Field(default_factory=dict, description="dataset id -> local path")
    hub_cache_dir: Path | None = Field(
        default=None, description="Local hub cache; data_dir/hub_cache if unset."
    )
    session_timeout_s: float = Field(default=120.0, gt=0)
    heartbeat_interval_s: float = Field(default=10.0, gt=0)
    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    wait_window_s: float = Field(default=2.0, ge=0)
    recovery_snapshot_every: int = Field(
        default=10,
        ge=0,
        description=(
            "With several replicas (--ray): optimizer steps between a run's recovery snapshots; a run "
            "moved off a lost replica replays at most this many steps of its journal. 0: no snapshots."
        ),
    )
    idempotency_ttl_s: float = Field(default=86400.0, gt=0)
    instance_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description=(
            "A server process sharing the database that has not beaten for this long is taken for "
            "gone: its runs are released and its tasks failed. Each process beats every sixth of it."
        ),
    )
    max_rows_per_request: int = Field(
        default=256, ge=1, description="Rows one forward/forward_only/forward_backward request may carry."
    )
    max_tokens_per_request: int = Field(
        default=65536,
        ge=1,
        description="Rows x longest encoded row of one forward request (the padded batch it becomes).",
    )
    max_dataset_rows: int = Field(
        default=200_000, ge=1, description="Rows a dataset may have, and indices a data_slice list may name."
    )
    # -- per-user quotas (an operator overrides them per API key: twinkle-server keys limits) -----
    max_runs_per_user: int | None = Field(
        default=None,
        ge=1,
        description="Adapters (active training runs) one user may hold on one model; unset: max_loras.",
    )
    max_tasks_per_user: int = Field(
        default=64,
        ge=1,
        description="Engine and data operations one user may have queued or running at once.",
    )
    # A training loop makes five calls per micro-batch; on a GPU a small micro-batch takes tens of
    # milliseconds, so an honest loop sends 100+ requests a second. The limit is against floods;
    # engine work is bounded by max_tasks_per_user.
    rate_limit_per_s: float | None = Field(
        default=500.0, gt=0, description="Requests per second one user may send on average; unset: no limit."
    )
    rate_limit_burst: int = Field(
        default=1000, ge=1, description="Requests one user may send at once above the average rate."
    )
    engine_threads: int | None = Field(
        default=None,
        ge=1,
        description=(
            "CPU threads each model's torch operations may use; unset: torch's default divided among "
            "the served models (more threads than CPUs in all slow every model's passes about 2x)."
        ),
    )
    encode_max_procs: int = Field(
        default=2,
        ge=1,
        le=1024,
        description=(
            "Worker processes all dataset encodes may use together (a request's num_proc is capped "
            "by it, by the CPU count and by its rows); 1 encodes in the request's thread."
        ),
    )
    extra_template_names: list[str] = Field(
        default_factory=list,
        description=(
            "Template names accepted besides 'Template' (e.g. 'Qwen2_5Template' from twinkle scripts); "
            "each is served by the generic Template, which uses the tokenizer's chat template."
        ),
    )
    hubs: HubSettings = Field(default_factory=HubSettings)
    allow_unauthenticated_non_loopback: bool = False
    # -- seeing training: history, operator metrics, logs ------------------------------------
    history_flush_interval_s: float = Field(
        default=0.5, gt=0, le=60, description="How often recorded training steps are written in a batch."
    )
    metrics_enabled: bool = Field(default=True, description="Serve Prometheus metrics at GET /metrics.")
    dashboard_enabled: bool = Field(default=True, description="Serve the web dashboard at /dashboard/.")
    metrics_token_env: str | None = Field(
        default="TWINKLE_METRICS_TOKEN",
        description="Environment variable holding the operator token for /metrics.",
    )
    metrics_operators: list[str] = Field(
        default_factory=list, description="Users whose API keys may read /metrics (operators)."
    )
    metrics_allow_loopback: bool = Field(
        default=True, description="Clients on this machine may read /metrics without a credential."
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="json: one JSON object per log line, with the request id."
    )
    access_log: bool = Field(default=True, description="A log line per HTTP request.")

    @model_validator(mode="after")
    def _derive_and_check(self) -> Settings:
        # Assign through __dict__ so validate_assignment does not re-enter this validator.
        data_dir = self.data_dir.expanduser().resolve()
        self.__dict__["data_dir"] = data_dir
        roots = self.data_roots if self.data_roots is not None else [data_dir / "datasets"]
        self.__dict__["data_roots"] = [p.expanduser().resolve() for p in roots]
        if self.database_url is None:
            self.__dict__["database_url"] = f"sqlite:///{data_dir / 'twinkle.db'}"
        cache = self.hub_cache_dir if self.hub_cache_dir is not None else data_dir / "hub_cache"
        self.__dict__["hub_cache_dir"] = cache.expanduser().resolve()
        local = self.hubs.local_dir if self.hubs.local_dir is not None else data_dir / "hub"
        self.hubs.__dict__["local_dir"] = local.expanduser().resolve()
        if self.heartbeat_interval_s >= self.session_timeout_s:
            raise ValueError(
                f"heartbeat_interval_s ({self.heartbeat_interval_s}) must be below "
                f"session_timeout_s ({self.session_timeout_s}), or every session would expire"
            )
        seen: dict[str, str] = {}
        for model in self.models:
            for name in model.ids:
                if name in seen:
                    raise ValueError(
                        f"model id {name!r} is used by both {seen[name]!r} and {model.model_id!r}"
                    )
                seen[name] = model.model_id
        return self

    def find_model(self, model_id: str) -> ServedModel | None:
        """The served model that ``model_id`` names (its id or an alias), or None."""
        for model in self.models:
            if model_id in model.ids:
                return model
        return None

    @property
    def checkpoints_dir(self) -> Path:
        """Root of every checkpoint folder (see twinkle_server.checkpoints)."""
        return self.data_dir / "checkpoints"


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"config file {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidInput(f"config file {path} must hold a mapping of settings, not {type(data).__name__}")
    return data


def _is_structured(model: type[BaseModel], field: str) -> bool:
    """True for fields whose env value should be parsed as YAML/JSON (lists, dicts, models)."""
    annotation = str(model.model_fields[field].annotation)
    return any(word in annotation for word in ("list", "dict", "Settings", "ServedModel"))


def _parse_env_value(model: type[BaseModel], field: str, raw: str, var: str) -> Any:
    if not _is_structured(model, field):
        return raw  # pydantic's lax mode turns "8000" into 8000 and "true" into True
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"environment variable {var} must hold YAML or JSON: {exc}") from exc


def _apply_env(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, str]:
    """Merge TWINKLE_* variables into ``data``; returns field path -> variable name, for errors."""
    sources: dict[str, str] = {}
    fields = Settings.model_fields
    for var in sorted(env):
        if not var.startswith(ENV_PREFIX):
            continue
        parts = var[len(ENV_PREFIX) :].lower().split("__")
        top = parts[0]
        if top not in fields:
            continue
        if len(parts) == 1:
            data[top] = _parse_env_value(Settings, top, env[var], var)
            sources[top] = var
        elif len(parts) == 2 and top == "hubs":
            sub = parts[1]
            if sub not in HubSettings.model_fields:
                known = ", ".join(sorted(HubSettings.model_fields))
                raise InvalidInput(
                    f"environment variable {var}: hubs has no setting {sub!r} (known: {known})"
                )
            section = data.get("hubs")
            if not isinstance(section, dict):
                section = {}
            section[sub] = _parse_env_value(HubSettings, sub, env[var], var)
            data["hubs"] = section
            sources[f"hubs.{sub}"] = var
        else:
            raise InvalidInput(
                f"environment variable {var} cannot be applied: only TWINKLE_<FIELD> and "
                "TWINKLE_HUBS__<FIELD> are understood; give lists and dicts as JSON"
            )
    return sources


def _explain(exc: ValidationError, origin: str, sources: dict[str, str]) -> InvalidInput:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(settings)"
        var = next((v for k, v in sources.items() if loc == k or loc.startswith(k + ".")), None)
        where = f" (from {var})" if var else ""
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown setting; check its spelling"
        lines.append(f"  {loc}{where}: {message}")
    return InvalidInput(
        f"invalid server settings in {origin}:\n" + "\n".join(lines),
        details={"errors": [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]},
    )


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read settings from ``path`` (YAML, optional) and then ``env`` (default ``os.environ``).

    Raises:
        InvalidInput: the file is unreadable or not YAML, or a value is invalid or unknown. The
            message lists every problem with its dotted location and, for overrides, the variable.
    """
    env = os.environ if env is None else env
    data = _read_yaml(Path(path)) if path is not None else {}
    sources = _apply_env(data, env)
    origin = str(path) if path is not None else "the environment"
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise _explain(exc, origin, sources) from None
