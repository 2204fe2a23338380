"""Render the route stubs (service.py, router.py, __init__.py) from the Jinja templates.

The templates hold the code shape; `spec.load_operations` holds the facts. Only the few
derived strings (return annotations, docstrings) are computed here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from .spec import Operation, load_operations

__all__ = ["render_stubs"]

TEMPLATES = Path(__file__).parent / "templates"
BANNER = "# Generated from openapi.yaml by `python -m codegen`. Do not edit by hand."


def _return_annotation(op: Operation) -> str:
    assert op.success is not None
    if op.kind == "json":
        parts = [f"models.{op.success.model}"]
    elif op.kind == "empty":
        parts = ["None"]
    else:
        parts = []
    if op.accepted is not None:
        parts.append("Accepted")
    parts.append("Response")
    return " | ".join(parts)


def _docstring(op: Operation) -> str:
    assert op.success is not None
    lines = [f"{op.method.upper()} {op.path}: {op.summary or op.operation_id}"]
    if op.description:
        lines += ["", " ".join(op.description.split())]
    success = op.success.model or op.success.content_type or "no body"
    lines += ["", f"Success: {op.success.status} ({success})."]
    if op.accepted is not None:
        lines.append(f"Return Accepted(task) to answer {op.accepted.status} with a Task.")
    lines.append("Errors documented: " + ", ".join(str(e.status) for e in op.errors) + ".")
    text = "\n".join(lines).replace('"""', "'''").replace("\\", "\\\\")
    return text.replace("\n", "\n        ") + "\n        "


def _security_scheme(spec: dict[str, Any]) -> str:
    schemes = spec.get("components", {}).get("securitySchemes", {})
    bearer = [name for name, s in schemes.items() if s.get("type") == "http" and s.get("scheme") == "bearer"]
    if len(bearer) != 1:
        raise ValueError("the spec must define exactly one http bearer security scheme")
    return bearer[0]


def render_stubs(spec: dict[str, Any]) -> dict[str, str]:
    """File name -> source text of the route-stub modules."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["pyrepr"] = repr
    ops = load_operations(spec)
    for op in ops:
        op.return_annotation = _return_annotation(op)  # type: ignore[attr-defined]
        op.docstring = _docstring(op)  # type: ignore[attr-defined]
    context = {
        "banner": BANNER,
        "operations": ops,
        "security_scheme": _security_scheme(spec),
        "api_version": str(spec["info"]["version"]),
    }
    return {
        name: env.get_template(f"{name}.jinja").render(context)
        for name in ("__init__.py", "service.py", "router.py")
    }
