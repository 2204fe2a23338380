"""examples/dpo_tiny.py: the chosen-minus-rejected margin rises, locally and remotely alike."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e._server import REPO, face_envs

pytestmark = pytest.mark.e2e

UPDATES = 4


def _margins(env: dict[str, str], cwd: Path) -> list[float]:
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / "dpo_tiny.py"), str(UPDATES)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("MARGINS "))
    return json.loads(line[len("MARGINS ") :])


def test_dpo_margin_rises_locally_and_remotely_alike(make_server, tmp_path: Path) -> None:
    server, keys = make_server(users=("alice",))
    local_env, remote_env = face_envs(server, keys["alice"], tmp_path)
    local = _margins(local_env, tmp_path)
    remote = _margins(remote_env, tmp_path)
    print("local margins ", [round(m, 3) for m in local])
    print("remote margins", [round(m, 3) for m in remote])
    assert len(local) == len(remote) == UPDATES
    assert remote == pytest.approx(local, abs=1e-9)
    assert all(b > a for a, b in itertools.pairwise(local)), local
    assert local[-1] > local[0] + 1.0, local
