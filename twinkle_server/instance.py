"""This server process as one instance among those sharing a database: register, beat, recover
what gone instances held, and say why a run held elsewhere cannot be served here.

Why a module of its own: several server processes (or Ray ingresses) may share one PostgreSQL
database, while adapters, running tasks and unanswered requests live in one process's memory.
Each process therefore has a row in ``server_instances`` (``store/instances.py``) that it beats,
and the runs, tasks and idempotency claims it holds record its id. Recovery (at start-up and at
every beat) touches only what instances that are gone held (``twinkle_server.liveness`` decides
which are gone), never a live peer's.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from twinkle_server import liveness
from twinkle_server.errors import HeldElsewhere, TwinkleError, Unavailable
from twinkle_server.store import instances as records
from twinkle_server.store.db import Store
from twinkle_server.store.idempotency import purge_idempotency
from twinkle_server.store.ids import new_id
from twinkle_server.store.models import TrainingRun, utcnow
from twinkle_server.store.recovery import Recovery, recover_orphans
from twinkle_server.store.runs import RunRoute

__all__ = ["ThisInstance"]

logger = logging.getLogger("twinkle_server.instance")


class ThisInstance:
    """This process's instance row and what it does with its peers' rows.

    Args:
        store: the shared database.
        timeout_s: a peer silent this long is gone (``instance_timeout_s``).
    """

    def __init__(self, store: Store, *, timeout_s: float) -> None:
        self.store = store
        self.timeout_s = timeout_s
        self.id = new_id("inst")
        self.process = liveness.this_process()
        self.peer_loads: list[dict[str, int]] = []
        self._swept = False  # whether a beat has recovered every orphan once (at start-up)

    def register(self) -> None:
        with self.store.session() as s:
            self._register(s)
        me = self.process
        logger.info("serving as server instance %s (%s, pid %d)", self.id, me.host, me.pid)

    def _register(self, s: Session) -> None:
        liveness.hold(self.id)
        me = self.process
        records.register_instance(s, instance_id=self.id, host=me.host, pid=me.pid, process=me.tag)

    def retire(self) -> None:
        """Deregister (a clean shutdown): peers recover what it held at their next beat."""
        try:
            with self.store.session() as s:
                records.retire_instance(s, instance_id=self.id)
        except Exception:
            logger.exception("could not deregister server instance %s", self.id)
        liveness.let_go(self.id)

    def beat(self, load: dict[str, int]) -> Recovery:
        """Mark this instance alive with its ``load`` (operations in flight per user), read the live
        peers' loads into :attr:`peer_loads`, and recover what the gone ones held.

        The first beat (at start-up) recovers every orphan, rows of no instance included (written
        before this schema, or by tools); later beats do so only when a peer is newly gone, and
        otherwise just drop expired idempotency records: the beat stays a few indexed queries."""
        now = utcnow()
        with self.store.session() as s:
            gone = self._beat(s, load, now)
            recover = bool(gone) or not self._swept
            if recover:
                recovery = recover_orphans(s, gone_instances=gone, now=now)
            else:
                recovery = Recovery([], [], purge_idempotency(s, now=now))
        self._swept = True
        if recover and recovery:
            logger.info(
                "recovered what %d gone server instances held: %d runs released (continue them from "
                "a checkpoint), %d unfinished tasks failed, %d idempotency records dropped",
                len(gone),
                len(recovery.released_run_ids),
                len(recovery.failed_task_ids),
                recovery.purged_idempotency_records,
            )
        return recovery

    def _beat(self, s: Session, load: dict[str, int], now: datetime) -> list[str]:
        """Write this instance's beat, read the live peers' loads; the ids of the gone peers."""
        if not records.beat_instance(s, instance_id=self.id, load=load, now=now):
            logger.error(
                "server instance %s was taken for gone by a peer (no beat for %.0f s): its runs "
                "were released and its unfinished tasks failed; registering again",
                self.id,
                self.timeout_s,
            )
            self._register(s)
        gone, loads = [], []
        for row in records.list_instances(s):
            if row.id == self.id:
                continue
            if liveness.is_gone(row, me=self.process, now=now, timeout_s=self.timeout_s):
                gone.append(row.id)
            else:
                loads.append(row.load or {})
        self.peer_loads = loads
        return gone

    def refusal(self, run: RunRoute | TrainingRun) -> TwinkleError:
        """Why this process cannot run the operations of ``run``, held by another instance: 409
        naming the live holder, or 503 while a gone holder is not yet recovered."""
        with self.store.read_session() as s:
            holder = None if run.instance_id is None else records.get_instance(s, instance_id=run.instance_id)
        if holder is not None and not liveness.is_gone(
            holder, me=self.process, now=utcnow(), timeout_s=self.timeout_s
        ):
            return HeldElsewhere(
                f"training run {run.id} is held by another server process ({holder.host}, pid "
                f"{holder.pid}, instance {holder.id}): its adapter lives in that process's memory, "
                f"and this process ({self.process.host}, pid {self.process.pid}) cannot run its "
                "operations. Send the run's requests to the process that created it (route a "
                "session's requests to one process)",
                details={
                    "training_run_id": run.id,
                    "held_by": {"instance_id": holder.id, "host": holder.host, "pid": holder.pid},
                },
            )
        return Unavailable(
            f"the server process that held training run {run.id} has stopped; the run is released "
            f"once that process has been silent for instance_timeout_s={self.timeout_s:g} s. Then "
            "create a new training run and load this run's last checkpoint to continue",
            details={"training_run_id": run.id, "instance_id": run.instance_id},
            retry_after=self.timeout_s,
        )
