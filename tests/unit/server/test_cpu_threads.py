"""The server's compute threads sleep when idle unless the operator chose otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from twinkle_server import cpu_threads


def test_configure_sets_a_passive_wait_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    cpu_threads.configure()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"


def test_the_operators_policy_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    cpu_threads.configure()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_the_command_line_sets_it_before_torch_loads() -> None:
    """``twinkle-server`` sets the policy before a subcommand imports torch (which reads it once)."""
    probe = (
        "import os, sys\n"
        "from twinkle_server import cli\n"
        "cli.COMMANDS['probe'] = ('probe', lambda p: None, lambda a: print("
        "os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules) or 0)\n"
        "sys.exit(cli.main(['probe']))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["PASSIVE", "False"]
