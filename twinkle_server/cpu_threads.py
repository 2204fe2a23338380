"""CPU compute threads of a serving process: they sleep when idle instead of spinning.

torch runs its CPU kernels on an OpenMP thread pool. By default an idle pool thread spins for a
while before it sleeps, so that the next kernel starts a few microseconds sooner. A training script
alone on its machine loses nothing by that. A server does: between two kernels of a step, and
between two steps, the spinning threads hold every core, while the threads that must run then (the
event loop parsing the next request, the database writes, the client when it shares the machine)
wait for one. On a loaded 2-core machine one user's server steps at 1 x 64 tokens took 9x the CPU
time with spinning threads (``benchmarks/multitenant.py`` on the CPU prints the figures).

The policy is read once, when OpenMP's library loads with torch, so ``configure()`` runs before
anything imports torch. An ``OMP_WAIT_POLICY`` set by the operator wins.
"""

from __future__ import annotations

import logging
import os
import sys

__all__ = ["WAIT_POLICY", "configure"]

WAIT_POLICY = "PASSIVE"

logger = logging.getLogger(__name__)


def configure() -> None:
    """Let idle compute threads sleep (``OMP_WAIT_POLICY=PASSIVE``) unless the operator chose."""
    if "OMP_WAIT_POLICY" in os.environ:
        return
    if "torch" in sys.modules:
        logger.warning("torch was imported before the CPU thread policy was set; idle threads may spin")
    os.environ["OMP_WAIT_POLICY"] = WAIT_POLICY
