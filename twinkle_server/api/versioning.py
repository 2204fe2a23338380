"""The API version contract: `X-Twinkle-Api-Version` on every response, clients checked on arrival.

The API version is the spec's `info.version` (semver), as generated into
``twinkle_api_server.API_VERSION``. A client names the API version it was generated from in
``X-Twinkle-Client-Version``; the server refuses, with 400 ``unsupported_client_version`` and a
message naming the version to install, a client older than :data:`MIN_CLIENT_VERSION` or of a
newer major version (it would send fields this server does not know). Requests without the header
(curl, other tools) are served.
"""

from __future__ import annotations

import re

from twinkle_api_server import API_VERSION, error_response

from twinkle_server.api.middleware import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "API_VERSION",
    "API_VERSION_HEADER",
    "CLIENT_VERSION_HEADER",
    "MIN_CLIENT_VERSION",
    "ClientVersionMiddleware",
    "client_version_problem",
]

API_VERSION_HEADER = "X-Twinkle-Api-Version"
CLIENT_VERSION_HEADER = "X-Twinkle-Client-Version"
# The oldest client API version served. Raise it (with the spec's major version) when the API drops
# something older clients rely on.
MIN_CLIENT_VERSION = "0.1.0"
_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:[-+][0-9A-Za-z.+-]*)?$")


def _parse(version: str) -> tuple[int, int, int] | None:
    match = _SEMVER.match(version.strip())
    return None if match is None else (int(match[1]), int(match[2]), int(match[3]))


def client_version_problem(client_version: str) -> str | None:
    """Why this server refuses a client of `client_version`, or None when it serves it."""
    server = _parse(API_VERSION)
    assert server is not None, f"the spec's info.version {API_VERSION!r} is not semver"
    client = _parse(client_version)
    install = (
        f"install a client for API {API_VERSION} (any {server[0]}.x version from {MIN_CLIENT_VERSION} on)"
    )
    if client is None:
        return f"{CLIENT_VERSION_HEADER} {client_version!r} is not a semver version; {install}"
    if client < _parse(MIN_CLIENT_VERSION):  # type: ignore[operator]
        return (
            f"this client speaks API {client_version}, older than the oldest this server serves "
            f"({MIN_CLIENT_VERSION}); {install}"
        )
    if client[0] > server[0]:
        return (
            f"this client speaks API {client_version}, a newer major version than this server's "
            f"{API_VERSION}; {install}, or use a server of API {client[0]}.x"
        )
    return None


class ClientVersionMiddleware:
    """Adds the API version header to every response and refuses incompatible clients."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._header = (API_VERSION_HEADER.lower().encode(), API_VERSION.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], self._header]
            await send(message)

        wanted = CLIENT_VERSION_HEADER.lower().encode()
        sent = next((v for k, v in scope.get("headers", []) if k == wanted), None)
        problem = None if sent is None else client_version_problem(sent.decode("latin-1"))
        if problem is None:
            await self.app(scope, receive, send_with_version)
            return
        details = {
            "client_version": sent.decode("latin-1") if sent is not None else "",
            "api_version": API_VERSION,
            "min_client_version": MIN_CLIENT_VERSION,
        }
        request_id = str(scope.get("twinkle.request_id", ""))
        response = error_response(400, "unsupported_client_version", problem, request_id, details)
        await response(scope, receive, send_with_version)
