"""API documentation served by the server itself, offline.

``/openapi.json`` is the spec (openapi.yaml, as generated into the ``twinkle_api_server`` package),
``/docs`` is Swagger UI and ``/redoc`` ReDoc, both rendering that spec with their scripts and styles
served from the ``fastapi-offline`` package under ``/docs/static`` (no CDN). None needs a key.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["install_docs", "served_spec"]

STATIC_PREFIX = "/docs/static"
TITLE = "Twinkle API"


@cache
def served_spec() -> dict[str, Any]:
    """The spec this server implements, as generated from openapi.yaml."""
    text = resources.files("twinkle_api_server").joinpath("openapi.json").read_text(encoding="utf-8")
    return json.loads(text)


def install_docs(app: FastAPI) -> None:
    """Serve the spec, Swagger UI and ReDoc on `app` (which must not serve FastAPI's own)."""
    static = resources.files("fastapi_offline").joinpath("static")
    app.mount(STATIC_PREFIX, StaticFiles(directory=str(static)), name="docs-static")
    router = APIRouter(include_in_schema=False)

    @router.get("/openapi.json")
    async def openapi_document() -> JSONResponse:
        return JSONResponse(served_spec())

    @router.get("/docs")
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{TITLE} - Swagger UI",
            swagger_js_url=f"{STATIC_PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{STATIC_PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{STATIC_PREFIX}/favicon.png",
        )

    @router.get("/redoc")
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title=f"{TITLE} - ReDoc",
            redoc_js_url=f"{STATIC_PREFIX}/redoc.standalone.js",
            redoc_favicon_url=f"{STATIC_PREFIX}/favicon.png",
            with_google_fonts=False,
        )

    app.include_router(router)
