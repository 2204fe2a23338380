"""The local face's samplers: the same classes as ``twinkle_client.sampler``, on the engine in-process.

Requests are validated by the API's own model (``ModelSampleRequest``) and reach the engine with
the arguments the server's HTTP layer gives it: a ``twinkle://`` checkpoint becomes its folder
under the configured data dir, a training model its run's queue, neither the base model. The same
calls therefore give the same tokens here and against a server.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from typing import Any

from twinkle_client.sampler._base import SampledToken, SamplerBase, SampleResponse, SamplingParams, _Source

__all__ = ["SampleResponse", "SampledToken", "SamplingParams", "TorchSampler", "vLLMSampler"]

_LOCAL_QUEUE = "sampler_local"


class vLLMSampler(SamplerBase):
    """A sampler of base model ``model_id`` loaded in this process (shared with the training models).

    Args:
        model_id: a configured model id or alias, as for ``MultiLoraTransformersModel``.
    """

    def __init__(self, model_id: str, **_twinkle_only: Any) -> None:
        super().__init__(model_id)
        from twinkle._runtime import get_runtime

        self._runtime = get_runtime()
        self.worker = self._runtime.worker(model_id)

    def _sample_model(self, source: _Source, body: dict[str, Any]) -> dict[str, Any]:
        queue_id, kwargs = self._engine_call(source, body)
        return self.worker.submit(queue_id, "sample", **kwargs).result()

    def _stream_events(self, source: _Source, body: dict[str, Any]) -> Iterator[tuple[str, Any]]:
        events: queue.Queue[tuple[str, Any]] = queue.Queue()

        def on_token(rows: list[tuple[int, float] | None]) -> None:
            if rows[0] is not None:
                events.put(("token", {"token": rows[0][0], "logprob": rows[0][1]}))

        queue_id, kwargs = self._engine_call(source, body)
        future = self.worker.submit(queue_id, "sample", on_token=on_token, **kwargs)
        future.add_done_callback(lambda f: events.put(("end", f)))
        logprobs = bool(body.get("logprobs"))
        while True:
            name, data = events.get()
            if name == "end":
                data.result()  # raises the engine's error, if any
                return
            yield name, data if logprobs else {**data, "logprob": None}

    def _engine_call(self, source: _Source, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The queue and engine arguments of a sample, as the server's HTTP layer makes them."""
        from twinkle_api_server import models

        from twinkle_server import checkpoints
        from twinkle_server.errors import InvalidInput

        try:
            request = models.ModelSampleRequest.model_validate({**body, "base_model": self.model_id})
        except Exception as exc:  # pydantic.ValidationError, kept light to import
            raise InvalidInput(f"invalid arguments for sample: {exc}") from exc
        kwargs = request.model_dump(mode="json", exclude_unset=True)
        kwargs.pop("base_model")
        if source.model is not None:
            return source.model.training_run_id, kwargs
        if source.model_path is not None:
            run_id, name = checkpoints.parse_twinkle_path(source.model_path)
            folder = checkpoints.checkpoint_dir(self._runtime.settings.data_dir, run_id, name)
            return _LOCAL_QUEUE, {**kwargs, "adapter_path": str(folder)}
        return _LOCAL_QUEUE, {**kwargs, "base": True}


TorchSampler = vLLMSampler
