"""Read openapi.yaml into the small operation table the route-stub templates need.

The spec is the single source of truth; this module only resolves local `$ref`s and
flattens each operation into plain data (params, body model, responses), so the Jinja
templates stay free of OpenAPI logic. Anything the stubs cannot express fails loudly here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Operation", "Param", "ResponseInfo", "load_operations", "load_spec", "resolve"]

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
_REF_PREFIX = "#/components/"
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


class SpecError(ValueError):
    """The spec has a shape the generated route stubs cannot serve."""


@dataclass(frozen=True)
class Param:
    """One path, query or header parameter with its Python annotation text."""

    name: str
    location: str
    required: bool
    py_type: str
    annotation: str
    default: str | None
    description: str | None


@dataclass(frozen=True)
class ResponseInfo:
    """One documented response: its status, description and body model (if JSON)."""

    status: int
    description: str
    model: str | None
    content_type: str | None


@dataclass
class Operation:
    """Everything the service and router templates need about one operationId."""

    operation_id: str
    method: str
    path: str
    tags: list[str]
    summary: str | None
    description: str | None
    secured: bool
    path_params: list[Param] = field(default_factory=list)
    query_params: list[Param] = field(default_factory=list)
    idempotency: Param | None = None
    body_model: str | None = None
    body_required: bool = False
    success: ResponseInfo | None = None
    accepted: ResponseInfo | None = None
    errors: list[ResponseInfo] = field(default_factory=list)

    @property
    def kind(self) -> str:
        """`json` (a model body), `binary` (a file download) or `empty` (204)."""
        assert self.success is not None
        if self.success.model is not None:
            return "json"
        if self.success.content_type is not None:
            return "binary"
        return "empty"


def load_spec(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        spec = yaml.safe_load(fh)
    if not isinstance(spec, dict) or not str(spec.get("openapi", "")).startswith("3.1"):
        raise SpecError(f"{path} is not an OpenAPI 3.1 document")
    return spec


def resolve(spec: dict[str, Any], node: Any) -> Any:
    """Follow local `$ref`s until a concrete node is reached."""
    seen: set[str] = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith(_REF_PREFIX) or ref in seen:
            raise SpecError(f"unsupported or circular $ref {ref!r}")
        seen.add(ref)
        target: Any = spec
        for part in ref[2:].split("/"):
            target = target[part]
        node = target
    return node


def _ref_name(node: Any) -> str | None:
    if isinstance(node, dict) and "$ref" in node and node["$ref"].startswith("#/components/schemas/"):
        return node["$ref"].rsplit("/", 1)[1]
    return None


_PY_TYPES = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}
_CONSTRAINTS = (
    ("minimum", "ge"),
    ("maximum", "le"),
    ("exclusiveMinimum", "gt"),
    ("exclusiveMaximum", "lt"),
    ("minLength", "min_length"),
    ("maxLength", "max_length"),
    ("pattern", "pattern"),
)


def _param(spec: dict[str, Any], raw: dict[str, Any]) -> Param:
    p = resolve(spec, raw)
    name, location = p["name"], p["in"]
    schema = resolve(spec, p.get("schema", {}))
    py_type = _PY_TYPES.get(schema.get("type", ""))
    if py_type is None:
        raise SpecError(f"parameter {name!r}: only scalar schemas are supported")
    fastapi_cls = {"path": "Path", "query": "Query", "header": "Header"}[location]
    args = [f"{kw}={schema[key]!r}" for key, kw in _CONSTRAINTS if key in schema]
    if location == "header":
        args.insert(0, f"alias={name!r}")
    if p.get("description"):
        args.append(f"description={' '.join(p['description'].split())!r}")
    required = bool(p.get("required", location == "path"))
    if not (required or "default" in schema):
        py_type += " | None"
    annotation = f"Annotated[{py_type}, {fastapi_cls}({', '.join(args)})]"
    if required:
        default = None
    elif "default" in schema:
        default = repr(schema["default"])
    else:
        default = "None"
    py_name = name.lower().replace("-", "_")
    if not _IDENT.match(py_name):
        raise SpecError(f"parameter {name!r} does not map to a Python identifier")
    return Param(py_name, location, required, py_type, annotation, default, p.get("description"))


def _response(spec: dict[str, Any], status: int, raw: dict[str, Any]) -> ResponseInfo:
    resp = resolve(spec, raw)
    content = resp.get("content") or {}
    if not content:
        return ResponseInfo(status, resp["description"], None, None)
    if len(content) != 1:
        raise SpecError(f"response {status}: exactly one content type is supported")
    content_type, media = next(iter(content.items()))
    model = _ref_name(media.get("schema"))
    if content_type == "application/json" and model is None:
        raise SpecError(f"response {status}: JSON bodies must reference a components schema")
    return ResponseInfo(status, resp["description"], model, content_type)


def _operation(spec: dict[str, Any], path: str, method: str, op: dict[str, Any]) -> Operation:
    op_id = op.get("operationId")
    if not op_id or not _IDENT.match(op_id):
        raise SpecError(f"{method.upper()} {path}: missing or non-snake_case operationId")
    secured = op.get("security", spec.get("security")) not in (None, [])
    result = Operation(
        op_id, method, path, list(op.get("tags", [])), op.get("summary"), op.get("description"), secured
    )
    for raw in op.get("parameters", []):
        param = _param(spec, raw)
        if param.location == "path":
            result.path_params.append(param)
        elif param.location == "query":
            result.query_params.append(param)
        elif param.name == "idempotency_key":
            result.idempotency = param
        else:
            raise SpecError(f"{op_id}: header parameter {param.name!r} is not supported")
    if "requestBody" in op:
        body = resolve(spec, op["requestBody"])
        media = body.get("content", {}).get("application/json")
        result.body_model = _ref_name(media.get("schema")) if media else None
        if result.body_model is None:
            raise SpecError(f"{op_id}: the request body must be JSON referencing a components schema")
        result.body_required = bool(body.get("required", False))
    for code, raw in sorted(op.get("responses", {}).items(), key=lambda kv: int(kv[0])):
        info = _response(spec, int(code), raw)
        if 200 <= info.status < 300:
            if info.status == 202 and result.success is not None:
                result.accepted = info
            elif result.success is None:
                result.success = info
            else:
                raise SpecError(f"{op_id}: more than one success response besides 202")
        else:
            result.errors.append(info)
    if result.success is None:
        raise SpecError(f"{op_id}: no 2xx response")
    return result


def load_operations(spec: dict[str, Any]) -> list[Operation]:
    """All operations in path order, as the spec lists them."""
    ops = []
    for path, item in spec.get("paths", {}).items():
        for method in HTTP_METHODS:
            if method in item:
                ops.append(_operation(spec, path, method, item[method]))
    ids = [op.operation_id for op in ops]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise SpecError(f"duplicate operationIds: {dupes}")
    return ops
