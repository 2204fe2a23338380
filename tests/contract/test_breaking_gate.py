"""The breaking-change gate (codegen/breaking.py): one test per rule, each an edit of a copy of
openapi.yaml that the gate must refuse, plus additive edits it must let through.

The release snapshot (codegen/release/openapi.yaml) is compared with the current spec in
`test_the_current_spec_passes_against_the_release`; the rule tests compare the current spec with an
edited copy of itself, so they keep working as the spec grows.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from codegen.breaking import RELEASED_SPEC, Rule, compare, gate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))


@pytest.fixture
def edited(spec: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(spec)


def _schema(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return doc["components"]["schemas"][name]


def _op(doc: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return doc["paths"][path][method]


def _refused(old: dict[str, Any], new: dict[str, Any], rule: Rule) -> list[str]:
    """Assert the gate fails on `new` for `rule`; the matching changelog lines."""
    result = gate(old, new)
    hits = [str(c) for c in result.changes if c.rule is rule]
    assert hits, f"no {rule.value} change found in:\n{result.report()}"
    assert not result.passed, result.report()
    assert f"[{rule.value}]" in result.report()
    return hits


def test_the_current_spec_passes_against_the_release() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "codegen.breaking"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "against the last release" in out.stdout and "OK:" in out.stdout


def test_an_unchanged_spec_has_no_changes(spec: dict[str, Any], edited: dict[str, Any]) -> None:
    assert compare(spec, edited) == []


# -- one test per rule ---------------------------------------------------------------------------


def test_removed_operation(spec: dict[str, Any], edited: dict[str, Any]) -> None:
    del edited["paths"]["/api/v1/capacity"]
    assert _refused(spec, edited, Rule.REMOVED_OPERATION) == [
        "[removed_operation] GET /api/v1/capacity: operation get_capacity removed"
    ]


def test_renamed_operation_id_is_a_removed_operation(spec: dict[str, Any], edited: dict[str, Any]) -> None:
    _op(edited, "/api/v1/capacity", "get")["operationId"] = "capacity"
    _refused(spec, edited, Rule.REMOVED_OPERATION)


def test_removed_status_code(spec: dict[str, Any], edited: dict[str, Any]) -> None:
    del _op(edited, "/api/v1/training_runs/{run_id}", "get")["responses"]["404"]
    hits = _refused(spec, edited, Rule.REMOVED_STATUS_CODE)
    assert hits == ["[removed_status_code] get_training_run -> 404: status 404 no longer documented"]


def test_removed_response_field(spec: dict[str, Any], edited: dict[str, Any]) -> None:
    del _schema(edited, "TrainingRun")["properties"]["base_model"]
    assert _refused(spec, edited, Rule.REMOVED_RESPONSE_FIELD) == [
        "[removed_response_field] TrainingRun.base_model: field removed"
    ]


def test_removed_request_field(spec: dict[str, Any], edited: dict[str, Any]) -> None:
    del _schema(edited, "CreateDataLoaderRequest")["properties"]["shuffle"]
    _refused(spec, edited, Rule.REMOVED_REQUEST_FIELD)


def test_removed_parameter(spec: dict[str, Any], edited: dict[str, Any]) -> None:
    op = _op(edited, "/api/v1/training_runs", "get")
    op["parameters"] = [p for p in op["parameters"] if p.get("$ref") != "#/components/parameters/Limit"]
    assert _refused(spec, edited, Rule.REMOVED_PARAMETER) == [
        "[removed_parameter] list_training_runs(query limit): parameter removed"
    ]


def test_new_required_request_field(spec: dict[str, Any], edited: dict[str, Any]) -> None:
    request = _schema(edited, "CreateDataLoaderRequest")
    request["properties"]["priority"] = {"type": "integer"}
    request["required"].append("priority")
    assert _refused(spec, edited, Rule.NEW_REQUIRED_REQUEST_FIELD) == [
        "[new_required_request_field] CreateDataLoaderRequest.priority: new required field"
    ]


def test_an_optional_request_field_made_required(spec: dict[str, Any], edited: dict[str, Any]) -> None:
    _schema(edited, "CreateDataLoaderRequest")["required"].append("shuffle")
    _refused(spec, edited, Rule.NEW_REQUIRED_REQUEST_FIELD)


def test_new_required_parameter(spec: dict[str, Any], edited: dict[str, Any]) -> None:
    _op(edited, "/api/v1/capacity", "get").setdefault("parameters", []).append(
        {"name": "model_id", "in": "query", "required": True, "schema": {"type": "string"}}
    )
    _refused(spec, edited, Rule.NEW_REQUIRED_REQUEST_FIELD)


def test_retyped_request_field(spec: dict[str, Any], edited: dict[str, Any]) -> None:
    _schema(edited, "CreateDataLoaderRequest")["properties"]["batch_size"] = {"type": "string"}
    assert _refused(spec, edited, Rule.RETYPED_FIELD) == [
        "[retyped_field] CreateDataLoaderRequest.batch_size: type integer -> string"
    ]


def test_retyped_response_field(spec: dict[str, Any], edited: dict[str, Any]) -> None:
    _schema(edited, "TrainingRun")["properties"]["base_model"] = {"type": ["string", "null"]}
    _refused(spec, edited, Rule.RETYPED_FIELD)


def test_narrowed_enum_in_a_request(spec: dict[str, Any], edited: dict[str, Any]) -> None:
    _schema(edited, "TruncationStrategy")["enum"].remove("left")
    assert _refused(spec, edited, Rule.NARROWED_ENUM) == [
        "[narrowed_enum] TruncationStrategy: enum lost left"
    ]


def test_narrowed_enum_in_a_response(spec: dict[str, Any], edited: dict[str, Any]) -> None:
    _schema(edited, "TaskStatus")["enum"].remove("running")
    _refused(spec, edited, Rule.NARROWED_ENUM)


def test_a_free_field_made_an_enum(spec: dict[str, Any], edited: dict[str, Any]) -> None:
    _schema(edited, "SetOptimizerRequest")["properties"]["optimizer_name"]["enum"] = ["AdamW"]
    _refused(spec, edited, Rule.NARROWED_ENUM)


def test_changed_default(spec: dict[str, Any], edited: dict[str, Any]) -> None:
    _schema(edited, "CreateDataLoaderRequest")["properties"]["epochs"]["default"] = 2
    assert _refused(spec, edited, Rule.CHANGED_DEFAULT) == [
        "[changed_default] CreateDataLoaderRequest.epochs: default 1 -> 2"
    ]


def test_removed_default(spec: dict[str, Any], edited: dict[str, Any]) -> None:
    del _schema(edited, "LoraConfig")["properties"]["r"]["default"]
    _refused(spec, edited, Rule.CHANGED_DEFAULT)


# -- what the gate lets through ------------------------------------------------------------------


def test_additive_edits_pass_and_are_listed(spec: dict[str, Any], edited: dict[str, Any]) -> None:
    edited["paths"]["/api/v1/ping"] = {
        "get": {"operationId": "ping", "responses": {"200": {"description": "pong"}}}
    }
    _schema(edited, "CreateDataLoaderRequest")["properties"]["prefetch"] = {"type": "integer", "default": 1}
    _schema(edited, "TrainingRun")["properties"]["notes"] = {"type": "string"}
    _schema(edited, "TruncationStrategy")["enum"].append("middle")
    _schema(edited, "CreateDataLoaderRequest")["properties"]["seed"]["type"] = ["integer", "null"]
    _op(edited, "/api/v1/capacity", "get")["responses"]["404"] = {"$ref": "#/components/responses/NotFound"}
    result = gate(spec, edited)
    assert result.passed, result.report()
    assert not [c for c in result.changes if c.breaking], result.report()
    listed = "\n".join(str(c) for c in result.changes)
    for expected in (
        "GET /api/v1/ping: operation ping added",
        "CreateDataLoaderRequest.prefetch: field added",
        "TrainingRun.notes: field added",
        "TruncationStrategy: enum gained middle",
        "CreateDataLoaderRequest.seed: type integer -> integer, null",
        "get_capacity -> 404: status 404 documented",
    ):
        assert expected in listed, listed


def test_a_new_major_version_lets_breaking_changes_through(
    spec: dict[str, Any], edited: dict[str, Any]
) -> None:
    del edited["paths"]["/api/v1/capacity"]
    major = int(str(spec["info"]["version"]).split(".")[0])
    edited["info"]["version"] = f"{major + 1}.0.0"
    result = gate(spec, edited)
    assert result.passed, result.report()
    assert [c.rule for c in result.changes if c.breaking] == [Rule.REMOVED_OPERATION]


def test_a_version_older_than_the_release_fails(spec: dict[str, Any], edited: dict[str, Any]) -> None:
    edited["info"]["version"] = "0.0.1"
    result = gate(spec, edited)
    assert not result.passed and "older than the release" in result.verdict


def test_the_cli_prints_a_changelog_and_fails_on_a_breaking_edit(
    tmp_path: Path, edited: dict[str, Any]
) -> None:
    del _schema(edited, "TrainingRun")["properties"]["base_model"]
    _schema(edited, "TruncationStrategy")["enum"].remove("left")
    broken = tmp_path / "openapi.yaml"
    broken.write_text(yaml.safe_dump(edited, sort_keys=False), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "codegen.breaking", f"--base={RELEASED_SPEC}", f"--spec={broken}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert "[removed_response_field] TrainingRun.base_model: field removed" in out.stdout
    assert "[narrowed_enum] TruncationStrategy: enum lost left" in out.stdout
    assert "FAIL: 2 breaking change(s) without a new major version" in out.stdout
