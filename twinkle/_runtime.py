"""The local face's process-wide state: settings, resolver and one engine worker per base model.

The server keeps the same things in ``twinkle_server.runtime.Runtime``; here there is no database,
no HTTP and no session, only what running the engine and the data pipeline in-process needs. The
settings are the server's (``twinkle_server.config``), so one YAML file describes models, aliases
and data folders for both faces: ``TWINKLE_CONFIG=twinkle.yaml python train.py``.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from twinkle_server.config import ServedModel, Settings
    from twinkle_server.resolver import Resolver

__all__ = ["ENV_CONFIG", "LocalRuntime", "configure", "default_data_dir", "get_runtime"]

logger = logging.getLogger("twinkle")

ENV_CONFIG = "TWINKLE_CONFIG"

_lock = threading.Lock()
_runtime: LocalRuntime | None = None


class LocalRuntime:
    """Settings, resolver and model workers of this process.

    Args:
        settings: the server settings to follow (models, aliases, data roots, data dir).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.resolver = _HintingResolver(_build_resolver(settings))
        self._workers: dict[str, Any] = {}
        self._workers_lock = threading.Lock()

    def served_model(self, model_id: str) -> ServedModel:
        """The configured model named ``model_id``; without configured models, an ad-hoc one."""
        from twinkle_server.config import ServedModel
        from twinkle_server.errors import InvalidInput

        served = self.settings.find_model(model_id)
        if served is not None:
            return served
        if self.settings.models:
            names = ", ".join(name for m in self.settings.models for name in m.ids)
            raise InvalidInput(
                f"model {model_id!r} is not in the configured models ({names}); add it to the file "
                f"named by {ENV_CONFIG}, or use one of those ids"
            )
        return ServedModel(model_id=model_id)

    def worker(self, model_id: str) -> Any:
        """The started ``ModelWorker`` of ``model_id`` (one per base model in this process)."""
        served = self.served_model(model_id)
        with self._workers_lock:
            worker = self._workers.get(served.model_id)
            if worker is None:
                worker = self._build_worker(served)
                worker.start()
                self._workers[served.model_id] = worker
        return worker

    def _build_worker(self, served: ServedModel) -> Any:
        """The worker the server builds for ``served`` (``twinkle_server.workers``); the served
        models share the CPU threads as they do in the server (a script's own thread setting is
        left alone when it trains one model and sets no ``engine_threads``)."""
        from twinkle_server.workers import build_worker, share_cpu_threads

        if len(self.settings.models) > 1 or self.settings.engine_threads:
            share_cpu_threads(self.settings)
        return build_worker(served, self.resolver)

    def default_model_id(self, model_id: str | None) -> str | None:
        """As the server does: no model id means the only configured model, if there is one."""
        if model_id is None and len(self.settings.models) == 1:
            return self.settings.models[0].model_id
        return model_id

    def close(self) -> None:
        """Stop every worker (their adapters go with them)."""
        with self._workers_lock:
            workers, self._workers = list(self._workers.values()), {}
        for worker in workers:
            worker.stop(timeout=30)


def _build_resolver(settings: Settings) -> Resolver:
    """The resolver the server builds from the same settings (``twinkle_server.workers``)."""
    from twinkle_server.workers import build_resolver

    return build_resolver(settings)


class _HintingResolver:
    """The server's resolver, whose not-found errors also say where this face's settings come from.

    Swapping ``twinkle_client`` imports for ``twinkle`` moves a script from a server (which knows
    its aliases and data folders) to this process, which knows them only from ``TWINKLE_CONFIG``:
    the usual thing forgotten, so the error names it.
    """

    def __init__(self, inner: Resolver) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def resolve_model(self, model_id: str) -> Path:
        return self._hinted(self._inner.resolve_model, model_id)

    def resolve_dataset(self, dataset_id: str) -> Path:
        return self._hinted(self._inner.resolve_dataset, dataset_id)

    def _hinted(self, resolve: Any, ident: str) -> Path:
        from twinkle_server.errors import NotFound

        try:
            return resolve(ident)
        except NotFound as exc:
            path = os.environ.get(ENV_CONFIG)
            hint = (
                f"the local twinkle face read its models, aliases and data folders from {ENV_CONFIG}={path}"
                if path
                else f"{ENV_CONFIG} is not set: the local twinkle face knows no aliases or data folders; "
                f"point {ENV_CONFIG} at the server's YAML file (TWINKLE_CONFIG=twinkle.yaml python train.py)"
            )
            raise NotFound(f"{exc.message} ({hint})", details=exc.details) from exc


def default_data_dir() -> Path:
    """Where the local face keeps checkpoints without a settings file: one folder per user, not
    the current directory (``$XDG_DATA_HOME/twinkle``, else ``~/.local/share/twinkle``)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "twinkle"


def _load_default_settings() -> Settings:
    from twinkle_server.config import load_settings

    path = os.environ.get(ENV_CONFIG)
    if path:
        logger.info("twinkle: settings from %s", path)
        return load_settings(Path(path))
    # TWINKLE_DATA_DIR in the environment still wins over the default folder.
    settings = load_settings(None, env={"TWINKLE_DATA_DIR": str(default_data_dir()), **os.environ})
    logger.info("twinkle: no %s; data folder %s", ENV_CONFIG, settings.data_dir)
    return settings


def configure(settings: Settings | str | os.PathLike[str] | None = None) -> LocalRuntime:
    """Set (or reset) the local face's settings: a ``Settings``, a YAML path, or None for the default.

    Workers started under earlier settings are stopped. Call it before building models.

    Example:
        >>> import twinkle
        >>> twinkle.configure("twinkle.yaml")
    """
    global _runtime
    from twinkle_server.config import Settings, load_settings

    if settings is None:
        resolved = _load_default_settings()
    elif isinstance(settings, Settings):
        resolved = settings
    else:
        resolved = load_settings(Path(settings))
    with _lock:
        old, _runtime = _runtime, LocalRuntime(resolved)
    if old is not None:
        old.close()
    return _runtime


def get_runtime() -> LocalRuntime:
    """The process-wide runtime, configured from ``TWINKLE_CONFIG`` on first use."""
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = LocalRuntime(_load_default_settings())
        return _runtime


@atexit.register
def _stop_workers() -> None:
    runtime = _runtime
    if runtime is not None:
        runtime.close()
