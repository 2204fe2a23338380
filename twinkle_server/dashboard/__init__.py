"""The web dashboard: static pages served by the server, talking to the API from the browser.

``/dashboard/`` is a single page (``static/index.html``, ``app.js``, ``app.css``, written here). The
user enters an API key once; the page keeps it in ``sessionStorage`` (gone with the tab) and sends it
as ``Authorization: Bearer`` on the API's own operations, so it never appears in a URL or an access
log line. Charts are drawn with plotly.js, served from the installed ``plotly`` package (no CDN).
``/dashboard/api/operator`` gives operators (the same credentials as ``/metrics``, see
:func:`twinkle_server.observability.metrics_access`, except that a credential is always needed) one
JSON object with capacity, queues, pass sizes, device memory and per-user usage.
"""

from __future__ import annotations

import asyncio
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from twinkle_server.api.errors import error_body
from twinkle_server.dashboard.operator import operator_snapshot
from twinkle_server.observability import bearer_token, metrics_access

if TYPE_CHECKING:
    from twinkle_server.runtime import Runtime

__all__ = ["PREFIX", "install_dashboard", "plotly_js"]

PREFIX = "/dashboard"
STATIC = Path(__file__).with_name("static")
# The page loads scripts and styles from this server only; plotly sets inline styles on its charts.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def plotly_js() -> Path | None:
    """plotly.min.js from the installed ``plotly`` package, or None when it is not installed."""
    try:
        path = resources.files("plotly").joinpath("package_data", "plotly.min.js")
    except ModuleNotFoundError:
        return None
    return Path(str(path)) if path.is_file() else None


def _refusal(request: Request, status: int, code: str, message: str) -> JSONResponse:
    body = error_body(code, message, {}, request.scope.get("twinkle.request_id", ""))
    return JSONResponse(body, status_code=status)


def install_dashboard(app: FastAPI, runtime: Runtime) -> None:
    """Serve the dashboard under ``/dashboard`` on ``app``."""
    app.mount(f"{PREFIX}/static", StaticFiles(directory=str(STATIC)), name="dashboard-static")
    router = APIRouter(include_in_schema=False)

    @router.get(PREFIX)
    async def dashboard_root() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/")

    @router.get(f"{PREFIX}/")
    async def dashboard_page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=_HEADERS)

    @router.get(f"{PREFIX}/vendor/plotly.min.js")
    async def dashboard_plotly(request: Request) -> Response:
        path = plotly_js()
        if path is None:
            message = "the dashboard's charts need the plotly package on the server: pip install plotly"
            return _refusal(request, 404, "not_found", message)
        return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})

    @router.get(f"{PREFIX}/api/operator")
    async def dashboard_operator(request: Request) -> Response:
        token = bearer_token(request.headers)
        if not token:
            message = "the operator view needs `Authorization: Bearer <operator token or operator's key>`"
            return _refusal(request, 401, "unauthorized", message)
        refused = await asyncio.to_thread(metrics_access, runtime, client_host=None, token=token)
        if refused is not None:
            status, reason = refused
            return _refusal(request, status, "unauthorized" if status == 401 else "forbidden", reason)
        snapshot = await asyncio.to_thread(operator_snapshot, runtime)
        return JSONResponse(snapshot, headers={"Cache-Control": "no-store"})

    app.include_router(router)
