"""The README's client guide is runnable: its code block trains and saves against a demo server."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e._server import REPO, free_port, server_env

pytestmark = pytest.mark.e2e


def guide_script(port: int) -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    guide = readme[readme.index("## Client API guide") :]
    code = re.search(r"```python\n(.*?)```", guide, re.DOTALL).group(1)
    code = code.replace("http://127.0.0.1:8000", f"http://127.0.0.1:{port}")
    code = code.replace('api_key="tw-..."', 'api_key=__import__("os").environ["MODELSCOPE_TOKEN"]')
    return code + "\nprint('guide saved', path, 'last loss', out.loss)\n"


def test_the_readme_client_guide_runs(tmp_path: Path) -> None:
    port = free_port()
    script = tmp_path / "guide.py"
    script.write_text(guide_script(port), encoding="utf-8")
    argv = [sys.executable, "-m", "twinkle_server.cli", "demo", "--port", str(port), "--log-level", "warning"]
    argv += ["--data-dir", str(tmp_path / "demo-data"), "--run-example", str(script)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=server_env(), cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"guide saved twinkle://run_[\w-]+/weights/final last loss \d", done.stdout), done.stdout
