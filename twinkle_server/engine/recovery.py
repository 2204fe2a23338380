"""The engine's half of replica failure recovery: a run's full state to disk and back, exactly.

The replica pool (``scale/pool.py``) keeps a journal of each run's acknowledged operations and,
every few optimizer steps, asks the run's replica for a recovery snapshot. When the replica dies,
another one restores the snapshot and replays the journal after it. For the replay to give the
very numbers the lost replica had, a snapshot holds everything an operation reads: the adapter,
the whole training state of a ``save(save_optimizer=True)`` (optimizer, scheduler, loss, template,
processor, counters, partial gradients, the run's random generator), plus what only recovery needs:
the last forward's loss (``calculate_loss``) and the loss's reference checkpoint.

These operations are internal: the pool sends them, the HTTP layer never does. A snapshot folder is
not a user checkpoint and is never listed as one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from twinkle_server.engine import checkpoint as ckpt
from twinkle_server.engine import saving
from twinkle_server.engine.checks import positive
from twinkle_server.engine.sampling import draw_seed
from twinkle_server.errors import Conflict, InvalidInput

if TYPE_CHECKING:
    from twinkle_server.engine.multilora import MultiLoraModel
    from twinkle_server.engine.run import RunState

__all__ = ["RECOVERY_OPERATIONS", "recovery_draw_seeds", "recovery_restore", "recovery_snapshot"]

RECOVERY_STATE = "recovery.json"


def recovery_snapshot(engine: MultiLoraModel, run: RunState, *, path: Any) -> dict:
    """Write the run's full state to the new folder ``path`` (written aside, renamed into place).

    Conflict while a forward's graph waits for its backward: a graph cannot be written, so the
    pool takes the snapshot at a later step.
    """
    if run.pending is not None and run.pending.has_graph:
        raise Conflict("a forward waits for its backward; no recovery snapshot now")
    final = Path(str(path))
    weights = ckpt.adapter_weights(engine.peft_model, run.run_id)  # gathered first: see saving.save
    state, tensors = saving.training_state(run)
    if not engine.writes_files:
        return {}  # another rank of a sharded model: rank 0 writes and answers
    with ckpt.atomic_dir(final) as tmp:
        folder = Path(tmp)
        ckpt.write_adapter(folder, weights, run.lora, engine.model_id)
        ckpt.write_training_state(folder, state, tensors)
        if tensors["optimizer"] is None:  # the state reader expects the file: "no optimizer" in it
            torch.save(None, folder / ckpt.OPTIMIZER_STATE)
        extra = {"last_loss": run.last_loss, "reference_folder": run.reference_folder}
        (folder / RECOVERY_STATE).write_text(json.dumps(extra))
    return {"optimizer_step": run.optimizer_step, "size_bytes": ckpt.folder_size(final)}


def recovery_restore(engine: MultiLoraModel, run: RunState, *, path: Any) -> dict:
    """Give the run exactly the state of the snapshot at ``path`` (see ``recovery_snapshot``)."""
    folder = Path(str(path))
    try:
        extra = json.loads((folder / RECOVERY_STATE).read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{folder} is not a readable recovery snapshot: {exc}") from exc
    configs = saving.load(engine, run, path=folder, load_optimizer=True)
    last = extra.get("last_loss")
    run.last_loss = (last[0], int(last[1])) if last is not None else None
    run.reference_folder = extra.get("reference_folder")
    return configs


def recovery_draw_seeds(engine: MultiLoraModel, run: RunState, *, draws: int = 1) -> dict:
    """Advance the run's generator as ``draws`` seedless samples did (each drew its seed from it),
    so that a replay need not sample again to leave the generator where the lost replica had it."""
    positive("draws", draws)
    for _ in range(int(draws)):
        draw_seed(run.generator)  # what ``sampling.request_seed`` does for either backend
    return {"draws": int(draws)}


RECOVERY_OPERATIONS = {op.__name__: op for op in (recovery_snapshot, recovery_restore, recovery_draw_seeds)}
