"""The API version contract and the offline docs, in process (no model served).

Every response names the API version; a client of an unsupported version is refused with 400
`unsupported_client_version` naming the version to install, whichever client it is (raw requests
and the Python client, which sends its version on every request); /docs and /redoc render the spec
from locally served assets.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import twinkle_api_client.api_version
import yaml
from fastapi.testclient import TestClient

from tests.unit.server._app import served_app
from twinkle_client import BadRequestError, TwinkleClient
from twinkle_server.api.versioning import API_VERSION, MIN_CLIENT_VERSION

SPEC = yaml.safe_load((Path(__file__).resolve().parents[3] / "openapi.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str]]:
    with served_app(tmp_path_factory.mktemp("versioning")) as app_and_key:
        yield app_and_key


def test_the_api_version_is_the_spec_version_and_on_every_response(served: tuple[TestClient, str]) -> None:
    client, key = served
    assert SPEC["info"]["version"] == API_VERSION
    for response in (
        client.get("/healthz"),
        client.get("/api/v1/capacity"),  # 401
        client.get("/api/v1/training_runs/run_missing", headers={"Authorization": f"Bearer {key}"}),
    ):
        assert response.headers["X-Twinkle-Api-Version"] == API_VERSION
    caps = client.get("/api/v1/capabilities", headers={"Authorization": f"Bearer {key}"}).json()
    assert (caps["api_version"], caps["min_client_version"]) == (API_VERSION, MIN_CLIENT_VERSION)


@pytest.mark.parametrize(
    ("client_version", "reason"),
    [
        ("0.0.9", "older than the oldest this server serves"),
        ("99.0.0", "a newer major version than this server's"),
        ("latest", "is not a semver version"),
    ],
)
def test_an_unsupported_client_gets_400_naming_the_version_to_install(
    served: tuple[TestClient, str], client_version: str, reason: str
) -> None:
    client, key = served
    headers = {"Authorization": f"Bearer {key}", "X-Twinkle-Client-Version": client_version}
    response = client.get("/api/v1/training_runs", headers=headers)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unsupported_client_version"
    assert reason in error["message"]
    assert f"install a client for API {API_VERSION}" in error["message"]
    assert error["details"] == {
        "client_version": client_version,
        "api_version": API_VERSION,
        "min_client_version": MIN_CLIENT_VERSION,
    }
    assert error["request_id"] == response.headers["X-Request-Id"]
    assert response.headers["X-Twinkle-Api-Version"] == API_VERSION


@pytest.mark.parametrize("client_version", [API_VERSION, MIN_CLIENT_VERSION, None])
def test_a_supported_client_or_none_is_served(
    served: tuple[TestClient, str], client_version: str | None
) -> None:
    client, key = served
    headers = {"Authorization": f"Bearer {key}"}
    if client_version is not None:
        headers["X-Twinkle-Client-Version"] = client_version
    assert client.get("/api/v1/training_runs", headers=headers).status_code == 200


def test_the_python_client_sends_its_version(
    served: tuple[TestClient, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    test_client, key = served
    # The transport carries the request into the app in process; the version is the client's own.
    with TwinkleClient("http://testserver", key, transport=test_client._transport) as client:
        assert client.get_server_capabilities().api_version == API_VERSION
    monkeypatch.setattr(twinkle_api_client.api_version, "API_VERSION", "99.0.0")
    with (
        pytest.raises(BadRequestError, match="install a client for API") as raised,
        TwinkleClient("http://testserver", key, transport=test_client._transport) as client,
    ):
        client.get_server_capabilities()
    assert raised.value.code == "unsupported_client_version"


def test_swagger_ui_and_redoc_load_the_spec_from_local_assets(served: tuple[TestClient, str]) -> None:
    client, _ = served
    assert client.get("/openapi.json").json() == SPEC
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assert "/openapi.json" in html and "cdn" not in html.lower()
        urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
        assert urls and all(u.startswith("/docs/static/") for u in urls), urls
        for url in urls:
            asset = client.get(url)
            assert asset.status_code == 200 and len(asset.content) > 1000, url
