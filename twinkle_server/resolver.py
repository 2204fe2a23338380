"""One place that turns model and dataset ids into local files (design §5: offline by default).

Every id a user sends (``ms://org/name``, ``hf://org/name``, a bare ``org/name`` model id, an alias, a
local path) goes through a ``Resolver``. The order is fixed and cheap first:

1. the server's configured aliases (an id, or the id without its ``ms://``/``hf://`` prefix);
2. the local hub cache, ``cache_dir/ms/org/name`` or ``cache_dir/hf/org/name``;
3. a real download through ``modelscope`` / ``huggingface_hub``, when installed and ``allow_download``;
4. otherwise ``NotFound``, naming the id and the folder where its files can be placed.

Local paths are served only from the configured data roots: ``..`` components are refused outright,
and a path (or a file inside a folder) whose real location, symlinks resolved, lies outside every
root is refused too. Alias targets and the hub cache are server configuration and are trusted.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath

from twinkle_server.errors import InvalidInput, NotFound

__all__ = ["HUBS", "Resolver", "parse_hub_id"]

logger = logging.getLogger(__name__)

HUBS = ("ms", "hf")
_HUB_CLIENTS = {"ms": "modelscope", "hf": "huggingface_hub"}
_REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9_.\-]+$")
_MAX_ALIAS_DEPTH = 8
_DATA_SUFFIXES = frozenset((".jsonl", ".json", ".csv", ".parquet", ".txt", ".arrow"))


def parse_hub_id(value: str) -> tuple[str | None, str]:
    """Split ``ms://org/name`` into ``("ms", "org/name")``; a bare id gives ``(None, value)``.

    Raises InvalidInput for an unknown scheme or a repository name that is not ``org/name``.
    """
    if "://" not in value:
        return None, value
    scheme, _, repo = value.partition("://")
    if scheme not in HUBS:
        raise InvalidInput(
            f"unknown hub prefix {scheme + '://'!r} in {value!r}; use ms://org/name or hf://org/name",
            details={"id": value},
        )
    if not _REPO_RE.match(repo) or ".." in repo:
        raise InvalidInput(
            f"{value!r} is not a hub id of the form {scheme}://org/name", details={"id": value}
        )
    return scheme, repo


class Resolver:
    """Finds the local folder or file behind a model or dataset id.

    Args:
        aliases: id -> local path, or -> another id (a hub id or another alias key). Keys may carry
            a hub prefix or not; an id also matches the key written without its prefix.
        cache_dir: the local hub cache; files for ``ms://org/name`` live in ``cache_dir/ms/org/name``.
        data_roots: the folders local paths may point into. Empty: local paths are refused.
        allow_download: try the hub clients when an id is neither aliased nor cached.
    """

    def __init__(
        self,
        *,
        aliases: Mapping[str, str | Path] | None = None,
        cache_dir: Path | None = None,
        data_roots: Sequence[Path] = (),
        allow_download: bool = True,
    ) -> None:
        self.aliases = {str(k): v for k, v in (aliases or {}).items()}
        self.cache_dir = Path(cache_dir).expanduser().resolve() if cache_dir is not None else None
        self.data_roots = [Path(r).expanduser().resolve() for r in data_roots]
        self.allow_download = allow_download
        self._download_lock = threading.Lock()

    # -- public -------------------------------------------------------------------------------

    def resolve_model(self, model_id: str) -> Path:
        """A local folder holding the model's config and tokenizer files."""
        path = self._resolve(_check_id(model_id, "model_id"), kind="model")
        if not path.is_dir():
            raise InvalidInput(f"model {model_id!r} resolves to {path}, which is not a folder")
        if not any((path / name).is_file() for name in ("config.json", "tokenizer_config.json")):
            raise NotFound(
                f"model folder {path} (for {model_id!r}) holds neither config.json nor "
                "tokenizer_config.json; place a complete model folder there",
                details={"id": model_id, "path": str(path)},
            )
        return path

    def resolve_dataset(self, dataset_id: str) -> Path:
        """A local file or folder holding the dataset's data files."""
        return self._resolve(_check_id(dataset_id, "dataset_id"), kind="dataset")

    def local_path(self, path: str | Path) -> Path:
        """The real path of ``path`` inside a data root; InvalidInput or NotFound otherwise.

        A relative path is looked up under each root in order. A folder is checked entry by entry,
        so a symlink inside it cannot lead out of the roots either.
        """
        text = os.fspath(path)
        if not text or "\x00" in text:
            raise InvalidInput(f"invalid local path {text!r}")
        if ".." in PurePath(text).parts:
            raise InvalidInput(
                f"local path {text!r} contains '..'; give a path inside the data roots without '..'",
                details={"path": text, "data_roots": [str(r) for r in self.data_roots]},
            )
        if not self.data_roots:
            raise InvalidInput(
                f"local path {text!r} refused: this server has no data roots configured, so only "
                "hub ids and aliases can be loaded",
                details={"path": text},
            )
        raw = Path(text)
        candidates = [raw] if raw.is_absolute() else [root / raw for root in self.data_roots]
        for candidate in candidates:
            if not (candidate.exists() or candidate.is_symlink()):
                continue
            real = candidate.resolve()
            if not self._inside_roots(real):
                raise InvalidInput(
                    f"local path {text!r} resolves to {real}, outside the data roots "
                    f"({', '.join(map(str, self.data_roots))}); copy the data into a data root",
                    details={"path": text, "data_roots": [str(r) for r in self.data_roots]},
                )
            if real.is_dir():
                self._check_tree(real, text)
            return real
        if raw.is_absolute() and not self._inside_roots(Path(os.path.normpath(raw))):
            raise InvalidInput(
                f"local path {text!r} is outside the data roots ({', '.join(map(str, self.data_roots))})",
                details={"path": text, "data_roots": [str(r) for r in self.data_roots]},
            )
        raise NotFound(
            f"no file or folder {text!r} under the data roots ({', '.join(map(str, self.data_roots))})",
            details={"path": text, "data_roots": [str(r) for r in self.data_roots]},
        )

    # -- resolution order ---------------------------------------------------------------------

    def _resolve(self, ident: str, *, kind: str, depth: int = 0) -> Path:
        target = self._alias(ident)
        if target is not None:
            return self._from_alias(ident, target, kind=kind, depth=depth)
        hub, repo = parse_hub_id(ident)
        if hub is None and not self._looks_like_repo(ident, kind):
            return self.local_path(ident)
        if hub is None:
            try:
                return self.local_path(ident)
            except (NotFound, InvalidInput):
                pass
        hubs = (hub,) if hub else HUBS
        for name in hubs:
            cached = self._cached(name, repo)
            if cached is not None:
                return cached
        return self._download(hubs[0], repo, ident, kind=kind)

    def _alias(self, ident: str) -> str | Path | None:
        if ident in self.aliases:
            return self.aliases[ident]
        _, sep, bare = ident.partition("://")
        if sep and bare in self.aliases:
            return self.aliases[bare]
        return None

    def _from_alias(self, ident: str, target: str | Path, *, kind: str, depth: int) -> Path:
        if isinstance(target, str) and ("://" in target or target in self.aliases):
            if depth >= _MAX_ALIAS_DEPTH:
                raise InvalidInput(f"alias chain for {ident!r} is too long (a loop?); fix the aliases")
            return self._resolve(target, kind=kind, depth=depth + 1)
        path = Path(target).expanduser()
        if not path.exists():
            raise NotFound(
                f"{kind} {ident!r} is an alias for {path}, which does not exist; create it or fix the alias",
                details={"id": ident, "path": str(path)},
            )
        return path.resolve()

    def _looks_like_repo(self, ident: str, kind: str) -> bool:
        """A bare ``org/name`` is a hub id for models; for datasets unless it ends like a data file."""
        if not _REPO_RE.match(ident) or ".." in ident:
            return False
        return kind == "model" or Path(ident).suffix.lower() not in _DATA_SUFFIXES

    def _cached(self, hub: str, repo: str) -> Path | None:
        if self.cache_dir is None:
            return None
        folder = self.cache_dir / hub / repo
        return folder.resolve() if folder.is_dir() and any(folder.iterdir()) else None

    def _hint(self, hub: str, repo: str) -> str:
        if self.cache_dir is None:
            return "configure a hub cache folder (hub_cache_dir) or an alias for it"
        return f"place its files in {self.cache_dir / hub / repo} or configure an alias for it"

    # -- downloads ----------------------------------------------------------------------------

    def _download(self, hub: str, repo: str, ident: str, *, kind: str) -> Path:
        hint = self._hint(hub, repo)
        details = {"id": ident, "hub": hub, "repo": repo}
        if self.cache_dir is not None:
            details["expected_path"] = str(self.cache_dir / hub / repo)
        if not self.allow_download:
            raise NotFound(f"{kind} {ident!r} is not available offline; {hint}", details=details)
        client = _HUB_CLIENTS[hub]
        try:
            __import__(client)
        except ImportError:
            raise NotFound(
                f"{kind} {ident!r} is not cached and the {client!r} package is not installed "
                f"to download it; {hint}",
                details=details,
            ) from None
        if self.cache_dir is None:
            raise NotFound(f"{kind} {ident!r} is not cached; {hint}", details=details)
        target = self.cache_dir / hub / repo
        with self._download_lock:
            if self._cached(hub, repo) is not None:
                return target.resolve()
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
            try:
                logger.info("downloading %s %s from %s into %s", kind, repo, client, target)
                _fetch(hub, repo, kind=kind, local_dir=tmp)
                if target.exists():
                    shutil.rmtree(target)
                tmp.rename(target)
            except Exception as exc:  # any client or network failure means: not available
                raise NotFound(
                    f"{kind} {ident!r} could not be downloaded with {client} ({type(exc).__name__}: "
                    f"{exc}); {hint}",
                    details=details,
                ) from exc
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
        return target.resolve()

    # -- containment --------------------------------------------------------------------------

    def _inside_roots(self, real: Path) -> bool:
        return any(real == root or real.is_relative_to(root) for root in self.data_roots)

    def _check_tree(self, folder: Path, shown: str) -> None:
        """Refuse a folder holding a link that leads out of the roots (links inside are followed)."""
        seen: set[Path] = set()
        pending = [folder]
        while pending:
            current = pending.pop()
            if current in seen:
                continue
            seen.add(current)
            for entry in current.iterdir():
                real = entry.resolve()
                if entry.is_symlink() and not self._inside_roots(real):
                    raise InvalidInput(
                        f"local folder {shown!r} contains {entry.name!r} (in {current}), a link that "
                        "leads outside the data roots; remove the link or copy the data in",
                        details={"path": shown},
                    )
                if real.is_dir():
                    pending.append(real)


def _check_id(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field} must be a non-empty string, got {value!r}", details={"field": field})
    return value.strip()


def _fetch(hub: str, repo: str, *, kind: str, local_dir: Path) -> None:
    """Download one repository snapshot with the hub's own client (imported only here)."""
    if hub == "ms":
        if kind == "dataset":
            from modelscope.hub.snapshot_download import dataset_snapshot_download

            dataset_snapshot_download(repo, local_dir=str(local_dir))
        else:
            from modelscope import snapshot_download

            snapshot_download(repo, local_dir=str(local_dir))
    else:
        from huggingface_hub import snapshot_download

        snapshot_download(repo, repo_type=kind, local_dir=str(local_dir))
