"""Tag ``service``: health, capabilities and capacity."""

from __future__ import annotations

from typing import Any

from twinkle_api_server.service import RequestContext

import twinkle_server
from twinkle_server.api.base import ServiceBase
from twinkle_server.api.versioning import API_VERSION, MIN_CLIENT_VERSION

__all__ = ["ServiceOps", "component_names"]


def _names(module: str, attr: str, fallback: tuple[str, ...] = ()) -> list[str]:
    import importlib

    try:
        registry = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return list(fallback)
    return sorted(str(name) for name in registry)


def component_names() -> dict[str, list[str]]:
    """The names the engine and the data pipeline accept, read from their registries."""
    return {
        "losses": _names("twinkle_server.engine.loss", "LOSSES"),
        "optimizers": _names("twinkle_server.engine.optim", "OPTIMIZERS"),
        "lr_schedulers": _names("twinkle_server.engine.schedulers", "SCHEDULERS"),
        "templates": _names("twinkle_server.data.templates", "TEMPLATE_NAMES"),
        "processors": _names("twinkle_server.engine.processor", "PROCESSORS"),
        "preprocessors": _names("twinkle_server.data.preprocessors", "PREPROCESSORS"),
        "metrics": _names("twinkle_server.engine.metrics", "METRIC_NAMES"),
    }


class ServiceOps(ServiceBase):
    _components: dict[str, list[str]] | None = None

    async def healthz(self, ctx: RequestContext) -> Any:
        return {"status": "ok", "version": twinkle_server.__version__}

    async def get_server_capabilities(self, ctx: RequestContext) -> Any:
        if self._components is None:
            self._components = component_names()
        models = [
            {
                "model_id": m.model_id,
                "max_loras": m.max_loras,
                "max_r": m.max_r,
                "max_length": m.max_length,
                "device": m.device,
                "dtype": m.dtype,
            }
            for m in self.runtime.settings.models
        ]
        return {
            "version": twinkle_server.__version__,
            "api_version": API_VERSION,
            "min_client_version": MIN_CLIENT_VERSION,
            "models": models,
            **self._components,
            "max_body_bytes": self.runtime.settings.max_body_bytes,
        }

    async def get_capacity(self, ctx: RequestContext) -> Any:
        models = []
        for model_id, worker in self.runtime.workers.items():
            cap = worker.capacity()
            models.append(
                {"model_id": model_id, "max_loras": cap.max_loras, "used": cap.used, "free": cap.free}
            )
        return {"models": models}
