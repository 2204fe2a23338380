"""The server's encode worker budget: a request's num_proc never exceeds it, encodes share it,
shutdown stops running workers, and workers die with their parent even on SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from twinkle_server.data.processes import EncodeProcesses, cpu_limit
from twinkle_server.errors import Unavailable

REPO = Path(__file__).resolve().parents[3]


def _pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def test_the_budget_is_capped_by_the_cpus() -> None:
    assert EncodeProcesses(10_000).max_procs == cpu_limit()
    assert EncodeProcesses(1).max_procs == 1


@pytest.mark.skipif(cpu_limit() < 2, reason="needs two CPUs for two worker processes")
def test_num_proc_64_runs_on_the_budget_only() -> None:
    processes = EncodeProcesses(2)
    pids = processes.map(_pid_after, [0.3] * 8, num_proc=64)
    assert len(pids) == 8 and len(set(pids)) == 2 and os.getpid() not in pids
    assert processes.busy == 0


@pytest.mark.skipif(cpu_limit() < 2, reason="needs two CPUs for two worker processes")
def test_concurrent_encodes_share_the_budget() -> None:
    processes = EncodeProcesses(2)
    results: list[list[int]] = []
    seen_busy: list[int] = []

    def encode() -> None:
        results.append(processes.map(_pid_after, [0.5] * 4, num_proc=8))

    threads = [threading.Thread(target=encode) for _ in range(2)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        seen_busy.append(processes.busy)
        time.sleep(0.01)
    workers = {pid for r in results for pid in r} - {os.getpid()}
    assert max(seen_busy) <= 2 and len(workers) <= 2  # the other encode ran in its own thread
    assert os.getpid() in {pid for r in results for pid in r}


def test_one_process_or_none_free_encodes_in_the_calling_thread() -> None:
    assert EncodeProcesses(1).map(_pid_after, [0, 0, 0], num_proc=4) == [os.getpid()] * 3
    assert EncodeProcesses(4).map(_pid_after, [0], num_proc=4) == [os.getpid()]


@pytest.mark.skipif(cpu_limit() < 2, reason="needs two CPUs for two worker processes")
def test_shutdown_stops_a_running_encode_and_its_workers() -> None:
    import multiprocessing

    processes = EncodeProcesses(2)
    outcome: list[BaseException] = []

    def encode() -> None:
        try:
            processes.map(_pid_after, [30.0] * 2, num_proc=2)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=encode)
    thread.start()
    deadline = time.monotonic() + 30
    while processes.busy == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)
    workers = [p.pid for p in multiprocessing.active_children() if "Pool" in (p.name or "")]
    started = time.monotonic()
    processes.shutdown()
    thread.join(timeout=10)
    assert not thread.is_alive() and time.monotonic() - started < 10
    assert len(outcome) == 1 and isinstance(outcome[0], Unavailable)
    assert "shut down" in outcome[0].message
    assert workers and not any(_alive(pid) for pid in workers)
    with pytest.raises(Unavailable, match="shutting down"):
        processes.map(_pid_after, [0, 0], num_proc=2)


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or cpu_limit() < 2, reason="Linux parent-death signal"
)
def test_workers_die_with_a_killed_parent(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import os, sys, time
        from pathlib import Path
        from twinkle_server.data.processes import EncodeProcesses

        def report(seconds):
            (Path(sys.argv[1]) / str(os.getpid())).touch()
            time.sleep(seconds)

        if __name__ == "__main__":
            EncodeProcesses(2).map(report, [60, 60], num_proc=2)
        """
    )
    (tmp_path / "parent.py").write_text(script)
    pids = tmp_path / "pids"
    pids.mkdir()
    parent = subprocess.Popen([sys.executable, str(tmp_path / "parent.py"), str(pids)], cwd=REPO)
    deadline = time.monotonic() + 60
    while len(list(pids.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = [int(p.name) for p in pids.iterdir()]
    assert len(workers) == 2
    assert all(_alive(pid) for pid in workers)
    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=10)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in workers), "encode workers outlived the killed server"
