"""A served base model sharded across the processes of one replica: the same engine on every rank.

Why mirroring: FSDP2 (``sharding.shard_decoder``) gathers a decoder layer's weights from every rank
while the layer runs, so every rank must run every pass, in the same order. Rank 0 is the ordinary
engine in the server process: the worker (``worker.py``) queues, plans and fuses as always and calls
this class where it would call ``MultiLoraModel``. Each call that changes the model or runs a pass
(``add_run``, ``remove_run``, ``run_op``, ``prepare``, ``run_passes``) is first sent to the other
ranks, processes started here (``rank.py``, fresh interpreters), whose own ``MultiLoraModel`` makes
the same call; every rank then holds the same runs, adapters, optimizers and random generators, and
meets the same collectives.

::

    worker thread ── call ──► ShardedReplica ── pickled call ──► rank 1..N-1: MultiLoraModel (same call)
                                   │                                   │
                                   └── MultiLoraModel (rank 0) ◄─ FSDP all-gathers ─┘
                                   ◄──────────────── each rank's outcome ─────────────

- Each run's adapter is sharded as it is added (``adapter_shards.py``): every rank keeps 1/N of
  its weights, gradients and optimizer state, and a pass gathers its runs' weights whole. Every rank
  runs the whole pass (the same rows), so each computes the same full gradient and keeps its slice;
  no gradient is reduced. The compute is redundant (each rank does rank 0's work); what sharding
  buys is memory. Splitting a pass's rows across the ranks is the next step.
- Operations that write files (``save``, ``recovery_snapshot``) run on every rank, which gathers
  the adapter (and training state); rank 0 alone then writes. Rank 0 failing after the gathers
  (the folder exists, the disk is full) while the others succeeded is its own refusal, not a
  divergence: the error goes to the user and the replica serves on.
- Every rank answers each call with its outcome; one that fails where rank 0 succeeded (or the
  reverse), dies, or does not answer within ``timeout_s`` of rank 0 breaks the replica, and so does
  an error on rank 0 other than a refusal (``TwinkleError``), out of memory included, since it may
  have left a pass with the other ranks waiting in a collective: the call and every later one fail
  with Unavailable (503) and ``failure`` says why, for the worker to stop serving (``ModelWorker``
  then reports FAILED). A rank never waits forever: gloo and NCCL give up on a collective after
  ``timeout_s``.

One process group per process: a server process serves at most one sharded model.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import logging
import multiprocessing
import os
import pickle
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

import torch
import torch.distributed as dist

from twinkle_server.engine.adapter_shards import shard_elements
from twinkle_server.engine.loading import model_folder, resolve_device
from twinkle_server.engine.multilora import MultiLoraModel
from twinkle_server.engine.sharding import free_port, sharded_elements
from twinkle_server.engine.spec import ModelSpec
from twinkle_server.errors import InvalidInput, TwinkleError, Unavailable

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "RANK0_ONLY_KWARGS",
    "RANK0_WRITES_OPS",
    "RankGroup",
    "ShardedReplica",
    "outcome",
]

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 300.0
"""How long a rank may lag rank 0 on one call, or wait in one collective, before the replica is
declared broken. Every rank does the same work, so a healthy one lags by milliseconds."""

RANK0_WRITES_OPS = frozenset({"save", "recovery_snapshot"})
"""Operations that gather a run's adapter on every rank and write files on rank 0 alone."""

RANK0_ONLY_KWARGS = frozenset({"on_token"})
"""Arguments only rank 0 acts on (a sample's streaming callback): not sent to the other ranks."""

_POLL_S = 0.2


@dataclasses.dataclass(frozen=True)
class RankGroup:
    """How the ranks of one replica meet: their number, the collective backend, the rendezvous."""

    ranks: int
    backend: str
    port: int
    timeout_s: float

    def join(self, rank: int, device: str) -> None:
        if device.startswith("cuda"):
            torch.cuda.set_device(torch.device(device))
        dist.init_process_group(
            self.backend,
            init_method=f"tcp://127.0.0.1:{self.port}",
            rank=rank,
            world_size=self.ranks,
            timeout=datetime.timedelta(seconds=self.timeout_s),
        )


@dataclasses.dataclass
class _Follower:
    rank: int
    process: subprocess.Popen
    conn: Connection

    def alive(self) -> bool:
        return self.process.poll() is None


class ShardedReplica:
    """``MultiLoraModel`` whose base model is sharded across ``spec.shard_ranks`` processes.

    Built by the worker on its thread in place of ``MultiLoraModel``, with the same calls; this
    process is rank 0. Not thread-safe, like the model it wraps; the read-only facts (``tokenizer``,
    ``token_budget``, ``pass_key``, ``reference_rows``, ``capacity``, ...) come from rank 0's model.

    Args:
        spec: the served model; ``shard_ranks`` >= 2.
        resolver: finds the weights' folder (once, here; the other ranks get the folder).
        timeout_s: see ``DEFAULT_TIMEOUT_S``.
    """

    OPERATIONS = MultiLoraModel.OPERATIONS
    FUSABLE_OPS = MultiLoraModel.FUSABLE_OPS

    def __init__(
        self, spec: ModelSpec, *, resolver: Any = None, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> None:
        ranks = spec.shard_ranks
        if isinstance(ranks, bool) or not isinstance(ranks, int) or ranks < 2:
            raise InvalidInput(f"a sharded replica needs shard_ranks >= 2, got {ranks!r}")
        if spec.sampler_backend == "vllm":
            raise InvalidInput("sampler_backend 'vllm' cannot serve a sharded model; use 'transformers'")
        if dist.is_initialized():
            raise InvalidInput(
                "this process already belongs to a process group: one process serves at most one "
                "sharded model (set shard_ranks on one served model, or run one server per model)"
            )
        self.failure: Unavailable | None = None
        self._timeout_s = timeout_s
        self._followers: list[_Follower] = []
        self._prepared: dict[int, int] = {}  # id(prepared item) -> its number on the other ranks
        self._next_item = 0
        self._model: MultiLoraModel | None = None
        folder = model_folder(spec, resolver)
        devices, backend = _rank_devices(spec.device, ranks)
        specs = [dataclasses.replace(spec, path=folder, device=device) for device in devices]
        group = RankGroup(ranks, backend, free_port(), timeout_s)
        try:
            self._start_followers(specs, group)
            self._expect("started", "start-up")  # each rank imported everything: joining cannot hang
            group.join(0, devices[0])
            self._model = MultiLoraModel(specs[0])
            self._expect("ok", "loading")
        except BaseException:
            self.close()
            raise

    # -- mirrored calls ------------------------------------------------------------------------

    def add_run(self, run_id: str, **kwargs: Any) -> dict:
        return self._mirror(("add_run", run_id, kwargs), lambda: self._local.add_run(run_id, **kwargs))

    def remove_run(self, run_id: str) -> None:
        self._mirror(("remove_run", run_id), lambda: self._local.remove_run(run_id))

    def run_op(self, run_id: str, op: str, **kwargs: Any) -> dict:
        command = ("run_op", run_id, op, _sendable(kwargs))
        writes = op in RANK0_WRITES_OPS
        return self._mirror(command, lambda: self._local.run_op(run_id, op, **kwargs), rank0_writes=writes)

    def prepare(self, run_id: str, op: str, **kwargs: Any) -> Any:
        number = self._next_item
        self._next_item += 1
        command = ("prepare", number, run_id, op, _sendable(kwargs))
        item = self._mirror(command, lambda: self._local.prepare(run_id, op, **kwargs))
        self._prepared[id(item)] = number
        return item

    def run_passes(self, items: Sequence[Any]) -> list[Any]:
        numbers = [self._prepared.pop(id(item)) for item in items]
        return self._mirror(("run_passes", numbers), lambda: self._local.run_passes(items))

    @property
    def rank_pids(self) -> list[int]:
        """Process ids of ranks 1..N-1 (rank 0 is this process)."""
        return [follower.process.pid for follower in self._followers]

    def layer_elements(self) -> tuple[int, int]:
        """(elements of the decoder layers' weights this rank holds, elements of all of them), once a
        run exists: with N ranks the first is about 1/N of the second."""
        return sharded_elements(self._local.peft_model)

    def adapter_elements(self, run_id: str) -> dict[str, tuple[int, int]]:
        """For run ``run_id`` on this rank: (elements held, elements in all) of its adapter weights,
        of their gradients and of its optimizer state; with N ranks each held is about 1/N."""
        run = self._local._get_run(run_id)
        grads = [(name, p.grad) for name, p in run.params if p.grad is not None]
        states = run.optimizer.state.values() if run.optimizer is not None else ()
        moments = [(key, v) for state in states for key, v in state.items() if v.dim() > 0]
        return {
            "weights": shard_elements(run.params),
            "grads": shard_elements(grads),
            "optimizer": shard_elements(moments),
        }

    # -- everything else: rank 0's model -------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        model = self.__dict__.get("_model")
        if model is None:
            raise AttributeError(name)
        return getattr(model, name)

    @property
    def _local(self) -> MultiLoraModel:
        assert self._model is not None
        return self._model

    def close(self) -> None:
        """Stop the other ranks (asked first, then terminated) and leave the process group."""
        for follower in self._followers:
            with contextlib.suppress(OSError, ValueError):  # already gone
                follower.conn.send_bytes(pickle.dumps(("close",)))
        patience = 1.0 if self.failure is not None else 10.0  # a broken rank may sit in a collective
        for follower in self._followers:
            try:
                follower.process.wait(timeout=patience)
            except subprocess.TimeoutExpired:
                follower.process.terminate()
                follower.process.wait(timeout=5.0)
            follower.conn.close()
        self._followers = []
        self._model = None
        if dist.is_initialized():
            dist.destroy_process_group()

    # -- internals -----------------------------------------------------------------------------

    def _start_followers(self, specs: Sequence[ModelSpec], group: RankGroup) -> None:
        """Start ranks 1..N-1 as fresh interpreters (``python -m twinkle_server.engine.rank``), each
        given one end of a socket pair. Not multiprocessing's spawn: that imports this process's
        main module again in the child, which reruns a user's script that has no main guard."""
        log_level = logging.getLogger().getEffectiveLevel()  # the ranks log as this process does
        env = rank_environment()
        for rank in range(1, len(specs)):
            ours, theirs = multiprocessing.Pipe()
            argv = [sys.executable, "-m", "twinkle_server.engine.rank", str(theirs.fileno())]
            process = subprocess.Popen(argv, pass_fds=(theirs.fileno(),), env=env)
            theirs.close()
            self._followers.append(_Follower(rank, process, ours))
            try:
                ours.send((group, rank, specs[rank], log_level))
            except OSError as exc:  # its interpreter already exited: the pipe is closed
                raise Unavailable(f"rank {rank} is gone during start-up ({exc})") from exc

    def _check_serving(self) -> None:
        if self.failure is not None:
            raise self.failure

    def _mirror(self, command: tuple, call: Callable[[], Any], *, rank0_writes: bool = False) -> Any:
        """Send ``command`` to the other ranks, make the same ``call`` here, compare the outcomes.

        ``rank0_writes``: the call gathers on every rank and then writes on rank 0 alone; rank 0
        failing where every other rank succeeded failed writing, after all collectives.
        """
        self._check_serving()
        for follower in self._followers:  # one that died between calls is noticed before any collective
            if not follower.alive():
                self._break(f"rank {follower.rank} exited with code {follower.process.returncode}")
        try:
            payload = pickle.dumps(command)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise InvalidInput(f"{command[0]}: its arguments cannot be sent to the ranks: {exc}") from exc
        for follower in self._followers:
            try:
                follower.conn.send_bytes(payload)
            except OSError as exc:
                self._break(f"rank {follower.rank} is gone ({exc})")
        error: BaseException | None = None
        result: Any = None
        try:
            result = call()
        except TwinkleError as exc:  # refused before any collective, alike on every rank
            error = exc
        except BaseException as exc:  # possibly inside a pass: the ranks' collectives are out of step
            error = exc
            if not rank0_writes:
                self._break(f"rank 0 failed during {command[0]}: {type(exc).__name__}: {exc}")
        ours = outcome(result, error)
        answers = [(follower, self._answer(follower, command[0])) for follower in self._followers]
        for follower, theirs in answers:
            if theirs != ours and not (rank0_writes and theirs == "ok"):
                self._break(f"rank {follower.rank} diverged from rank 0 on {command[0]}: {theirs} vs {ours}")
        crashed = error is not None and not isinstance(error, TwinkleError)
        if crashed and any(theirs != "ok" for _, theirs in answers):  # not rank 0's writing alone
            self._break(f"rank 0 failed during {command[0]}: {type(error).__name__}: {error}")
        if error is not None:
            raise error
        return result

    def _expect(self, answer: str, what: str) -> None:
        """Every other rank answers ``answer`` to ``what``; Unavailable naming the first that did not."""
        for follower in self._followers:
            got = self._answer(follower, what)
            if got != answer:
                raise Unavailable(f"rank {follower.rank} failed during {what}: {got}")

    def _answer(self, follower: _Follower, what: str) -> Any:
        """The follower's outcome of its last call; breaks the replica when it died or lags too long."""
        deadline = time.monotonic() + self._timeout_s
        while not follower.conn.poll(_POLL_S):
            if not follower.alive():
                code = follower.process.returncode
                self._break(f"rank {follower.rank} exited with code {code} during {what}")
            if time.monotonic() > deadline:
                self._break(f"rank {follower.rank} did not finish {what} within {self._timeout_s:.0f}s")
        try:
            return pickle.loads(follower.conn.recv_bytes())
        except (EOFError, OSError) as exc:
            self._break(f"rank {follower.rank} is gone during {what} ({exc})")

    def _break(self, reason: str) -> None:
        logger.error("sharded replica of %s broke: %s", self._model.model_id if self._model else "?", reason)
        self.failure = Unavailable(
            f"a rank of this sharded model stopped serving: {reason}; the model must be restarted",
            details={"cause": reason},
        )
        raise self.failure


def _sendable(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in kwargs.items() if key not in RANK0_ONLY_KWARGS}


def outcome(result: Any, error: BaseException | None) -> Any:
    """What ranks compare: failed or not, and for a pass which items failed."""
    if error is not None:
        return "failed"
    if isinstance(result, list):
        return [isinstance(outcome, BaseException) for outcome in result]
    return "ok"


def rank_environment() -> dict[str, str]:
    """The environment of a rank's interpreter: this one's, with our imports on its path, and
    torch's thread count of this process (the share ``workers.share_cpu_threads`` gave each rank:
    N ranks on one machine with the machine's count each would oversubscribe its CPUs)."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        "OMP_NUM_THREADS": str(torch.get_num_threads()),
    }


def _rank_devices(device: str, ranks: int) -> tuple[list[str], str]:
    """Each rank's device and the collective backend: ``cuda:base+r`` with NCCL, else the CPU with gloo."""
    resolved = resolve_device(device)
    if resolved.type == "cpu":
        return ["cpu"] * ranks, "gloo"
    if resolved.type != "cuda":
        raise InvalidInput(f"shard_ranks needs CUDA devices or the CPU, got device {device!r}")
    base = resolved.index or 0
    if base + ranks > torch.cuda.device_count():
        raise InvalidInput(
            f"shard_ranks={ranks} from cuda:{base} needs {base + ranks} CUDA devices, "
            f"{torch.cuda.device_count()} are visible"
        )
    return [f"cuda:{base + r}" for r in range(ranks)], "nccl"
