"""Task progress through the real server: an encode's rows move while it runs, the last figure stays
on the task, and the client draws a bar only on a terminal."""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e._server import DATASET_ID, MODEL_ALIAS, ServerProcess

pytestmark = pytest.mark.e2e

ROWS = 6000
BIG_DATASET = "local://many-rows"


def _write_rows(path: Path, n: int) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            messages = [
                {"role": "user", "content": f"question number {i}"},
                {"role": "assistant", "content": f"answer number {i}"},
            ]
            out.write(json.dumps({"messages": messages}) + "\n")
    return path


@pytest.fixture(scope="module")
def server(make_server: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[ServerProcess, str]:
    from twinkle_server import assets

    rows = _write_rows(tmp_path_factory.mktemp("rows") / "many.jsonl", ROWS)
    aliases = {DATASET_ID: str(assets.path("self_cognition.jsonl")), BIG_DATASET: str(rows)}
    srv, keys = make_server(users=("alice",), wait_window_s=0.05, dataset_aliases=aliases)
    return srv, keys["alice"]


def _final(http: httpx.Client, response: httpx.Response) -> dict[str, Any]:
    """The body an operation ends with, following its task when it answered 202."""
    if response.status_code != 202:
        assert response.status_code in (200, 201), response.text
        return response.json()
    task_id = response.json()["task_id"]
    while True:
        task = http.get(f"/api/v1/tasks/{task_id}", params={"wait": 10}).json()
        if task["status"] in ("succeeded", "failed"):
            assert task["status"] == "succeeded", task
            return task["result"]


def _templated_dataset(http: httpx.Client) -> str:
    made = _final(http, http.post("/api/v1/datasets", json={"dataset_meta": {"dataset_id": BIG_DATASET}}))
    ds = made["dataset_id"]
    template = {"template_name": "Template", "model_id": MODEL_ALIAS}
    _final(http, http.post(f"/api/v1/datasets/{ds}/template", json=template))
    return ds


def test_encode_progress_moves_and_stays_on_the_task(server: tuple[ServerProcess, str]) -> None:
    srv, key = server
    http = httpx.Client(base_url=srv.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=120)
    ds = _templated_dataset(http)
    accepted = http.post(f"/api/v1/datasets/{ds}/encode", json={})
    assert accepted.status_code == 202, f"encode of {ROWS} rows finished in the 50 ms window"
    task_id = accepted.json()["task_id"]
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        task = http.get(f"/api/v1/tasks/{task_id}").json()
        if task["progress"] is not None:
            seen.append(task["progress"])
        if task["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.01)
    assert task["status"] == "succeeded", task
    assert task["result"]["encoded"] is True
    rows_seen = [p for p in seen if p["unit"] == "rows"]
    assert rows_seen and all(p["total"] == ROWS for p in rows_seen), seen[:5]
    done = [p["done"] for p in rows_seen]
    assert done == sorted(done), f"progress went backwards: {rows_seen}"
    midway = {d for d in done if 0 < d < ROWS}
    assert len(midway) >= 2, f"progress did not move while the encode ran: {sorted(set(done))}"
    # The finished task keeps its last figure, read back from the store.
    stored = http.get(f"/api/v1/tasks/{task_id}").json()
    assert stored["progress"] == {"done": ROWS, "total": ROWS, "unit": "rows", "stage": rows_seen[0]["stage"]}
    http.close()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("tty", [True, False], ids=["terminal", "pipe"])
def test_client_bar_only_on_a_terminal(
    server: tuple[ServerProcess, str], monkeypatch: pytest.MonkeyPatch, tty: bool
) -> None:
    """The handwritten client follows the encode's task: a bar on a terminal, nothing on a pipe."""
    from twinkle_client import TwinkleClient

    srv, key = server
    monkeypatch.delenv("TWINKLE_PROGRESS", raising=False)
    stderr = _Terminal() if tty else io.StringIO()
    monkeypatch.setattr("sys.stderr", stderr)
    with TwinkleClient(base_url=srv.base_url, api_key=key) as client:
        ds = client.call("create_dataset", body={"dataset_meta": {"dataset_id": BIG_DATASET}})["dataset_id"]
        client.call("dataset_set_template", ds, body={"template_name": "Template", "model_id": MODEL_ALIAS})
        info = client.call("dataset_encode", ds, body={})
    assert info["encoded"] is True
    drawn = stderr.getvalue()
    if tty:
        assert "encode" in drawn and f"/{ROWS}" in drawn, drawn[-500:]
    else:
        assert drawn == ""


def test_checkpoint_download_draws_a_byte_bar_on_a_terminal(
    server: tuple[ServerProcess, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from twinkle_api_client.api.checkpoints import save_checkpoint
    from twinkle_api_client.models import SaveCheckpointRequest

    from tests.e2e._server import api_client, settle, start_run
    from twinkle_client import TwinkleClient

    srv, key = server
    generated = api_client(srv, key)
    run = start_run(generated)
    body = SaveCheckpointRequest.from_dict({"name": "final"})
    size = settle(generated, save_checkpoint.sync_detailed(run.run_id, client=generated, body=body))[
        "size_bytes"
    ]
    monkeypatch.delenv("TWINKLE_PROGRESS", raising=False)
    stderr = _Terminal()
    monkeypatch.setattr("sys.stderr", stderr)
    with TwinkleClient(base_url=srv.base_url, api_key=key) as client:
        folder = client.download_checkpoint(f"twinkle://{run.run_id}/weights/final", to=tmp_path / "adapter")
    assert {"adapter_config.json", "adapter_model.safetensors"} <= {p.name for p in folder.iterdir()}
    drawn = stderr.getvalue()
    # The bar ends at 100%, its bytes done equal to the archive's Content-Length.
    assert "final: download: 100%" in drawn and re.search(r" (\S+k?)/\1 \[", drawn), drawn[-300:]
    assert size > 0
