"""``twinkle-server serve``: load the settings, check them, run the app under uvicorn."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from twinkle_server.config import Settings, load_settings
from twinkle_server.errors import TwinkleError

__all__ = ["build_uvicorn_server", "configure_logging", "run_uvicorn", "serve"]

logger = logging.getLogger("twinkle_server")


def configure_logging(level: str = "info", *, json_lines: bool = False, steps: bool = False) -> None:
    """Plain timestamped lines on stderr for the server's own loggers (uvicorn keeps its own), or
    with ``json_lines`` one JSON object per line, with the request id, for them and uvicorn's.

    ``steps`` adds a line per optimizer step of every run (``twinkle_server.steps``), whatever
    ``level``: the demo's progress report, too chatty for a shared server.
    """
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        from twinkle_server.observability import JsonFormatter

        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    names = (
        ("twinkle_server", "uvicorn", "uvicorn.error", "uvicorn.access")
        if json_lines
        else ("twinkle_server",)
    )
    for name in names:
        logger_ = logging.getLogger(name)
        logger_.handlers[:] = [handler]
        logger_.setLevel(level.upper())
        logger_.propagate = False
    logging.getLogger("twinkle_server.steps").setLevel(logging.INFO if steps else logging.WARNING)


def build_uvicorn_server(settings: Settings, *, log_level: str = "info"):
    """The app under a ``uvicorn.Server``, not yet running.

    The exposure check runs first, so a misconfigured server stops before it binds its port.
    """
    import uvicorn

    from twinkle_server.api.http_protocol import TwinkleHttpToolsProtocol
    from twinkle_server.app import create_app
    from twinkle_server.runtime import check_exposure

    check_exposure(settings)
    json_lines = settings.log_format == "json"
    if json_lines:
        configure_logging(log_level, json_lines=True)
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        timeout_keep_alive=75,
        lifespan="on",
        # JSON logs: the app writes its own access lines (with request ids), uvicorn none.
        access_log=settings.access_log and not json_lines,
        log_config=None if json_lines else uvicorn.config.LOGGING_CONFIG,
        http=TwinkleHttpToolsProtocol,
    )
    return uvicorn.Server(config)


def run_uvicorn(settings: Settings, *, log_level: str = "info") -> int:
    """Build the app and serve it until interrupted; returns the exit code."""
    server = build_uvicorn_server(settings, log_level=log_level)
    server.run()
    return 0 if server.started else 1


def serve(config: Path | None, *, host: str | None, port: int | None, log_level: str = "info") -> int:
    """Run ``serve``; settings errors and refusals print one clear message and exit 2."""
    configure_logging(log_level)
    try:
        settings = load_settings(config)
        if host is not None:
            settings.host = host
        if port is not None:
            settings.port = port
        return run_uvicorn(settings, log_level=log_level)
    except TwinkleError as exc:
        print(f"twinkle-server serve: error: {exc.message}", file=sys.stderr)
        return 2
