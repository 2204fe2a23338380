"""Whether another server instance is gone: by its heartbeat anywhere, and at once on this machine
when its process no longer runs (real child processes stand in for servers)."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from twinkle_server import liveness
from twinkle_server.store.models import utcnow

TIMEOUT_S = 30.0
me = liveness.this_process()
on_linux = pytest.mark.skipif(not me.tag, reason="process tags need Linux's /proc")


@dataclass
class Row:
    id: str
    pid: int
    process: str
    heartbeat_at: datetime


def _row_of(pid: int, *, beat_age_s: float = 0.0, instance_id: str = "inst_x") -> Row:
    started = liveness._started(pid)
    assert started is not None
    return Row(instance_id, pid, f"{me.space}/{started}", utcnow() - timedelta(seconds=beat_age_s))


def _gone(row: Row) -> bool:
    return liveness.is_gone(row, me=me, now=utcnow(), timeout_s=TIMEOUT_S)


def test_a_heartbeat_older_than_the_timeout_is_gone_wherever_it_runs() -> None:
    elsewhere = "another-boot/pid:[1]/123"
    assert not _gone(Row("inst_a", 4242, elsewhere, utcnow() - timedelta(seconds=TIMEOUT_S - 1)))
    assert _gone(Row("inst_a", 4242, elsewhere, utcnow() - timedelta(seconds=TIMEOUT_S + 1)))
    assert not _gone(Row("inst_a", 4242, "", utcnow()))  # nothing known of the process: the beat decides


@on_linux
def test_a_process_of_this_machine_that_ended_is_gone_at_once() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        row = _row_of(child.pid)
        assert not _gone(row)
    finally:
        child.stdin.close()
        child.wait(timeout=30)
    assert _gone(row)


@on_linux
def test_a_killed_process_not_yet_reaped_is_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    row = _row_of(child.pid)
    child.kill()
    try:
        deadline = utcnow() + timedelta(seconds=10)
        while liveness._started(child.pid) is not None and utcnow() < deadline:
            time.sleep(0.01)  # a zombie until reaped: its /proc entry says so
        assert _gone(row)
    finally:
        child.wait(timeout=30)


@on_linux
def test_a_pid_that_now_names_another_process_is_gone() -> None:
    row = _row_of(me.pid)
    row.process = f"{me.space}/1"  # this pid, started at another time: a reused pid
    row.id = "inst_earlier"
    assert _gone(row)


@on_linux
def test_this_process_is_alive_while_one_of_its_runtimes_holds_the_row() -> None:
    row = Row("inst_here", me.pid, me.tag, utcnow())
    liveness.hold(row.id)
    try:
        assert not _gone(row)
    finally:
        liveness.let_go(row.id)
    assert _gone(row)  # a previous life of this very process (a server restarted as the same pid)
