"""Where the weights of a sample (or of a reference policy) come from: a run, a checkpoint, or none.

The batched LoRA layer routes rows by adapter name, and a segment whose name no layer holds adds
no update at all: ``BASE_ADAPTER`` therefore gives base-model rows in the same pass as any run's.
A saved checkpoint is loaded as a *frozen* adapter entry in the same peft model: its parameters
never require grad, no optimizer sees them, it holds no run slot (``max_loras`` counts runs only)
and its dropout is off. Frozen entries are cached by folder (and the folder's write time, so a
checkpoint saved again under the same name is read again) and the least recently used one is
evicted past ``max_entries``; a run's reference policy names a folder, never an entry, so an
evicted entry is simply loaded again when next needed. An entry handed out since the last
``unpin`` (the items of the passes being prepared) is never evicted: the cache may then hold more
than ``max_entries`` until the passes have run.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from peft import LoraConfig

from twinkle_server.engine import checkpoint as ckpt
from twinkle_server.engine.batched_lora import BASE_ADAPTER, routable
from twinkle_server.engine.checks import boolean
from twinkle_server.engine.sampling import SOURCE_KWARGS, SampleRequest, check_sample_request
from twinkle_server.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from twinkle_server.engine.multilora import MultiLoraModel

__all__ = ["BASE_ADAPTER", "DEFAULT_MAX_FROZEN", "FrozenAdapters", "SampleSources"]

DEFAULT_MAX_FROZEN = 4


class FrozenAdapters:
    """Checkpoints loaded as frozen, non-trainable adapters, least recently used evicted first.

    Args:
        model: the peft-wrapped model (a callable: it exists only once the first adapter is added).
        inject: adds an adapter entry ``inject(name, config)`` to the shared model.
        remove: deletes an adapter entry by name.
        model_id: this model's id; a checkpoint of another base model is refused.
        max_entries: frozen entries kept at once.
    """

    def __init__(
        self,
        *,
        model: Callable[[], Any],
        inject: Callable[[str, LoraConfig], None],
        remove: Callable[[str], None],
        model_id: str,
        max_entries: int = DEFAULT_MAX_FROZEN,
    ) -> None:
        self._model, self._inject, self._remove = model, inject, remove
        self._model_id = model_id
        self._max = max(1, max_entries)
        self._entries: OrderedDict[tuple[str, int], str] = OrderedDict()
        self._pinned: set[str] = set()

    @property
    def names(self) -> list[str]:
        return list(self._entries.values())

    def adapter_for(self, folder: str | Path) -> str:
        """The adapter name serving checkpoint ``folder``, loading it (and evicting) when needed."""
        folder = Path(folder)
        key = (str(folder), _written_at(folder))
        name = self._entries.get(key)
        if name is not None:
            self._entries.move_to_end(key)
        else:
            name = "frozen_" + hashlib.sha1(f"{key[0]}\0{key[1]}".encode()).hexdigest()[:16]
            self._load(name, folder)
            self._entries[key] = name
        self._pinned.add(name)
        self._evict()
        return name

    def folder_of(self, name: str) -> str:
        """The checkpoint folder an entry was loaded from (KeyError for an unknown name)."""
        return next(key[0] for key, entry in self._entries.items() if entry == name)

    def unpin(self) -> None:
        """The passes that used the entries handed out so far have run: they may be evicted."""
        self._pinned.clear()
        self._evict()

    def _evict(self) -> None:
        for key in [k for k, n in self._entries.items() if n not in self._pinned]:
            if len(self._entries) <= self._max:
                return
            self._remove(self._entries.pop(key))

    def _load(self, name: str, folder: Path) -> None:
        from peft.utils import get_peft_model_state_dict

        config, weights = ckpt.read_adapter(folder)
        base = config.get("base_model_name_or_path")
        if base not in (None, self._model_id):
            raise InvalidInput(
                f"checkpoint {folder.name} was trained on {base}, not on {self._model_id}; "
                "sample it on its own base model"
            )
        self._inject(name, _frozen_config(config))
        try:
            model = self._model()
            if not routable(model, name):
                raise InvalidInput(
                    f"checkpoint {folder.name} uses LoRA options (DoRA, embedding or convolution "
                    "layers) that batched sampling cannot serve"
                )
            expected = get_peft_model_state_dict(model, adapter_name=name)
            if set(expected) != set(weights) or any(
                tuple(expected[k].shape) != tuple(weights[k].shape) for k in expected
            ):
                raise InvalidInput(f"checkpoint {folder.name}'s weights do not match its adapter config")
            with torch.no_grad():
                for key, tensor in expected.items():
                    tensor.copy_(weights[key].to(device=tensor.device, dtype=tensor.dtype))
        except BaseException:
            self._remove(name)
            raise


def _frozen_config(saved: dict[str, Any]) -> LoraConfig:
    """The checkpoint's LoRA config for inference: no dropout, no initialisation work."""
    known = {f.name for f in dataclasses.fields(LoraConfig)}
    fields = {k: v for k, v in saved.items() if k in known and k not in ("peft_type", "task_type")}
    fields.update(lora_dropout=0.0, inference_mode=True, init_lora_weights=False)
    if isinstance(fields.get("target_modules"), list):
        fields["target_modules"] = sorted(fields["target_modules"])
    try:
        return LoraConfig(**fields)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"the checkpoint's adapter config is unreadable: {exc}") from exc


def _written_at(folder: Path) -> int:
    try:
        return (folder / ckpt.ADAPTER_WEIGHTS).stat().st_mtime_ns
    except OSError:
        return 0


class SampleSources:
    """Builds a sample op's request with its weights: the run's adapter, a checkpoint, or the base.

    Source arguments (engine side, set by the HTTP layer or the local face, never by users
    directly): ``adapter_path`` (a checkpoint folder the caller owns), ``base`` (no adapter),
    ``template_name`` (for chat prompts without a run), ``on_token`` (streaming callback). A sample
    op may come from a run (its queue) or from a sampler's own queue key, which names no run: it
    must then give a checkpoint or the base model.
    """

    def __init__(self, engine: MultiLoraModel, *, max_frozen: int = DEFAULT_MAX_FROZEN) -> None:
        self._engine = engine
        self.frozen = FrozenAdapters(
            model=lambda: engine.peft_model,
            inject=self._inject,
            remove=self._remove,
            model_id=engine.model_id,
            max_entries=max_frozen,
        )
        self.generator = torch.Generator(device=engine.device).manual_seed(0)

    def prepare(self, queue_id: str, kwargs: dict[str, Any]) -> SampleRequest:
        engine = self._engine
        sampling = {k: v for k, v in kwargs.items() if k not in SOURCE_KWARGS}
        folder, base = kwargs.get("adapter_path"), boolean("base", kwargs.get("base", False))
        if folder is not None and base:
            raise InvalidInput("sample from a checkpoint or from the base model, not both")
        run = engine._runs.get(queue_id)
        if run is None and folder is None and not base:
            raise NotFound(f"run {queue_id!r} has no adapter on {engine.model_id}; create the run first")
        if folder is not None or base:
            run_for_template, run = run, None
        else:
            run_for_template = run
        request = check_sample_request(
            run,
            sampling,
            adapter=BASE_ADAPTER,
            generator=run.generator if run is not None else self.generator,
            vocab_size=engine.vocab_size,
            max_length=engine.spec.max_length,
            encode=self._encoder(run_for_template, kwargs.get("template_name")),
        )
        if run is not None:
            request.adapter = run.run_id
        elif folder is not None:
            request.adapter = self.frozen.adapter_for(folder)
        request.on_token = kwargs.get("on_token")
        return request

    def _encoder(self, run: Any, template_name: Any):
        def encode(messages: Any) -> list[int]:
            template = run.template if run is not None and run.template is not None else None
            if template is None:
                template = self._engine.build_template(template_name or "Template", {})
            return template.encode_prompt(messages)

        return encode

    def _inject(self, name: str, config: LoraConfig) -> None:
        self._engine.adapters.add(name, config, 0)

    def _remove(self, name: str) -> None:
        self._engine.adapters.delete(name)
