"""TwinkleTransport over real sockets: a local HTTP server that drops, refuses, or stalls a connection."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from twinkle_client._http import RetryPolicy, TwinkleTransport
from twinkle_client.errors import APIConnectionError


class FlakyServer(ThreadingHTTPServer):
    """Answers POSTs with ``{"attempt": n}``; ``misbehave(n)`` decides what happens to attempt n."""

    daemon_threads = True

    def __init__(self, port: int, misbehave: Callable[[int], str | None]) -> None:
        self.misbehave = misbehave
        self.seen: list[tuple[str | None, bytes]] = []  # (Idempotency-Key, body) per attempt
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: FlakyServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.server.lock:
            self.server.seen.append((self.headers.get("Idempotency-Key"), body))
            attempt = len(self.server.seen)
        action = self.server.misbehave(attempt)
        if action == "drop":  # close the connection without a response
            self.close_connection = True
            return
        if action == "stall":
            time.sleep(0.6)
        payload = json.dumps({"attempt": attempt}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        try:
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the stalled client gave up, as intended
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(server: FlakyServer) -> Iterator[FlakyServer]:
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def make_client(port: int, sleep: Callable[[float], None], **kw: object) -> httpx.Client:
    transport = TwinkleTransport(httpx.HTTPTransport(), sleep=sleep, **kw)  # type: ignore[arg-type]
    return httpx.Client(base_url=f"http://127.0.0.1:{port}", transport=transport, timeout=5.0)


def test_dropped_connection_is_retried_with_the_same_key() -> None:
    sleeps: list[float] = []
    with (
        serving(FlakyServer(0, lambda n: "drop" if n == 1 else None)) as server,
        make_client(server.server_address[1], sleeps.append) as client,
    ):
        response = client.post("/api/v1/training_runs/run_1/step", json={"k": 1})
    assert response.json() == {"attempt": 2}
    assert len(sleeps) == 1
    (key1, body1), (key2, body2) = server.seen
    assert key1 == key2 and key1 is not None
    assert body1 == body2 == b'{"k":1}'


def test_refused_connection_is_retried_until_the_server_is_up() -> None:
    port = free_port()
    started: list[FlakyServer] = []

    def start_server_while_sleeping(seconds: float) -> None:
        if not started:
            started.append(FlakyServer(port, lambda n: None))
            threading.Thread(target=started[0].serve_forever, args=(0.05,), daemon=True).start()

    try:
        with make_client(port, start_server_while_sleeping) as client:
            response = client.post("/api/v1/sessions", json={})
        assert response.json() == {"attempt": 1}
    finally:
        for server in started:
            server.shutdown()
            server.server_close()


def test_read_timeout_is_retried_and_then_succeeds() -> None:
    sleeps: list[float] = []
    with serving(FlakyServer(0, lambda n: "stall" if n == 1 else None)) as server:
        transport = TwinkleTransport(httpx.HTTPTransport(), sleep=sleeps.append)
        timeout = httpx.Timeout(5.0, read=0.3)
        with httpx.Client(
            base_url=f"http://127.0.0.1:{server.server_address[1]}", transport=transport, timeout=timeout
        ) as client:
            response = client.post("/api/v1/training_runs/run_1/forward_backward", json={})
    assert response.json() == {"attempt": 2}
    assert server.seen[0][0] == server.seen[1][0]


def test_nothing_listening_raises_connection_error_after_the_retries() -> None:
    sleeps: list[float] = []
    with (
        make_client(free_port(), sleeps.append, retry_policy=RetryPolicy(max_retries=2)) as client,
        pytest.raises(APIConnectionError) as info,
    ):
        client.post("/api/v1/sessions", json={})
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert len(sleeps) == 2
