# Generated from openapi.yaml by `python -m codegen`. Do not edit by hand.
"""Server side of the Twinkle API, generated from openapi.yaml.

`models` holds the pydantic v2 models of every schema (needs only pydantic, so the light
client install can import it); `service.TwinkleService` is the abstract service (one async
method per operationId) and `router.build_router(service)` serves it (both need fastapi and
are imported on first use). `API_VERSION` is the spec's info.version, and `openapi.json`
beside this file is the spec itself.
"""

from importlib import import_module
from typing import Any

from . import models

__all__ = [
    "API_VERSION",
    "SECURITY_SCHEME",
    "Accepted",
    "OperationNotImplemented",
    "RequestContext",
    "TwinkleService",
    "build_router",
    "error_response",
    "models",
]

API_VERSION = "0.3.0"

_LAZY = {
    "SECURITY_SCHEME": "router",
    "build_router": "router",
    "error_response": "router",
    "Accepted": "service",
    "OperationNotImplemented": "service",
    "RequestContext": "service",
    "TwinkleService": "service",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
