# Generated from openapi.yaml by `python -m codegen`. Do not edit by hand.
"""Server side of the Twinkle API, generated from openapi.yaml.

`models` holds the pydantic v2 models of every schema; `service.TwinkleService` is the
abstract service (one async method per operationId); `router.build_router(service)` serves it.
"""

from . import models
from .router import SECURITY_SCHEME, build_router, error_response
from .service import Accepted, OperationNotImplemented, RequestContext, TwinkleService

__all__ = [
    "SECURITY_SCHEME",
    "Accepted",
    "OperationNotImplemented",
    "RequestContext",
    "TwinkleService",
    "build_router",
    "error_response",
    "models",
]
