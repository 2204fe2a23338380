"""The operations of ``openapi.yaml`` as data, for tests that must cover every one of them.

A test built on this covers an operation added to the spec without being edited: it walks the
spec's paths, fills each path parameter from ids it holds (a parameter it cannot fill is an
error the test reports), and sends the request body the spec itself gives as its example.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
_METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class SpecOperation:
    """One operation: method, path template, the names of its path parameters, an example body."""

    operation_id: str
    method: str
    path: str
    path_params: tuple[str, ...]
    body: dict[str, Any] | None
    body_problem: str | None  # why no body could be made from the spec, if one is needed

    def url(self, values: dict[str, Any]) -> str:
        return re.sub(r"{(\w+)}", lambda m: str(values[m.group(1)]), self.path)


def load_spec() -> dict[str, Any]:
    return yaml.safe_load((REPO / "openapi.yaml").read_text(encoding="utf-8"))


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = spec
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _example_body(spec: dict[str, Any], op: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    body = op.get("requestBody")
    if body is None:
        return None, None
    media = body.get("content", {}).get("application/json")
    if media is None:
        return None, "the request body is not JSON"
    schema = _resolve(spec, media.get("schema", {}))
    example = media.get("example", schema.get("example"))
    if isinstance(example, dict):
        return example, None
    if not schema.get("required"):
        return {}, None
    return None, f"the body needs {schema['required']} and the spec gives no example"


def operations(spec: dict[str, Any] | None = None) -> list[SpecOperation]:
    """Every operation of the spec, in the spec's order."""
    spec = spec or load_spec()
    found = []
    for path, item in spec["paths"].items():
        for method in _METHODS:
            op = item.get(method)
            if op is None:
                continue
            body, problem = _example_body(spec, op)
            found.append(
                SpecOperation(
                    operation_id=op["operationId"],
                    method=method.upper(),
                    path=path,
                    path_params=tuple(re.findall(r"{(\w+)}", path)),
                    body=body,
                    body_problem=problem,
                )
            )
    return found


def id_operations(spec: dict[str, Any] | None = None) -> list[SpecOperation]:
    """The operations whose path names a resource by id (a parameter ending in ``_id``)."""
    return [op for op in operations(spec) if any(p.endswith("_id") for p in op.path_params)]
