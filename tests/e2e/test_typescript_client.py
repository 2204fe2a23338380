"""The TypeScript client (clients/typescript) end to end: `tsc --strict` on the client, its node test
and the example, then node's own test runner against a real server on the tiny model.

The node test (clients/typescript/test/e2e.test.ts) finds the server through TWINKLE_SERVER_URL and
TWINKLE_SERVER_TOKEN, exactly as a user's script would; `make install` runs `npm ci` for it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e._server import REPO, ServerProcess

pytestmark = pytest.mark.e2e

PACKAGE = REPO / "clients" / "typescript"
NODE_TESTS = 10  # the test() calls in clients/typescript/test/e2e.test.ts


def _run(argv: list[str], env: dict[str, str] | None = None, timeout: float = 300) -> str:
    result = subprocess.run(argv, cwd=PACKAGE, capture_output=True, text=True, env=env, timeout=timeout)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(argv)} failed ({result.returncode}):\n{output[-8000:]}"
    return output


@pytest.fixture(scope="module")
def built() -> Path:
    """Type-check everything under `strict` and compile to clients/typescript/dist."""
    assert shutil.which("node"), "node 20+ is needed for the TypeScript client"
    tsc = PACKAGE / "node_modules" / ".bin" / "tsc"
    assert tsc.exists(), "run `npm ci` in clients/typescript (make install does)"
    shutil.rmtree(PACKAGE / "dist", ignore_errors=True)
    _run([str(tsc), "-p", "tsconfig.json"])
    return PACKAGE / "dist"


@pytest.fixture(scope="module")
def server(make_server: Any) -> tuple[ServerProcess, dict[str, str]]:
    # A zero wait window: every engine operation answers 202 with a task, which the client polls.
    return make_server(users=("alice",), max_loras=4, wait_window_s=0.0)


def test_the_package_version_is_the_api_version() -> None:
    spec = yaml.safe_load((REPO / "openapi.yaml").read_text(encoding="utf-8"))
    package = json.loads((PACKAGE / "package.json").read_text(encoding="utf-8"))
    assert package["version"] == spec["info"]["version"]


def test_client_test_and_example_compile_under_strict(built: Path) -> None:
    config = (PACKAGE / "tsconfig.json").read_text()
    assert re.search(r'"strict":\s*true', config)
    assert (built / "clients" / "typescript" / "src" / "client.js").exists()
    assert (built / "examples" / "typescript" / "train.js").exists()


def test_node_e2e_against_the_real_server(built: Path, server: tuple[ServerProcess, dict[str, str]]) -> None:
    srv, keys = server
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWINKLE_")}
    env.update(TWINKLE_SERVER_URL=srv.base_url, TWINKLE_SERVER_TOKEN=keys["alice"])
    tests = built / "clients" / "typescript" / "test" / "e2e.test.js"
    output = _run(["node", "--test", "--test-reporter=tap", str(tests)], env=env)
    passed = re.search(r"^# pass (\d+)$", output, re.MULTILINE)
    failed = re.search(r"^# fail (\d+)$", output, re.MULTILINE)
    assert passed and failed, output[-4000:]
    assert (int(passed[1]), int(failed[1])) == (NODE_TESTS, 0), output[-4000:]


def test_the_example_trains_against_the_real_server(
    built: Path, server: tuple[ServerProcess, dict[str, str]]
) -> None:
    srv, keys = server
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWINKLE_")}
    env.update(TWINKLE_SERVER_URL=srv.base_url, TWINKLE_SERVER_TOKEN=keys["alice"])
    output = _run(["node", str(built / "examples" / "typescript" / "train.js")], env=env)
    assert re.search(r"^saved twinkle://run_\S+/weights/ts-example$", output, re.MULTILINE), output
