"""Property-based contract tests: schemathesis drives every operation of openapi.yaml against the real app.

The app is ``create_app`` on a temp data dir serving the tiny model, reached over loopback HTTP
with a real API key. Path ids are pinned to resources that exist (a set-up run, a dataset, a
checkpoint), so generated bodies reach the engine rather than stopping at a 404; unknown ids and
hostile paths are covered by ``test_hostile_inputs.py``. Each operation is fuzzed with positive
(schema-valid) and negative (schema-violating) requests, and every built-in check runs on every
answer; the few answers a check cannot know to be right are configured below, each with why.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.contract._live_server import LiveServer, live_server

ROOT = Path(__file__).resolve().parents[2]
SPEC = yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))
MAX_EXAMPLES = 12

# Path parameter -> the key in LiveServer.ids of the resource it is pinned to.
PINNED = {
    "session_id": "session_id",
    "run_id": "run_id",
    "checkpoint_id": "checkpoint_id",
    "dataset_id": "dataset_id",
    "dataloader_id": "dataloader_id",
}
# Operations that would destroy a shared pinned resource get a spare one of their own.
SPARE = {
    # Closing the working session would end the run every other operation trains.
    "close_session": {"session_id": "spare_session_id"},
    # Deleting the pinned checkpoint would turn every later checkpoint read into a 404.
    "delete_checkpoint": {"checkpoint_id": "doomed_checkpoint_id"},
}


# Operations whose bodies name things the schema cannot enumerate (served models, templates,
# preprocessors, optimizer arguments, row and batch indexes within the data's length, rows that
# carry either input_ids or messages). A schema-valid request naming something that does not exist
# is refused with 400 and a message listing what is accepted: the right answer, not a bug.
CHECKED_BEYOND_THE_SCHEMA = [
    "close_session",
    "create_training_run",
    "set_template",
    "set_processor",
    "set_loss",
    "set_optimizer",
    "set_lr_scheduler",
    "add_metric",
    "forward",
    "forward_only",
    "calculate_loss",
    "forward_backward",
    "load_checkpoint",
    "upload_checkpoint_to_hub",
    "create_dataset",
    "dataset_set_template",
    "dataset_map",
    "dataset_filter",
    "dataset_add",
    "dataset_mix",
    "get_dataset_row",
    "get_dataloader_batch",
    "set_dataloader_state",
]
ACCEPTED_OR_REFUSED = ["2xx", "400", "401", "403", "404", "409", "429"]


def _operations() -> dict[str, dict[str, Any]]:
    return {
        op["operationId"]: op
        for item in SPEC["paths"].values()
        for op in item.values()
        if "operationId" in op
    }


def _parameters(operation_id: str) -> list[dict[str, Any]]:
    resolved = []
    for param in _operations()[operation_id].get("parameters", []):
        if "$ref" in param:
            param = SPEC["components"]["parameters"][param["$ref"].rsplit("/", 1)[-1]]
        resolved.append(param)
    return resolved


def _pinned_path(server: LiveServer, operation_id: str) -> dict[str, str]:
    keys = {**PINNED, **SPARE.get(operation_id, {})}
    names = [p["name"] for p in _parameters(operation_id) if p["in"] == "path"]
    return {name: server.ids[keys[name]] for name in names if name in keys}


def _negatable(operation_id: str) -> bool:
    """Whether a request has anything left to make invalid once its ids are pinned."""
    free = [p for p in _parameters(operation_id) if p["name"] not in PINNED]
    return "requestBody" in _operations()[operation_id] or bool(free)


@pytest.fixture(scope="module")
def fuzz_server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("fuzz") / "data", tiny_model_dir) as server:
        yield server


def _config(server: LiveServer) -> dict[str, Any]:
    return {
        # Through the security scheme, not a fixed header, so ignored_auth can send a bad key.
        "auth": {"openapi": {"bearerAuth": {"bearer": server.keys["alice"]}}},
        "checks": {
            "enabled": True,
            # The body limit answers 413 before the body is parsed, so an oversized invalid body
            # is refused with 413 rather than 422; both are documented refusals.
            "negative_data_rejection": {
                "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429],
            },
        },
        "operations": [
            {
                "include-operation-id": operation_id,
                "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED_OR_REFUSED}},
            }
            for operation_id in CHECKED_BEYOND_THE_SCHEMA
        ],
    }


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_server: LiveServer) -> Any:
    config = schemathesis.Config.from_dict(_config(fuzz_server))
    schema = schemathesis.openapi.from_path(ROOT / "openapi.yaml", config=config)
    schema.config.update(base_url=fuzz_server.base_url)
    return schema


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
@pytest.mark.parametrize("operation_id", list(_operations()))
def test_every_operation_keeps_the_contract(
    operation_id: str, mode: GenerationMode, fuzz_schema: Any, fuzz_server: LiveServer
) -> None:
    if mode is GenerationMode.NEGATIVE and not _negatable(operation_id):
        pytest.skip("every parameter is a pinned id and there is no body: no invalid request to make")
    operation = fuzz_schema.find_operation_by_id(operation_id)
    path = _pinned_path(fuzz_server, operation_id)

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path or None))
    def check(case: schemathesis.Case) -> None:
        assert all(case.path_parameters[name] == value for name, value in path.items())
        case.call_and_validate(base_url=fuzz_server.base_url, timeout=120)

    check()
