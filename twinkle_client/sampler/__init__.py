"""Samplers of a Twinkle server, in twinkle's names: ``vLLMSampler`` (and ``TorchSampler``).

The class name does not choose the backend: the server samples with the backend it was started
with (``sampler_backend``: transformers, or vLLM on a GPU machine that has it); both names are
kept so that code written for twinkle runs unchanged. What a sampler samples from is described in
``twinkle_client.sampler._base``. Streaming (``sample_stream``) reads the server's event stream
directly with httpx: the generated client does not stream.

Example:
    >>> from twinkle_client.sampler import vLLMSampler, SamplingParams
    >>> sampler = vLLMSampler(model_id='ms://Qwen/Qwen2.5-7B-Instruct')
    >>> sampler.add_adapter_to_sampler('step-100', 'twinkle://run_8c1e2d/weights/step-100')
    >>> out = sampler.sample(prompts, SamplingParams(max_tokens=32, seed=0), adapter_name='step-100')
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from twinkle_client._http import check
from twinkle_client._session import get_current_client
from twinkle_client.sampler._base import SampledToken, SamplerBase, SampleResponse, SamplingParams, _Source

if TYPE_CHECKING:
    from twinkle_client.manager import TwinkleClient

__all__ = ["SampleResponse", "SampledToken", "SamplingParams", "TorchSampler", "vLLMSampler"]


class vLLMSampler(SamplerBase):
    """A sampler of base model ``model_id`` on the server.

    Args:
        model_id: a served base model.
        client: the connection; default the current one (``init_twinkle_client``).
    """

    def __init__(self, model_id: str, client: TwinkleClient | None = None, **_twinkle_only: Any) -> None:
        super().__init__(model_id)
        self.client = get_current_client(client)

    def _sample_model(self, source: _Source, body: dict[str, Any]) -> dict[str, Any]:
        return self.client.call("sample_model", body=self._body(source, body))

    def _stream_events(self, source: _Source, body: dict[str, Any]) -> Iterator[tuple[str, Any]]:
        payload = self._body(source, body)
        with self.client._http.stream("POST", "/api/v1/sample_stream", json=payload) as response:
            if response.status_code >= 400:
                response.read()
                check(response)
            yield from _events(response.iter_lines())

    def _body(self, source: _Source, body: dict[str, Any]) -> dict[str, Any]:
        out = {"base_model": self.model_id, **body}
        if source.model is not None:
            out["training_run_id"] = source.model.training_run_id
        elif source.model_path is not None:
            out["model_path"] = source.model_path
        return out


TorchSampler = vLLMSampler


def _events(lines: Iterable[str]) -> Iterator[tuple[str, Any]]:
    """Server-sent events as ``(event name, decoded JSON data)``."""
    name, data = "message", []
    for line in lines:
        if not line:
            if data:
                yield name, json.loads("\n".join(data))
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[len("event:") :].strip()
        elif line.startswith("data:"):
            data.append(line[len("data:") :].strip())
    if data:
        yield name, json.loads("\n".join(data))
