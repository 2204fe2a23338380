"""Hostile and careless tenants against a real server: encode workers stay within the server's
budget whatever num_proc asks, and none outlive the server stopped mid-encode."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e._server import DATASET_ID, MODEL_ALIAS, ServerProcess, process_alive

pytestmark = pytest.mark.e2e


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _encode_workers(server_pid: int) -> set[int]:
    """Spawned multiprocessing workers whose parent is the server (not its resource tracker)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == server_pid and b"multiprocessing" in cmdline and b"resource_tracker" not in cmdline:
            found.add(int(entry.name))
    return found


def _prepare_dataset(http: httpx.Client) -> str:
    made = http.post("/api/v1/datasets", json={"dataset_meta": {"dataset_id": DATASET_ID}})
    assert made.status_code == 201, made.text
    ds = made.json()["dataset_id"]
    template = {"template_name": "Template", "model_id": MODEL_ALIAS}
    assert http.post(f"/api/v1/datasets/{ds}/template", json=template).status_code == 200
    mapped = http.post(
        f"/api/v1/datasets/{ds}/map",
        json={
            "preprocessor": "SelfCognitionProcessor",
            "init_args": {"model_name": "m", "model_author": "a"},
        },
    )
    assert mapped.status_code == 200, mapped.text
    return ds


@pytest.mark.skipif(not Path("/proc/self/stat").exists() or _cpus() < 2, reason="needs Linux /proc, 2 CPUs")
def test_num_proc_64_stays_in_budget_and_leaves_no_orphans(make_server: Any) -> None:
    """SIGTERM mid-encode (SIGKILL is covered in tests/unit/data/test_encode_processes.py)."""
    sig = signal.SIGTERM
    srv, keys = make_server(users=("alice",), encode_max_procs=2)
    assert isinstance(srv, ServerProcess) and srv.process is not None
    http = httpx.Client(
        base_url=srv.base_url, headers={"Authorization": f"Bearer {keys['alice']}"}, timeout=120
    )
    ds = _prepare_dataset(http)

    def encode() -> None:
        with contextlib.suppress(httpx.TransportError):  # the server goes away mid-request
            http.post(f"/api/v1/datasets/{ds}/encode", json={"num_proc": 64})

    request = threading.Thread(target=encode, daemon=True)
    request.start()
    seen: set[int] = set()
    most = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and request.is_alive():
        now = {pid for pid in _encode_workers(srv.process.pid) if process_alive(pid)}
        seen |= now
        most = max(most, len(now))
        if len(seen) >= 2:
            break
        time.sleep(0.02)
    assert seen, "the encode never used a worker process"
    assert most <= 2, f"{most} encode workers at once; the budget is 2"
    srv.process.send_signal(sig)
    srv.process.wait(timeout=60)
    deadline = time.monotonic() + 15
    while any(process_alive(pid) for pid in seen) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(process_alive(pid) for pid in seen), f"encode workers outlived the server ({sig.name})"
    request.join(timeout=30)
    http.close()


@pytest.fixture(scope="module")
def busy_server(make_server: Any) -> tuple[ServerProcess, dict[str, str]]:
    return make_server(users=("alice",))


def test_bad_requests_to_a_busy_run_answer_4xx_at_once(
    busy_server: tuple[ServerProcess, dict[str, str]],
) -> None:
    """While forward_backward work of the run is queued, each bad request answers 400 before it,
    instead of 202 and a task that fails later; the queued work is unharmed."""
    from tests.e2e._server import api_client, start_run

    srv, keys = busy_server
    run = start_run(api_client(srv, keys["alice"]))
    http = httpx.Client(
        base_url=srv.base_url, headers={"Authorization": f"Bearer {keys['alice']}"}, timeout=300
    )
    base = f"/api/v1/training_runs/{run.run_id}"
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"question {i} " * 40},
                {"role": "assistant", "content": "ok " * 40},
            ]
        }
        for i in range(32)
    ]
    answers: list[int] = []

    def work() -> None:
        answers.append(http.post(f"{base}/forward_backward", json={"inputs": rows}).status_code)

    queued = [threading.Thread(target=work) for _ in range(4)]
    for thread in queued:
        thread.start()
    time.sleep(0.3)
    bad = [
        ("set_processor", {"processor_name": "NoSuchProcessor"}, "unknown processor 'NoSuchProcessor'"),
        ("set_template", {"template_name": "__class__"}, "unknown template '__class__'"),
        ("set_template", {"template_name": "Qwen2_5Template"}, "unknown template 'Qwen2_5Template'"),
        (
            "set_template",
            {"template_name": "Template", "max_length": 1048576},
            "max_length 1048576 is over the 512 tokens that Qwen/Qwen2.5-7B-Instruct serves; use at most 512",
        ),
        ("clip_grad_norm", b'{"max_norm": 1e400}', "max_norm is 1e400, which is not a finite number"),
    ]
    for op, body, message in bad:
        started = time.monotonic()
        if isinstance(body, bytes):  # json.dumps cannot write 1e400
            response = http.post(f"{base}/{op}", content=body, headers={"Content-Type": "application/json"})
        else:
            response = http.post(f"{base}/{op}", json=body)
        elapsed = time.monotonic() - started
        assert response.status_code == 400, (op, response.text)
        assert message in response.json()["error"]["message"], response.text
        assert elapsed < 10.0, f"{op} took {elapsed:.1f} s: it waited for the run's queue"
    assert any(thread.is_alive() for thread in queued), "the run was not busy: the test proves nothing"
    made = http.post("/api/v1/datasets", json={"dataset_meta": {"dataset_id": DATASET_ID}})
    template = {"template_name": "__class__"}
    refused = http.post(f"/api/v1/datasets/{made.json()['dataset_id']}/template", json=template)
    assert refused.status_code == 400 and "unknown template '__class__'" in refused.text
    too_long = {"template_name": "Template", "max_length": 4096}
    refused = http.post(f"/api/v1/datasets/{made.json()['dataset_id']}/template", json=too_long)
    assert refused.status_code == 400 and "max_length 4096 is over the 512 tokens" in refused.text
    for thread in queued:
        thread.join(timeout=300)
    assert len(answers) == 4 and all(code in (200, 202) for code in answers), answers
    http.close()


def test_contract_edges_answer_readable_errors(busy_server: tuple[ServerProcess, dict[str, str]]) -> None:
    """What ordinary clients send at the edges gets a status and an error body, never a reset."""
    import http.client
    import json

    srv, keys = busy_server
    auth = {"Authorization": f"Bearer {keys['alice']}", "Content-Type": "application/json"}

    def raw(method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=120)
        try:
            conn.request(method, path, body=body, headers={**auth, **(headers or {})})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), json.loads(response.read() or b"{}")
        finally:
            conn.close()

    # A 36 MB body with Content-Length, written whole before reading (http.client does so).
    status, headers, body = raw("POST", "/api/v1/sessions", b"{" + b" " * (36 * 1024 * 1024) + b"}")
    assert status == 413 and body["error"]["code"] == "payload_too_large", body
    assert body["error"]["request_id"] == headers["x-request-id"]
    # A 200 KB header.
    status, headers, body = raw("GET", "/api/v1/capacity", headers={"X-Padding": "x" * 200_000})
    assert status == 431, body
    assert body["error"]["code"] == "request_header_fields_too_large"
    assert "headers are over this server's limit of 65536 bytes" in body["error"]["message"]
    assert body["error"]["request_id"] == headers["x-request-id"]
    # The server still serves.
    assert raw("GET", "/api/v1/capacity")[0] == 200
    # An id the spec's pattern allows but no run has: 404, as for any unknown id.
    for path in ("twinkle://0/weights/x", "twinkle://run_nope/weights/a..b"):
        status, _, body = raw(
            "POST", "/api/v1/training_runs/0/load", json.dumps({"twinkle_path": path}).encode()
        )
        assert status == 404 and body["error"]["code"] == "not_found", body
    # Idempotency-Key: what the spec refuses, the server refuses the same way.
    for key, expected in (("k" * 255, 201), ("k" * 256, 422), ("has space", 422), ("caf\xe9", 422)):
        status, _, body = raw("POST", "/api/v1/sessions", b"{}", headers={"Idempotency-Key": key})
        assert status == expected, (key, body)
    # JSON in UTF-16 is refused, saying UTF-8 is expected.
    status, _, body = raw("POST", "/api/v1/sessions", '{"metadata": {}}'.encode("utf-16"))
    assert status == 400 and "not UTF-8" in body["error"]["message"], body


def test_request_heads_are_counted_across_reads_and_requests(
    busy_server: tuple[ServerProcess, dict[str, str]],
) -> None:
    """The head limit holds however a head is cut into reads, resets for each request of a
    keep-alive connection, and never counts a body sent in the same write as its head."""
    import http.client
    import json
    import socket

    srv, keys = busy_server

    def head(method: str, path: str, padding: int, extra: str = "") -> bytes:
        lines = [
            f"{method} {path} HTTP/1.1",
            "Host: 127.0.0.1",
            f"Authorization: Bearer {keys['alice']}",
            f"X-Padding: {'x' * padding}",
        ]
        return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()

    def answer(sock: socket.socket) -> tuple[int, dict]:
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, json.loads(response.read() or b"{}")

    def send_in_pieces(sock: socket.socket, data: bytes, size: int = 13) -> None:
        for start in range(0, len(data), size):
            sock.sendall(data[start : start + size])

    with socket.create_connection(("127.0.0.1", srv.port), timeout=60) as sock:
        for _ in range(2):  # under 64 KiB each, in 13-byte reads; each request counts afresh
            send_in_pieces(sock, head("GET", "/api/v1/capacity", 60_000))
            assert answer(sock)[0] == 200
        # The next one goes over the limit.
        send_in_pieces(sock, head("GET", "/api/v1/capacity", 70_000), size=4096)
        status, body = answer(sock)
        assert status == 431 and body["error"]["code"] == "request_header_fields_too_large", body
    with socket.create_connection(("127.0.0.1", srv.port), timeout=60) as sock:
        payload = json.dumps({"metadata": {"note": "y" * 200_000}}).encode()
        extra = f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        sock.sendall(head("POST", "/api/v1/sessions", 10, extra) + payload)  # head and body at once
        status, body = answer(sock)
        # The head passed and the app read the body: its 200 KB note is refused by the schema.
        assert status == 422 and "metadata.note" in body["error"]["message"], body
