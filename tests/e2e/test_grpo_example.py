"""examples/grpo_tiny.py: the mean reward rises, and the local and remote runs give the same numbers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e._server import REPO, face_envs

pytestmark = pytest.mark.e2e

UPDATES = 10


def _rewards(env: dict[str, str], cwd: Path) -> list[float]:
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / "grpo_tiny.py"), str(UPDATES)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("REWARDS "))
    return json.loads(line[len("REWARDS ") :])


def test_grpo_reward_rises_locally_and_remotely_alike(make_server, tmp_path: Path) -> None:
    server, keys = make_server(users=("alice",))
    local_env, remote_env = face_envs(server, keys["alice"], tmp_path)
    local = _rewards(local_env, tmp_path)
    remote = _rewards(remote_env, tmp_path)
    print("local rewards ", [round(r, 3) for r in local])
    print("remote rewards", [round(r, 3) for r in remote])
    assert len(local) == len(remote) == UPDATES
    assert remote == pytest.approx(local, abs=1e-9)
    first, last = sum(local[:3]) / 3, sum(local[-3:]) / 3
    assert last > first + 0.2, (first, last)
