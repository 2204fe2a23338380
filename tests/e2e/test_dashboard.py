"""The web dashboard in headless Chromium against the real server.

One server, one browser: alice signs in with her key, opens her run, and sees curves drawn from the
run's real training steps (the chart's points equal the run's history), which grow while it trains;
she downloads and deletes checkpoints; the operator view refuses her. Bob sees none of her runs. An
operator's key opens the operator view. Screenshots go to ``test-artifacts/dashboard/``.

The browser is Debian's ``chromium`` (``.ci/run`` installs it), driven by Playwright; nothing is
downloaded. Without it the test skips, except under CI (``.ci/run`` sets ``TWINKLE_CI``), where it
fails.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from twinkle_api_client.api.checkpoints import save_checkpoint
from twinkle_api_client.api.run_compute import clip_grad_and_step, forward_backward
from twinkle_api_client.models import ClipGradNormRequest, ForwardRequest, SaveCheckpointRequest

from tests.e2e._server import REPO, ServerProcess, api_client, chat_rows, settle, start_run

pytestmark = pytest.mark.e2e

CHROMIUM = Path(os.environ.get("TWINKLE_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = REPO / "test-artifacts" / "dashboard"
BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
STEPS = 3
WAIT_MS = 15_000


def _train_step(client: Any, run_id: str) -> None:
    body = ForwardRequest.from_dict({"inputs": chat_rows(2)})
    settle(client, forward_backward.sync_detailed(run_id, client=client, body=body))
    clip = ClipGradNormRequest.from_dict({"max_norm": 1.0})
    settle(client, clip_grad_and_step.sync_detailed(run_id, client=client, body=clip))


def _save(client: Any, run_id: str, name: str) -> None:
    body = SaveCheckpointRequest.from_dict({"name": name})
    settle(client, save_checkpoint.sync_detailed(run_id, client=client, body=body))


@pytest.fixture(scope="module")
def world(make_server: Any) -> dict[str, Any]:
    # Access lines on (log level info), so that the log is a place where a leaked key would show.
    srv, keys = make_server(users=("alice", "bob", "ops"), metrics_operators=["ops"], log_level="info")
    alice = api_client(srv, keys["alice"])
    run = start_run(alice)
    for _ in range(STEPS):
        _train_step(alice, run.run_id)
    _save(alice, run.run_id, "final")
    _save(alice, run.run_id, "scratch")
    return {"server": srv, "keys": keys, "run_id": run.run_id, "alice": alice}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    missing = "the playwright package" if sync_playwright is None else None
    if missing is None and not CHROMIUM.exists():
        missing = f"chromium at {CHROMIUM} (apt-get install -y chromium)"
    if missing is not None:
        if os.environ.get("TWINKLE_CI") or os.environ.get("CI"):
            pytest.fail(f"the dashboard test needs {missing}; .ci/run installs it")
        pytest.skip(f"the dashboard test needs {missing}")
    profile = tempfile.mkdtemp(prefix="twinkle-chromium-")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=BROWSER_ARGS,
            accept_downloads=True,
            viewport={"width": 1280, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()
    shutil.rmtree(profile, ignore_errors=True)


def _history(server: ServerProcess, key: str, run_id: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{server.base_url}/api/v1/training_runs/{run_id}/history",
        params={"kind": "train", "limit": 1000},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.text
    return response.json()["points"]


def _chart(page: Any, field: str) -> dict[str, list[Any]]:
    return page.evaluate(
        "(id) => { const d = document.getElementById(id).data; return d ? {x: d[0].x, y: d[0].y} : null; }",
        f"chart-{field}",
    )


def _sign_in(page: Any, base_url: str, key: str) -> None:
    page.goto(f"{base_url}/dashboard/")
    page.fill("#api-key", key)
    page.click("#sign-in")
    page.wait_for_selector("#runs-view:not([hidden])", timeout=WAIT_MS)


def _sign_out(page: Any) -> None:
    page.click("#sign-out")
    page.wait_for_selector("#login-view:not([hidden])", timeout=WAIT_MS)


def test_dashboard_in_a_browser(world: dict[str, Any], browser: Any) -> None:
    srv: ServerProcess = world["server"]
    keys, run_id = world["keys"], world["run_id"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    script_errors: list[str] = []
    page.on("pageerror", lambda exc: script_errors.append(str(exc)))

    # alice: her runs, then her run's page with the curves of its real steps.
    _sign_in(page, srv.base_url, keys["alice"])
    page.wait_for_selector(f'#runs-table tr[data-run-id="{run_id}"]', timeout=WAIT_MS)
    row_text = page.inner_text(f'#runs-table tr[data-run-id="{run_id}"]')
    assert "active" in row_text and "Qwen/Qwen2.5-7B-Instruct" in row_text
    page.screenshot(path=str(ARTIFACTS / "runs.png"), full_page=True)
    page.click(f'#runs-table a[href="#/runs/{run_id}"]')
    page.wait_for_function(
        f"() => (document.getElementById('chart-loss').data || [{{x: []}}])[0].x.length === {STEPS}",
        timeout=WAIT_MS,
    )
    history = _history(srv, keys["alice"], run_id)
    assert len(history) == STEPS
    for field in ("loss", "lr", "grad_norm", "tokens_per_s"):
        drawn = _chart(page, field)
        assert drawn["x"] == [p["step"] for p in history], field
        assert drawn["y"] == pytest.approx([p[field] for p in history], rel=1e-12), field
    assert page.locator("#chart-loss .main-svg").count() > 0, "plotly drew no SVG"
    page.screenshot(path=str(ARTIFACTS / "run.png"), full_page=True)

    # Live: one more optimizer step while the page is open shows up without a reload.
    _train_step(world["alice"], run_id)
    page.wait_for_function(
        f"() => document.getElementById('chart-loss').data[0].x.length === {STEPS + 1}", timeout=WAIT_MS
    )
    assert _chart(page, "loss")["y"] == pytest.approx(
        [p["loss"] for p in _history(srv, keys["alice"], run_id)], rel=1e-12
    )

    # Download a checkpoint: a PEFT adapter archive, fetched with the key in a header.
    with page.expect_download(timeout=WAIT_MS) as got:
        page.click('#checkpoints-table tr[data-checkpoint="final"] button.download')
    archive = Path(got.value.path()).read_bytes()
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        names = {Path(m.name).name for m in tar.getmembers()}
    assert {"adapter_config.json", "adapter_model.safetensors"} <= names
    assert got.value.suggested_filename == f"{run_id}-final.tar.gz"

    # Delete another (the confirmation is accepted): gone from the page and from the server.
    page.click('#checkpoints-table tr[data-checkpoint="scratch"] button.delete')
    page.wait_for_selector(
        '#checkpoints-table tr[data-checkpoint="scratch"]', state="detached", timeout=WAIT_MS
    )
    listed = httpx.get(
        f"{srv.base_url}/api/v1/training_runs/{run_id}/checkpoints",
        headers={"Authorization": f"Bearer {keys['alice']}"},
    ).json()["checkpoints"]
    assert [c["name"] for c in listed] == ["final"]

    # The operator view refuses a plain user.
    page.goto(f"{srv.base_url}/dashboard/#/operator")
    page.wait_for_selector("#operator-view:not([hidden])", timeout=WAIT_MS)
    page.wait_for_function("() => document.getElementById('operator-error').textContent.length > 0")
    assert "operators only" in page.inner_text("#operator-error")
    assert page.is_hidden("#operator-body")
    _sign_out(page)

    # bob sees none of alice's runs, and her run's page answers not found.
    _sign_in(page, srv.base_url, keys["bob"])
    page.wait_for_selector("#runs-empty:not([hidden])", timeout=WAIT_MS)
    assert run_id not in page.inner_text("#runs-view")
    page.goto(f"{srv.base_url}/dashboard/#/runs/{run_id}")
    page.wait_for_function("() => document.getElementById('run-error').textContent.length > 0")
    assert "not found" in page.inner_text("#run-error")
    assert page.locator("#checkpoints-table tbody tr").count() == 0
    _sign_out(page)

    # An operator's key: capacity, queue and usage of every user.
    _sign_in(page, srv.base_url, keys["ops"])
    page.goto(f"{srv.base_url}/dashboard/#/operator")
    page.wait_for_selector('#users-table tr[data-user="alice"]', timeout=WAIT_MS)
    alice_usage = [td.inner_text() for td in page.locator('#users-table tr[data-user="alice"] td').all()]
    assert alice_usage[:4] == ["alice", "1", "1", "1"]  # runs, active runs, checkpoints
    assert alice_usage[5] == str(STEPS + 1)  # optimizer steps recorded
    assert "1 / 2" in page.inner_text("#models-table")  # adapters used / max
    page.screenshot(path=str(ARTIFACTS / "operator.png"), full_page=True)

    # The key never travelled in a URL, nor reached the server's log (which logged the page's calls).
    log = srv.log_path.read_text(errors="replace")
    assert "GET /dashboard/api/operator" in log and "/history?kind=train" in log
    for key in keys.values():
        assert key not in page.url
        assert key not in log
    assert not script_errors, script_errors
    page.close()
