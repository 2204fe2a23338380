"""Who may read /metrics by default, and the JSON log line format."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from twinkle_server.config import Settings
from twinkle_server.observability import JsonFormatter, metrics_access, request_id_var


def _runtime(tmp_path: Path, **fields: object) -> SimpleNamespace:
    return SimpleNamespace(settings=Settings(data_dir=tmp_path, **fields), store=None)


def test_default_metrics_access_is_loopback_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TWINKLE_METRICS_TOKEN", raising=False)
    runtime = _runtime(tmp_path)
    assert metrics_access(runtime, client_host="127.0.0.1", token=None) is None
    assert metrics_access(runtime, client_host="::1", token=None) is None
    status, reason = metrics_access(runtime, client_host="10.1.2.3", token=None)
    assert status == 401 and "TWINKLE_METRICS_TOKEN" in reason
    # A token given when none is configured is refused, even from this machine.
    assert metrics_access(runtime, client_host="127.0.0.1", token="guess")[0] == 403


def test_operator_token_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWINKLE_METRICS_TOKEN", "s3cret")
    runtime = _runtime(tmp_path, metrics_allow_loopback=False)
    assert metrics_access(runtime, client_host="10.1.2.3", token="s3cret") is None
    assert metrics_access(runtime, client_host="10.1.2.3", token="s3cre")[0] == 403
    assert metrics_access(runtime, client_host="127.0.0.1", token=None)[0] == 401


def test_json_log_line_carries_the_request_id_and_extras() -> None:
    record = logging.LogRecord("twinkle_server.x", logging.INFO, __file__, 1, "done %d", (3,), None)
    record.operation = "step"
    token = request_id_var.set("req_abc")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["message"] == "done 3" and line["level"] == "info" and line["logger"] == "twinkle_server.x"
    assert (line["request_id"], line["operation"]) == ("req_abc", "step")
    assert "T" in line["time"]
