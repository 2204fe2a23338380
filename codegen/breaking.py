"""The breaking-change gate: compare openapi.yaml with the spec of the last release.

`python -m codegen.breaking [--base codegen/release/openapi.yaml] [--spec openapi.yaml]` prints a
changelog of the differences and exits 1 when a change would break a client written against the
release, unless the spec's major version went up. Rules (each a `Rule` below):

- removed_operation: a path + method (or its operationId) is gone
- removed_status_code: an operation no longer documents a response status it documented
- removed_response_field: a property of a response body is gone
- removed_request_field: a request body property a client may send is gone (requests reject
  unknown fields, so the old client's call would answer 422)
- removed_parameter: a path, query or header parameter is gone
- new_required_request_field: a request body property or parameter became required
- retyped_field: a field's type changed so that an old value no longer fits (a request field
  narrowed, a response field widened)
- narrowed_enum: an enum lost a value, or a free field became an enum
- changed_default: a default value changed or was removed

Additive changes (new operations, fields, status codes, enum values) are listed as non-breaking.
"""

from __future__ import annotations

import argparse
import enum
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .spec import load_spec

__all__ = ["Change", "Rule", "compare", "gate", "main", "semver"]

CODEGEN_DIR = Path(__file__).parent
ROOT = CODEGEN_DIR.parent
RELEASED_SPEC = CODEGEN_DIR / "release" / "openapi.yaml"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


class Rule(enum.Enum):
    REMOVED_OPERATION = "removed_operation"
    REMOVED_STATUS_CODE = "removed_status_code"
    REMOVED_RESPONSE_FIELD = "removed_response_field"
    REMOVED_REQUEST_FIELD = "removed_request_field"
    REMOVED_PARAMETER = "removed_parameter"
    NEW_REQUIRED_REQUEST_FIELD = "new_required_request_field"
    RETYPED_FIELD = "retyped_field"
    NARROWED_ENUM = "narrowed_enum"
    CHANGED_DEFAULT = "changed_default"
    # Non-breaking kinds, listed in the changelog only.
    ADDED = "added"
    CHANGED = "changed"


NON_BREAKING = {Rule.ADDED, Rule.CHANGED}


@dataclass(frozen=True)
class Change:
    rule: Rule
    where: str
    message: str

    @property
    def breaking(self) -> bool:
        return self.rule not in NON_BREAKING

    def __str__(self) -> str:
        tag = f"[{self.rule.value}] " if self.breaking else ""
        return f"{tag}{self.where}: {self.message}"


def semver(version: str) -> tuple[int, int, int]:
    """`major.minor.patch` as a tuple (a pre-release or build suffix is ignored)."""
    core = version.split("+")[0].split("-")[0]
    parts = core.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"info.version {version!r} is not semver (major.minor.patch)")
    return int(parts[0]), int(parts[1]), int(parts[2])


class _Differ:
    """Walks two specs side by side; `changes` collects what it finds."""

    def __init__(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.old, self.new = old, new
        self.changes: list[Change] = []
        self._seen: set[tuple[str, bool]] = set()

    def add(self, rule: Rule, where: str, message: str) -> None:
        self.changes.append(Change(rule, where, message))

    @staticmethod
    def _resolve(spec: dict[str, Any], node: Any) -> Any:
        hops = 0
        while isinstance(node, dict) and "$ref" in node and hops < 50:
            target: Any = spec
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node, hops = target, hops + 1
        return node

    # -- schemas -------------------------------------------------------------------------------

    def _types(self, spec: dict[str, Any], schema: Any) -> set[str]:
        """The JSON types a schema admits ("any" when it does not say)."""
        schema = self._resolve(spec, schema)
        if not isinstance(schema, dict):
            return {"any"}
        for key in ("anyOf", "oneOf"):
            if key in schema:
                out: set[str] = set()
                for branch in schema[key]:
                    out |= self._types(spec, branch)
                return out
        if "const" in schema:
            return {_json_type(schema["const"])}
        kind = schema.get("type")
        if kind is None:
            if "properties" in schema:
                return {"object"}
            if "items" in schema:
                return {"array"}
            return {"any"}
        return set(kind) if isinstance(kind, list) else {kind}

    def schema(self, old_s: Any, new_s: Any, where: str, request: bool) -> None:
        # A named schema is compared once per direction and reported under its own name.
        if isinstance(old_s, dict) and "$ref" in old_s:
            where = old_s["$ref"].rsplit("/", 1)[-1]
        key = (where, request)
        if key in self._seen:
            return
        self._seen.add(key)
        old_t, new_t = self._types(self.old, old_s), self._types(self.new, new_s)
        old_s, new_s = self._resolve(self.old, old_s), self._resolve(self.new, new_s)
        if not isinstance(old_s, dict) or not isinstance(new_s, dict):
            return
        self._type(old_t, new_t, where, request)
        self._enum(old_s, new_s, where, request)
        self._default(old_s, new_s, where)
        self._properties(old_s, new_s, where, request)
        if "items" in old_s and "items" in new_s:
            self.schema(old_s["items"], new_s["items"], f"{where}[]", request)
        for key_ in ("anyOf", "oneOf", "allOf"):
            olds, news = old_s.get(key_), new_s.get(key_)
            if isinstance(olds, list) and isinstance(news, list) and len(olds) == len(news):
                for i, (o, n) in enumerate(zip(olds, news, strict=True)):
                    self.schema(o, n, f"{where}<{key_}[{i}]>", request)

    def _type(self, old_t: set[str], new_t: set[str], where: str, request: bool) -> None:
        if old_t == new_t:
            return
        # A request field may accept more; a response field may promise less. "any" covers all.
        lost = old_t - new_t if request else new_t - old_t
        covered = ("any" in new_t) if request else ("any" in old_t)
        if lost and not covered:
            self.add(Rule.RETYPED_FIELD, where, f"type {_fmt(old_t)} -> {_fmt(new_t)}")
        else:
            self.add(Rule.CHANGED, where, f"type {_fmt(old_t)} -> {_fmt(new_t)}")

    def _enum(self, old_s: dict[str, Any], new_s: dict[str, Any], where: str, request: bool) -> None:
        old_e, new_e = old_s.get("enum"), new_s.get("enum")
        if new_e is None:
            if old_e is not None:
                self.add(Rule.CHANGED, where, "no longer an enum")
            return
        if old_e is None:
            self.add(Rule.NARROWED_ENUM, where, f"now limited to {_fmt(new_e)}")
            return
        removed = [v for v in old_e if v not in new_e]
        added = [v for v in new_e if v not in old_e]
        if removed:
            self.add(Rule.NARROWED_ENUM, where, f"enum lost {_fmt(removed)}")
        if added:
            self.add(Rule.ADDED, where, f"enum gained {_fmt(added)}")

    def _default(self, old_s: dict[str, Any], new_s: dict[str, Any], where: str) -> None:
        if "default" not in old_s:
            if "default" in new_s:
                self.add(Rule.ADDED, where, f"default {new_s['default']!r}")
            return
        if "default" not in new_s:
            self.add(Rule.CHANGED_DEFAULT, where, f"default {old_s['default']!r} removed")
        elif new_s["default"] != old_s["default"]:
            self.add(Rule.CHANGED_DEFAULT, where, f"default {old_s['default']!r} -> {new_s['default']!r}")

    def _properties(self, old_s: dict[str, Any], new_s: dict[str, Any], where: str, request: bool) -> None:
        old_p, new_p = old_s.get("properties") or {}, new_s.get("properties") or {}
        old_req, new_req = set(old_s.get("required") or ()), set(new_s.get("required") or ())
        for name in old_p:
            if name not in new_p:
                rule = Rule.REMOVED_REQUEST_FIELD if request else Rule.REMOVED_RESPONSE_FIELD
                self.add(rule, f"{where}.{name}", "field removed")
            else:
                self.schema(old_p[name], new_p[name], f"{where}.{name}", request)
        for name in new_p:
            if name in old_p:
                continue
            if request and name in new_req:
                self.add(Rule.NEW_REQUIRED_REQUEST_FIELD, f"{where}.{name}", "new required field")
            else:
                self.add(Rule.ADDED, f"{where}.{name}", "field added")
        if request:
            for name in sorted((new_req - old_req) & set(old_p)):
                self.add(Rule.NEW_REQUIRED_REQUEST_FIELD, f"{where}.{name}", "field became required")

    # -- operations ----------------------------------------------------------------------------

    def _operations(self, spec: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
        """`METHOD /path` -> (operationId, operation with the path item's parameters merged)."""
        out = {}
        for path, item in (spec.get("paths") or {}).items():
            item = self._resolve(spec, item)
            for method in METHODS:
                if method in item:
                    op = dict(item[method])
                    op["parameters"] = list(item.get("parameters") or []) + list(op.get("parameters") or [])
                    out[f"{method.upper()} {path}"] = (op.get("operationId", ""), op)
        return out

    def _params(self, spec: dict[str, Any], op: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
        params = {}
        for p in op.get("parameters") or []:
            p = self._resolve(spec, p)
            name = p["name"].lower() if p["in"] == "header" else p["name"]
            params[(p["in"], name)] = p
        return params

    def _body(self, spec: dict[str, Any], node: Any) -> Any:
        node = self._resolve(spec, node) or {}
        content = node.get("content") or {}
        media = content.get("application/json") or next(iter(content.values()), None)
        return None if media is None else media.get("schema")

    def operations(self) -> None:
        old_ops, new_ops = self._operations(self.old), self._operations(self.new)
        for key, (op_id, old_op) in old_ops.items():
            if key not in new_ops:
                self.add(Rule.REMOVED_OPERATION, key, f"operation {op_id or key} removed")
                continue
            new_id, new_op = new_ops[key]
            label = op_id or key
            if op_id and new_id != op_id:
                self.add(Rule.REMOVED_OPERATION, key, f"operationId {op_id} renamed to {new_id}")
            self._operation(old_op, new_op, label)
        for key, (op_id, _) in new_ops.items():
            if key not in old_ops:
                self.add(Rule.ADDED, key, f"operation {op_id or key} added")

    def _operation(self, old_op: dict[str, Any], new_op: dict[str, Any], label: str) -> None:
        old_p, new_p = self._params(self.old, old_op), self._params(self.new, new_op)
        for (loc, name), p in old_p.items():
            where = f"{label}({loc} {name})"
            if (loc, name) not in new_p:
                self.add(Rule.REMOVED_PARAMETER, where, "parameter removed")
                continue
            q = new_p[(loc, name)]
            if q.get("required") and not p.get("required"):
                self.add(Rule.NEW_REQUIRED_REQUEST_FIELD, where, "parameter became required")
            self.schema(p.get("schema", {}), q.get("schema", {}), where, request=True)
        for (loc, name), q in new_p.items():
            if (loc, name) not in old_p:
                rule = Rule.NEW_REQUIRED_REQUEST_FIELD if q.get("required") else Rule.ADDED
                self.add(
                    rule,
                    f"{label}({loc} {name})",
                    "new required parameter" if q.get("required") else "parameter added",
                )
        old_body = self._body(self.old, old_op.get("requestBody"))
        new_body = self._body(self.new, new_op.get("requestBody"))
        old_body_req = bool((self._resolve(self.old, old_op.get("requestBody")) or {}).get("required"))
        new_body_req = bool((self._resolve(self.new, new_op.get("requestBody")) or {}).get("required"))
        if new_body is not None and new_body_req and not old_body_req:
            self.add(Rule.NEW_REQUIRED_REQUEST_FIELD, f"{label}(body)", "request body became required")
        if old_body is not None and new_body is not None:
            self.schema(old_body, new_body, f"{label}(body)", request=True)
        elif old_body is not None:
            self.add(Rule.REMOVED_REQUEST_FIELD, f"{label}(body)", "request body removed")
        old_r, new_r = old_op.get("responses") or {}, new_op.get("responses") or {}
        for status, old_resp in old_r.items():
            where = f"{label} -> {status}"
            if status not in new_r:
                self.add(Rule.REMOVED_STATUS_CODE, where, f"status {status} no longer documented")
                continue
            old_s, new_s = self._body(self.old, old_resp), self._body(self.new, new_r[status])
            if old_s is not None and new_s is not None:
                self.schema(old_s, new_s, where, request=False)
            elif old_s is not None:
                self.add(Rule.REMOVED_RESPONSE_FIELD, where, "response body removed")
        for status in new_r:
            if status not in old_r:
                self.add(Rule.ADDED, f"{label} -> {status}", f"status {status} documented")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _fmt(values: Any) -> str:
    return ", ".join(repr(v) if not isinstance(v, str) else v for v in sorted(values, key=str))


def compare(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """Every difference between two specs that a client could notice, breaking ones first."""
    differ = _Differ(old, new)
    differ.operations()
    unique = list(dict.fromkeys(differ.changes))
    return sorted(unique, key=lambda c: (not c.breaking, c.where))


@dataclass(frozen=True)
class GateResult:
    changes: list[Change]
    old_version: str
    new_version: str
    passed: bool
    verdict: str

    def report(self) -> str:
        lines = [f"openapi.yaml {self.new_version} against the last release {self.old_version}"]
        breaking = [c for c in self.changes if c.breaking]
        other = [c for c in self.changes if not c.breaking]
        lines.append(f"Breaking changes ({len(breaking)}):")
        lines += [f"  - {c}" for c in breaking] or ["  (none)"]
        lines.append(f"Other changes ({len(other)}):")
        lines += [f"  - {c}" for c in other] or ["  (none)"]
        lines.append(self.verdict)
        return "\n".join(lines)


def gate(old: dict[str, Any], new: dict[str, Any]) -> GateResult:
    """Compare, then decide: breaking changes pass only with a higher major version."""
    old_v, new_v = str(old["info"]["version"]), str(new["info"]["version"])
    changes = compare(old, new)
    breaking = [c for c in changes if c.breaking]
    old_sv, new_sv = semver(old_v), semver(new_v)
    if new_sv < old_sv:
        return GateResult(
            changes, old_v, new_v, False, f"FAIL: info.version {new_v} is older than the release {old_v}"
        )
    if breaking and new_sv[0] <= old_sv[0]:
        verdict = (
            f"FAIL: {len(breaking)} breaking change(s) without a new major version; undo them, or set "
            f"info.version to {old_sv[0] + 1}.0.0 (clients of {old_v} will then be refused)"
        )
        return GateResult(changes, old_v, new_v, False, verdict)
    if breaking:
        return GateResult(
            changes, old_v, new_v, True, f"OK: breaking changes allowed by the major version {new_v}"
        )
    hint = ""
    if changes and new_sv == old_sv:
        hint = f" (additive changes: the next release should be {old_sv[0]}.{old_sv[1] + 1}.0)"
    return GateResult(changes, old_v, new_v, True, f"OK: no breaking changes{hint}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codegen.breaking", description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, default=RELEASED_SPEC, help="the spec of the last release")
    parser.add_argument("--spec", type=Path, default=ROOT / "openapi.yaml", help="the spec to check")
    args = parser.parse_args(argv)
    try:
        result = gate(load_spec(args.base), load_spec(args.spec))
    except (ValueError, KeyError) as exc:
        print(f"breaking-change gate: {exc}", file=sys.stderr)
        return 2
    print(result.report())
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
