"""Client-side session pieces that need no server: heartbeat pacing, current client, key checks."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from twinkle_client import TwinkleClient, get_current_client
from twinkle_client._session import Heartbeat, set_current_client
from twinkle_client.manager import parse_twinkle_path
from twinkle_client.types import Cursor, ForwardBackwardOutput, Page


def test_heartbeat_beats_until_stopped_and_survives_failures() -> None:
    calls: list[float] = []
    failed = threading.Event()

    def beat() -> None:
        calls.append(time.monotonic())
        if len(calls) == 2:
            failed.set()
            raise RuntimeError("network blip")

    hb = Heartbeat(beat, 0.5)
    hb.start()
    deadline = time.monotonic() + 10
    while len(calls) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    hb.stop()
    assert failed.is_set() and len(calls) >= 4, calls
    assert hb.failures == 1
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert min(gaps) >= 0.45
    count = len(calls)
    time.sleep(0.7)
    assert len(calls) == count and not hb.alive


def test_heartbeat_interval_has_a_floor() -> None:
    assert Heartbeat(lambda: None, 0.0).interval_s == 0.5


def test_no_current_client_is_a_clear_error() -> None:
    set_current_client(None)
    with pytest.raises(RuntimeError, match="init_twinkle_client"):
        get_current_client()


def test_missing_api_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TWINKLE_SERVER_TOKEN", raising=False)
    with pytest.raises(ValueError, match="TWINKLE_SERVER_TOKEN"):
        TwinkleClient("http://127.0.0.1:9")


def test_env_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWINKLE_SERVER_TOKEN", "tw-from-env")
    monkeypatch.setenv("TWINKLE_SERVER_URL", "http://example.invalid:1234/")
    client = TwinkleClient()
    try:
        assert client.base_url == "http://example.invalid:1234"
        assert client._http.headers["Authorization"] == "Bearer tw-from-env"
        assert client.session is None  # no session until asked
    finally:
        client.close()
    assert client.closed


def test_twinkle_path_parsing() -> None:
    assert parse_twinkle_path("twinkle://run_abc/weights/step-3") == ("run_abc", "step-3")
    for bad in ("twinkle://run_abc/weights/../x", "file:///tmp/x", "twinkle://run/abc/weights/x", ""):
        with pytest.raises(ValueError, match="twinkle"):
            parse_twinkle_path(bad)


def test_page_is_a_list_with_a_cursor() -> None:
    page = Page([1, 2], Cursor(limit=2, offset=0, total_count=5))
    assert list(page) == [1, 2] and len(page) == 2 and page.total_count == 5 and page.has_more


def test_output_prints_readably_and_keeps_unknown_fields() -> None:
    out = ForwardBackwardOutput.model_validate(
        {"loss": 2.5, "num_tokens": 10, "logprobs": None, "micro_step": 1, "accumulation_steps": 2, "new": 1}
    )
    assert str(out) == "loss=2.5 num_tokens=10 micro_step=1/2"
    assert out.model_extra == {"new": 1}
    assert '"new":1' in out.model_dump_json()


def test_unreachable_server_fails_clearly_and_quickly() -> None:
    from twinkle_client import APIConnectionError, init_twinkle_client

    with pytest.raises(APIConnectionError):
        init_twinkle_client("http://127.0.0.1:9", "tw-key", max_retries=0, timeout=2.0)
