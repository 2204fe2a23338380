"""This server process among the processes sharing one database, and whether another is gone.

Each running :class:`~twinkle_server.runtime.Runtime` is a server instance with a row in
``server_instances`` (``store/instances.py``) that it beats. An instance is gone when its beat is
older than ``instance_timeout_s``: it crashed, hangs, or lost the database. On this machine more
can be known at once, without waiting for the timeout:

* a row written by a process in this kernel's pid namespace whose pid no longer runs, or now names
  a younger process (a pid reused), is gone;
* a row of this very process that no runtime of this process holds is gone: the server was
  restarted under the same pid (pid 1 in a container).

So a restarted server recovers its previous life at start-up, and a live peer is never taken for
gone, also when both run in one process (tests) or on one machine. The database's clocks are the
servers' own: keep them synchronised (NTP) to well under the timeout.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

__all__ = ["InstanceRow", "ThisProcess", "hold", "is_gone", "let_go", "this_process"]

_PROC = Path("/proc")
_held_here: set[str] = set()
_lock = threading.Lock()


class InstanceRow(Protocol):
    """What :func:`is_gone` reads of a ``server_instances`` row."""

    id: str
    pid: int
    process: str
    heartbeat_at: datetime


@dataclass(frozen=True)
class ThisProcess:
    """``tag``: boot id, pid namespace and start time of this pid, joined by ``/`` (empty where the
    platform does not tell them): equal tags mean the same process of the same boot."""

    host: str
    pid: int
    tag: str

    @property
    def space(self) -> str:
        """The part of the tag every process of this kernel's pid namespace shares."""
        return self.tag.rpartition("/")[0]


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _started(pid: int) -> str | None:
    """When ``pid`` started (clock ticks since boot), or None: no such process, or a zombie."""
    stat = _read(_PROC / str(pid) / "stat")
    if stat is None:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()  # after "pid (name) ": state is field 3
    if not fields or fields[0] in ("Z", "X"):
        return None
    return fields[19]  # field 22, starttime


def this_process() -> ThisProcess:
    pid = os.getpid()
    boot = _read(_PROC / "sys/kernel/random/boot_id")
    try:
        namespace = os.readlink(_PROC / "self/ns/pid")
    except OSError:
        namespace = None
    started = _started(pid)
    tag = f"{boot}/{namespace}/{started}" if boot and namespace and started else ""
    return ThisProcess(host=socket.gethostname(), pid=pid, tag=tag)


def hold(instance_id: str) -> None:
    """A runtime of this process now serves as ``instance_id``."""
    with _lock:
        _held_here.add(instance_id)


def let_go(instance_id: str) -> None:
    """The runtime serving as ``instance_id`` stopped."""
    with _lock:
        _held_here.discard(instance_id)


def _gone_from_this_machine(row: InstanceRow, me: ThisProcess) -> bool:
    """Whether ``row`` names a process of this pid namespace that is known not to run any more."""
    if not me.tag or not row.process:
        return False
    space, _, started = row.process.rpartition("/")
    if space != me.space:  # another machine, another boot or another pid namespace
        return False
    if row.process == me.tag:  # this process: gone unless one of its runtimes holds the row
        with _lock:
            return row.id not in _held_here
    return _started(row.pid) != started


def is_gone(row: InstanceRow, *, me: ThisProcess, now: datetime, timeout_s: float) -> bool:
    """Whether the instance ``row`` is gone, so that what it held may be recovered (module doc)."""
    if row.heartbeat_at < now - timedelta(seconds=timeout_s):
        return True
    return _gone_from_this_machine(row, me)
