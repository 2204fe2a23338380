"""JSON bodies are read with JSON's own types: ``true`` is not 1, ``"8"`` is not 8, ``null`` is not ``{}``.

The generated routes validate bodies with pydantic in lax mode, which converts ``true`` to 1 and
``"8"`` to 8, and reads a ``null`` body as "no body". The spec's JSON Schema allows none of these,
and a client that sends them has a bug worth hearing about. This dependency, applied to every
generated route, re-reads the raw body with the route's own body model in strict JSON mode and
answers 422 in the usual validation error shape. The one strict-mode refusal JSON Schema does not
share, an integral float such as ``8.0`` for an integer, is let through. Strict validation of the
raw bytes runs in pydantic-core, so a well-formed body (the usual case) costs little. The models
read an optional field as ``X | None``; where the spec's schema has no null, a null is refused too.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from twinkle_server.api.docs import served_spec

__all__ = ["check_json_body"]

_adapters: dict[Any, TypeAdapter[Any]] = {}


def _adapter_for(route: Any) -> TypeAdapter[Any] | None:
    """The strict reader of ``route``'s body model, made once per model; None if it has no body."""
    field = getattr(route, "body_field", None)
    annotation = getattr(getattr(field, "field_info", None), "annotation", None)
    if annotation is None:
        return None
    if annotation not in _adapters:
        _adapters[annotation] = TypeAdapter(annotation)
    return _adapters[annotation]


def _integral_floats_as_ints(value: Any) -> Any:
    """``value`` with every float that has no fractional part written as an int (8.0 -> 8)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_integral_floats_as_ints(v) for v in value]
    if isinstance(value, dict):
        return {k: _integral_floats_as_ints(v) for k, v in value.items()}
    return value


def _strict_errors(adapter: TypeAdapter[Any], body: bytes) -> list[dict[str, Any]]:
    """The strict-mode errors of ``body`` that JSON Schema would also report."""
    try:
        adapter.validate_json(body, strict=True)
        return []
    except ValidationError:
        pass
    # Slow path, only for bodies strict mode refused: JSON Schema counts 8.0 as an integer, so
    # re-check with integral floats written as ints before blaming the client.
    normalised = json.dumps(_integral_floats_as_ints(json.loads(body))).encode()
    try:
        adapter.validate_json(normalised, strict=True)
        return []
    except ValidationError as exc:
        return list(exc.errors(include_url=False))


def _refuse(errors: list[dict[str, Any]]) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("body", *e["loc"]), "msg": e["msg"], "type": e["type"]} for e in errors]
    )


async def check_json_body(request: Request) -> None:
    """Raise a 422 validation error when a JSON body holds a value of the wrong JSON type."""
    if "json" not in request.headers.get("content-type", "").lower():
        return
    body = await request.body()  # cached by Starlette; the route parses the same bytes
    if not body.strip():
        return
    if body.strip() == b"null":
        message = "the body must be a JSON object; send {} or no body at all, not null"
        raise _refuse([{"loc": (), "msg": message, "type": "null_body"}])
    route = request.scope.get("route")
    adapter = _adapter_for(route)
    if adapter is None:
        return
    errors = _strict_errors(adapter, body)
    if not errors:
        errors = _null_errors(_body_schema(route), json.loads(body), ())
    if errors:
        raise _refuse(errors)


# -- null where the spec allows none ----------------------------------------------------------------
# The generated models read an optional field as ``X | None``, so a JSON null passes them even where
# the spec's schema has no null (``weight_decay: {type: number}``). The spec itself decides.


def _components() -> dict[str, Any]:
    return served_spec()["components"]["schemas"]


def _body_schema(route: Any) -> dict[str, Any]:
    field = getattr(route, "body_field", None)
    annotation = getattr(getattr(field, "field_info", None), "annotation", None)
    names = [getattr(a, "__name__", None) for a in (annotation, *getattr(annotation, "__args__", ()))]
    name = next((n for n in names if n in _components()), None)
    return {"$ref": f"#/components/schemas/{name}"} if name else {}


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = _components()[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _allows_null(schema: dict[str, Any]) -> bool:
    schema = _resolve(schema)
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    if any(_allows_null(s) for s in schema.get("anyOf", []) + schema.get("oneOf", [])):
        return True
    if "allOf" in schema:
        return all(_allows_null(s) for s in schema["allOf"])
    return kind is None and not ({"anyOf", "oneOf", "enum", "const", "properties"} & set(schema))


def _null_errors(schema: dict[str, Any], value: Any, loc: tuple[Any, ...]) -> list[dict[str, Any]]:
    """Where ``value`` holds a null that ``schema`` does not allow (objects and arrays walked)."""
    schema = _resolve(schema)
    if value is None:
        if _allows_null(schema):
            return []
        message = "null is not allowed here; leave the field out to get its default"
        return [{"loc": loc, "msg": message, "type": "null_value"}]
    errors: list[dict[str, Any]] = []
    for part in schema.get("allOf", []):
        errors += _null_errors(part, value, loc)
    branch = _tagged_branch(schema, value)
    if branch is not None:
        errors += _null_errors(branch, value, loc)
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key, item in value.items():
            if key in properties:
                errors += _null_errors(properties[key], item, (*loc, key))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            errors += _null_errors(schema["items"], item, (*loc, index))
    return errors


def _tagged_branch(schema: dict[str, Any], value: Any) -> dict[str, Any] | None:
    """The ``oneOf`` branch that ``value``'s discriminator names (a ``run_calls`` call), if any."""
    discriminator = schema.get("discriminator")
    if discriminator is None or not isinstance(value, dict):
        return None
    target = discriminator.get("mapping", {}).get(value.get(discriminator["propertyName"]))
    return {"$ref": target} if isinstance(target, str) else None
