"""Code generation from openapi.yaml: `python -m codegen` (write) and `python -m codegen --check`."""

from .generate import PACKAGES, check, generate_into, write

__all__ = ["PACKAGES", "check", "generate_into", "write"]
