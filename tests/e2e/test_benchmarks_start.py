"""Every benchmark runs to its report on the tiny model.

Benchmarks are not imported by the package, so a rename in the engine or the server can break one
unnoticed until someone needs its figures (that happened twice: ``remote_turns.py`` lacked an
argument its shared server code read, ``sampling.py`` read an attribute that was renamed). Each
runs here with the smallest workload it takes and must exit 0 and print its report's last line.
Figures are not checked: speed is measured by running the benchmarks, never asserted.

The quicker ones run with ``make test``; the ones that start several servers or processes are
``slow`` (``make test-slow``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]

QUICK = {
    "pass_scaling": (["--model", "tiny", "--runs", "2", "--steps", "1", "--profile"], "fused / one run:"),
    "remote_turns": (
        ["--model", "tiny", "--tenants", "2", "--rounds", "1", "--round-steps", "1"],
        "http-alone / sync-alone",
    ),
    "packing": (["--model", "tiny", "--rounds", "1"], "packed / padded speed"),
    "sampling": (
        ["--model", "tiny", "--prompts", "2", "--samples", "1", "--max-tokens", "4"],
        "sources fused / sources apart",
    ),
}
SLOW = {
    "multitenant": (
        [
            "--model",
            "tiny",
            "--tenants",
            "2",
            "--steps",
            "1",
            "--modes",
            "peft,round-robin,fused,http-alone,http",
        ],
        "vs peft",
    ),
    "op_costs": (["--steps", "2"], "micro-batch"),
    "server_latency": (
        ["--requests", "3", "--rounds", "1", "--cold-starts", "1", "--loop-steps", "1"],
        "server / peft:",
    ),
    "history_overhead": (["--steps", "2"], "history points written"),
    "journal_overhead": (["--steps", "2"], "recovery snapshot"),
    "encode_speed": (["--rows", "10"], "same labels both ways"),
    "sharded_serving": (
        ["--model", "tiny", "--ranks", "2", "--tenants", "2", "--rounds", "1"],
        "round, median",
    ),
    "ray_serve": (["--calls", "2"], "Ray Serve / plain (median)"),
}
NEEDS = {"ray_serve": "ray"}  # the [ray] extra, which `make test-slow` installs


def _runs_to_its_report(name: str, args: list[str], expected: str) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / f"{name}.py"), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"{name}.py exited {done.returncode}:\n{done.stderr[-3000:]}"
    assert expected in done.stdout, f"{name}.py printed no {expected!r}:\n{done.stdout[-3000:]}"


@pytest.mark.parametrize("name", sorted(QUICK))
def test_a_quick_benchmark_runs_to_its_report(name: str) -> None:
    _runs_to_its_report(name, *QUICK[name])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SLOW))
def test_a_longer_benchmark_runs_to_its_report(name: str) -> None:
    if name in NEEDS:
        pytest.importorskip(NEEDS[name])
    _runs_to_its_report(name, *SLOW[name])


def test_every_benchmark_is_run_here() -> None:
    """A new benchmark joins one of the lists above (``_serve.py`` is their shared code)."""
    scripts = {p.stem for p in (REPO / "benchmarks").glob("*.py")} - {"_serve"}
    assert scripts == set(QUICK) | set(SLOW)
