"""One follower rank of a sharded replica (``replica.py``): its own process, its own engine.

Started by rank 0 as ``python -m twinkle_server.engine.rank FD``, where FD is this process's end of
a socket pair. It reads its setup from there, joins the replica's process group, builds the same
``MultiLoraModel`` (its share of the decoder layers), then makes every call rank 0 sends, in order,
answering each with its outcome, until rank 0 says ``close`` or goes away.
"""

from __future__ import annotations

import logging
import pickle
import signal
import sys
from multiprocessing.connection import Connection
from typing import Any

import torch.distributed as dist

from twinkle_server.engine.multilora import MultiLoraModel
from twinkle_server.engine.replica import outcome
from twinkle_server.errors import InvalidInput

__all__ = ["follow"]

logger = logging.getLogger(__name__)


def follow(conn: Connection) -> None:
    """Serve rank 0's calls on this rank's model until told to stop (or rank 0 is gone)."""
    group, rank, spec, log_level = conn.recv()
    logging.basicConfig(level=log_level)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches rank 0, which stops this rank
    conn.send_bytes(pickle.dumps("started"))  # rank 0 joins the group only once every rank got here
    try:
        group.join(rank, spec.device)
        model = MultiLoraModel(spec)
    except BaseException as exc:
        conn.send_bytes(pickle.dumps(f"failed: {type(exc).__name__}: {exc}"))
        raise
    conn.send_bytes(pickle.dumps("ok"))
    prepared: dict[int, Any] = {}
    try:
        while True:
            try:
                command = pickle.loads(conn.recv_bytes())
            except EOFError:
                return  # rank 0 is gone
            if command[0] == "close":
                return
            conn.send_bytes(pickle.dumps(_apply(model, prepared, command)))
    finally:
        dist.destroy_process_group()


def _apply(model: MultiLoraModel, prepared: dict[int, Any], command: tuple) -> Any:
    """Make rank 0's call on this rank's model; return its outcome (``replica.outcome``)."""
    name, *args = command
    result: Any = None
    try:
        if name == "add_run":
            result = model.add_run(args[0], **args[1])
        elif name == "remove_run":
            model.remove_run(args[0])
        elif name == "run_op":
            result = model.run_op(args[0], args[1], **args[2])
        elif name == "prepare":
            prepared[args[0]] = model.prepare(args[1], args[2], **args[3])
        elif name == "run_passes":
            result = model.run_passes([prepared.pop(number) for number in args[0]])
        else:
            raise InvalidInput(f"unknown replica command {name!r}")
    except BaseException as exc:  # rank 0 compares: the same error there keeps the ranks in step
        logger.debug("rank call %s failed: %s", name, exc)
        return outcome(None, exc)
    return outcome(result, None)


if __name__ == "__main__":
    follow(Connection(int(sys.argv[1])))
