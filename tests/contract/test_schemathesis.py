"""Property-based contract tests: schemathesis drives every operation of openapi.yaml against the real app.

The app is ``create_app`` on a temp data dir serving the tiny model, reached over loopback HTTP
with a real API key. Path ids are pinned to resources that exist (a set-up run, a dataset, a
checkpoint), so generated bodies reach the engine rather than stopping at a 404; hostile paths and
bodies get their own test at the end. Each operation is fuzzed with positive
(schema-valid) and negative (schema-violating) requests, and every built-in check runs on every
answer; the few answers a check cannot know to be right are configured below, each with why.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.engine import events

from tests.contract._live_server import LiveServer, live_server

ROOT = Path(__file__).resolve().parents[2]
SPEC = yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))
MAX_EXAMPLES = 20
# make test-slow: cases per operation and mode, and the fewest cases the run must send in all.
SLOW_MAX_EXAMPLES = 60
SLOW_MIN_CASES = 2000

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


# Operations whose requests name things the schema cannot enumerate: served models, templates,
# processors, preprocessors, filters, a loss's, an optimizer's or a scheduler's own arguments, row and batch
# indexes and resume points within the data's length, rows and prompts that carry input_ids or
# messages (token ids within the vocabulary, a prompt plus max_tokens within max_length), a dataset
# meta with an id or inline rows. A schema-valid request naming something that does not
# exist is refused with 400 and a message listing what is accepted: the right answer, not a bug.
#
# calculate_loss and backward act on the run's last forward, which earlier fuzz cases leave in any
# state (no forward yet, one without label tokens, a loss that wants other row fields): a 400
# naming that state is the right answer to a schema-valid request there too. run_calls carries
# any of these calls, so it shares their answers.
CHECKED_BEYOND_THE_SCHEMA = [
    "calculate_loss",
    "backward",
    "create_training_run",
    "set_template",
    "set_processor",
    "set_loss",
    "set_optimizer",
    "set_lr_scheduler",
    "forward",
    "forward_only",
    "forward_backward",
    "run_calls",
    "sample",
    "sample_model",
    "sample_stream",
    "load_checkpoint",
    "create_dataset",
    "dataset_set_template",
    "dataset_map",
    "dataset_filter",
    "dataset_add",
    "get_dataset_row",
    "get_dataloader_batch",
    "set_dataloader_state",
    "upload_checkpoint_to_hub",
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


def _fuzz(
    operation_id: str,
    mode: GenerationMode,
    schema: Any,
    server: LiveServer,
    *,
    max_examples: int,
    seed: int = 0,
) -> int:
    """Fuzz one operation in one mode against the live ids; the number of cases sent (every check
    runs on every answer; the first failure raises)."""
    operation = schema.find_operation_by_id(operation_id)
    path = _pinned_path(server, operation_id)
    sent = [0]

    @settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=seed == 0,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path or None))
    def check(case: schemathesis.Case) -> None:
        assert all(case.path_parameters[name] == value for name, value in path.items())
        sent[0] += 1
        case.call_and_validate(base_url=server.base_url, timeout=120)

    if seed:
        from hypothesis import seed as hypothesis_seed

        check = hypothesis_seed(seed)(check)
    check()
    return sent[0]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
@pytest.mark.parametrize("operation_id", list(_operations()))
def test_every_operation_keeps_the_contract(
    operation_id: str, mode: GenerationMode, fuzz_schema: Any, fuzz_server: LiveServer
) -> None:
    if mode is GenerationMode.NEGATIVE and not _negatable(operation_id):
        pytest.skip("every parameter is a pinned id and there is no body: no invalid request to make")
    _fuzz(operation_id, mode, fuzz_schema, fuzz_server, max_examples=MAX_EXAMPLES)


@pytest.mark.slow
def test_thousands_of_cases_keep_the_contract(fuzz_schema: Any, fuzz_server: LiveServer) -> None:
    """The slow target's fuzzing: every operation, both modes, SLOW_MAX_EXAMPLES each with a seed of
    its own (other cases than the default run's), at least SLOW_MIN_CASES cases in all, 0 failures."""
    counts: dict[str, int] = {}
    for index, operation_id in enumerate(_operations()):
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if mode is GenerationMode.NEGATIVE and not _negatable(operation_id):
                continue
            seed = 1000 + 2 * index + (mode is GenerationMode.NEGATIVE)
            sent = _fuzz(
                operation_id, mode, fuzz_schema, fuzz_server, max_examples=SLOW_MAX_EXAMPLES, seed=seed
            )
            counts[f"{operation_id}/{mode.value}"] = sent
    total = sum(counts.values())
    print(f"\nschemathesis: {total} cases over {len(counts)} operation/mode pairs, 0 failures")
    assert total >= SLOW_MIN_CASES, counts


def _token_rows() -> st.SearchStrategy[list[dict[str, Any]]]:
    """Encoded rows: mostly plausible ones, some with any schema-valid id (far outside the vocabulary)."""
    plausible = st.lists(st.integers(0, 1000), min_size=2, max_size=12).map(
        lambda ids: {"input_ids": ids, "labels": [*ids[1:], -100]}
    )
    any_id = st.one_of(st.integers(0, 2147483647), st.just(-100))
    hostile = st.lists(st.integers(0, 2147483647), min_size=1, max_size=12).flatmap(
        lambda ids: st.fixed_dictionaries(
            {"input_ids": st.just(ids), "labels": st.lists(any_id, min_size=len(ids), max_size=len(ids))}
        )
    )
    return st.lists(st.one_of(plausible, plausible, hostile), min_size=1, max_size=3)


def _reset_loss(server: LiveServer, run_id: str) -> None:
    """Cross-entropy again: set_loss's fuzz cases may have left a loss that needs other row fields."""
    response = httpx.post(
        f"{server.base_url}/api/v1/training_runs/{run_id}/set_loss",
        json={"loss_name": "CrossEntropyLoss"},
        headers=server.headers(),
        timeout=120,
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("operation_id", ["forward_only", "forward_backward"])
def test_training_on_random_token_ids_keeps_the_contract(
    operation_id: str, fuzz_schema: Any, fuzz_server: LiveServer
) -> None:
    """Generated bodies rarely carry usable rows, so these two also get real-shaped ones."""
    operation = fuzz_schema.find_operation_by_id(operation_id)
    path = _pinned_path(fuzz_server, operation_id)
    trained: list[int] = []
    _reset_loss(fuzz_server, path["run_id"])

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(rows=_token_rows())
    def check(rows: list[dict[str, Any]]) -> None:
        case = operation.Case(path_parameters=path, body={"inputs": rows}, media_type="application/json")
        response = case.call_and_validate(
            base_url=fuzz_server.base_url, headers=fuzz_server.headers(), timeout=120
        )
        vocab = fuzz_server.vocab_size
        tokens = [t for row in rows for t in row["input_ids"] + row.get("labels", []) if t != -100]
        has_target = any(t != -100 for row in rows for t in row.get("labels", []))
        usable = max(tokens) < vocab and (has_target or operation_id == "forward_only")
        # Out-of-vocabulary ids and batches without a target token are refused with 400, not a 500.
        assert response.status_code in ((200, 202) if usable else (400,)), response.text
        trained.extend([response.status_code] if usable else [])

    check()
    assert trained, "no generated batch was usable, so the engine was never reached"


def _raw(
    server: LiveServer, method: str, path: str, body: bytes = b"", **headers: str
) -> tuple[int, dict, bytes]:
    """One request with the path and body sent byte for byte (no client-side normalisation)."""
    host, port = server.base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    try:
        conn.request(method, path, body=body, headers={**server.headers(), **headers})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def _hostile_requests(server: LiveServer) -> list[tuple[str, str, str, bytes, dict[str, str]]]:
    """(what, method, path, body, headers) of requests a hostile or broken client might send."""
    run = f"/api/v1/training_runs/{server.ids['run_id']}"
    bob_run = server.ids["bob_run_id"]
    json_type = {"Content-Type": "application/json"}

    def post(
        what: str, path: str, payload: Any, **headers: str
    ) -> tuple[str, str, str, bytes, dict[str, str]]:
        return (what, "POST", path, json.dumps(payload).encode(), {**json_type, **headers})

    nested = b'{"metadata": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    return [
        ("dot-dot checkpoint id", "GET", f"{run}/checkpoints/..", b"", {}),
        ("encoded dot-dot checkpoint id", "GET", f"{run}/checkpoints/%2e%2e", b"", {}),
        ("encoded slashes in checkpoint id", "GET", f"{run}/checkpoints/..%2f..%2ftwinkle.db", b"", {}),
        ("encoded slashes in archive id", "GET", f"{run}/checkpoints/%2e%2e%2F%2e%2e/archive", b"", {}),
        ("dot-dot run id", "GET", "/api/v1/training_runs/%2e%2e/checkpoints", b"", {}),
        ("encoded slash in run id", "GET", "/api/v1/training_runs/..%2Fsessions", b"", {}),
        ("dot-dot delete", "DELETE", f"{run}/checkpoints/%2e%2e%2f%2e%2e", b"", {}),
        post("dot-dot checkpoint name", f"{run}/checkpoints", {"name": ".."}),
        post("slash checkpoint name", f"{run}/checkpoints", {"name": "a/../../b"}),
        post("dot-dot twinkle_path", f"{run}/load", {"twinkle_path": "twinkle://../weights/kept"}),
        post(
            "encoded twinkle_path",
            f"{run}/load",
            {"twinkle_path": f"twinkle://{server.ids['run_id']}/weights/%2e%2e"},
        ),
        post("another user's run", f"{run}/load", {"twinkle_path": f"twinkle://{bob_run}/weights/kept"}),
        ("another user's checkpoints", "GET", f"/api/v1/training_runs/{bob_run}/checkpoints", b"", {}),
        post(
            "huge token id", f"{run}/forward_backward", {"inputs": [{"input_ids": [10**30], "labels": [1]}]}
        ),
        post(
            "int64 token id",
            f"{run}/forward_backward",
            {"inputs": [{"input_ids": [2**63], "labels": [2**63]}]},
        ),
        post("negative token id", f"{run}/forward_only", {"inputs": [{"input_ids": [-5]}]}),
        post("float token id", f"{run}/forward_only", {"inputs": [{"input_ids": [1e308]}]}),
        ("deeply nested JSON", "POST", "/api/v1/sessions", nested, json_type),
        ("non-UTF-8 body", "POST", "/api/v1/sessions", b'{"metadata": {"k": "\xff\xfe"}}', json_type),
        ("null body", "POST", f"{run}/step", b"null", json_type),
        post(
            "boolean for an integer",
            f"/api/v1/dataloaders/{server.ids['dataloader_id']}/state",
            {"consumed_batches": True},
        ),
        post("string for an integer", f"{run}/set_optimizer", {"optimizer_name": "AdamW", "lr": "0.001"}),
        ("truncated JSON", "POST", "/api/v1/sessions", b'{"metadata": {', json_type),
        ("unsupported method", "PUT", f"{run}/checkpoints", b"{}", json_type),
        ("text/plain body", "POST", "/api/v1/sessions", b"{}", {"Content-Type": "text/plain"}),
        (
            "form body",
            "POST",
            f"{run}/checkpoints",
            b"name=x",
            {"Content-Type": "application/x-www-form-urlencoded"},
        ),
        post("null for a number", f"{run}/set_optimizer", {"optimizer_name": "SGD", "weight_decay": None}),
        post("null inside a row", f"{run}/forward_only", {"inputs": [{"input_ids": [1, 2], "labels": None}]}),
        (
            "NaN in a number",
            "POST",
            f"{run}/set_optimizer",
            b'{"optimizer_name": "AdamW", "lr": NaN}',
            json_type,
        ),
    ]


def test_hostile_inputs_get_a_clean_4xx_and_the_server_keeps_serving(fuzz_server: LiveServer) -> None:
    for what, method, path, body, headers in _hostile_requests(fuzz_server):
        status, response_headers, content = _raw(fuzz_server, method, path, body, **headers)
        assert 400 <= status < 500, f"{what}: {status} {content[:300]!r}"
        error = json.loads(content)["error"]
        assert set(error) == {"code", "message", "details", "request_id"}, f"{what}: {error}"
        assert error["request_id"] == response_headers.get("x-request-id"), what
        if what == "unsupported method":
            assert set(response_headers.get("allow", "").split(", ")) >= {"GET", "POST"}, response_headers
        if what.startswith("another user's"):
            assert status == 404, f"{what}: another user's resources must look absent, got {status}"
        assert _raw(fuzz_server, "GET", "/healthz")[0] == 200, f"the server stopped serving after: {what}"


def test_examples_and_coverage_phases_keep_the_contract(fuzz_server: LiveServer) -> None:
    """Schemathesis's own engine on the spec's examples and its coverage scenarios.

    Coverage probes what random generation seldom tries: every boundary value, each required
    field missing, unsupported methods (405 with an Allow header), wrong content types. Ids are
    not pinned here: a pinned id overrides the very value a scenario negates, so the check would
    blame the server for accepting a request that reached it valid.
    """
    config = schemathesis.Config.from_dict(
        {
            **_config(fuzz_server),
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": False},
                "stateful": {"enabled": False},
            },
            "continue-on-failure": True,
        }
    )
    schema = schemathesis.openapi.from_path(ROOT / "openapi.yaml", config=config)
    schema.config.update(base_url=fuzz_server.base_url)
    scenarios, failures = 0, []
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, (events.NonFatalError, events.FatalError)):
            failures.append(f"engine error: {event}")
        if not isinstance(event, events.ScenarioFinished):
            continue
        scenarios += 1
        recorder = event.recorder
        for case_id, checks in recorder.checks.items():
            for check in checks:
                if check.failure_info is not None:
                    interaction = recorder.interactions.get(case_id)
                    url = interaction.request.uri if interaction else "?"
                    status = (
                        interaction.response.status_code if interaction and interaction.response else None
                    )
                    failures.append(f"{event.label}: {check.name} -> {status} for {url}")
    assert scenarios >= len(_operations()), f"only {scenarios} scenarios ran"
    assert not failures, "\n".join(failures[:40])
