"""Checkpoint names, paths and files, without torch.

Layout: ``<data_dir>/checkpoints/<run_id>/<name>/`` is a standard PEFT folder
(``adapter_config.json``, ``adapter_model.safetensors``) plus whatever trainer state the engine
adds. Users name a checkpoint ``twinkle://<run_id>/weights/<name>``; the database stores the path
relative to the data dir (:func:`checkpoint_relpath`).

Why so strict: names and run ids arrive from users and become paths. Every path is built from
validated parts *and* resolved (symlinks followed) and checked to be inside the checkpoints root,
so neither ``..`` nor a planted symlink can make the server read or write elsewhere.

Saving, as the engine and the HTTP layer do it::

    final = checkpoint_dir(data_dir, run_id, name)
    with atomic_dir(final) as tmp:          # Conflict if the checkpoint exists
        worker.submit(run_id, "save", path=tmp, ...).result()
    # files are durable and in place; now commit the row (store.create_checkpoint)
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import secrets
import shutil
import struct
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from twinkle_server.errors import Conflict, InvalidInput, NotFound, TwinkleError

__all__ = [
    "ADAPTER_FILES",
    "CHECKPOINTS_DIRNAME",
    "NAME_PATTERN",
    "RUN_ID_PATTERN",
    "TRAINING_STATE_FILES",
    "TWINKLE_SCHEME",
    "atomic_dir",
    "checkpoint_dir",
    "checkpoint_relpath",
    "checkpoints_root",
    "delete_checkpoint_files",
    "folder_size",
    "format_twinkle_path",
    "parse_twinkle_path",
    "publish_folder",
    "remove_stale_temp_dirs",
    "resolve_stored_path",
    "validate_checkpoint_name",
    "validate_run_id",
    "weights_info",
    "write_archive",
]

TWINKLE_SCHEME = "twinkle://"
CHECKPOINTS_DIRNAME = "checkpoints"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
RUN_ID_PATTERN = re.compile(r"^run_[A-Za-z0-9_-]{1,120}$")
_TEMP_MARK = ".tmp-"
# What a hub upload publishes: the PEFT adapter only, unless the training state is asked for too.
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
TRAINING_STATE_FILES = ("optimizer.pt", "scheduler.pt", "trainer_state.json", "rng_state.pt", "grads.pt")
_MAX_HEADER_BYTES = 100 * 1024 * 1024


def validate_checkpoint_name(name: str) -> str:
    """Return ``name`` if it is a safe checkpoint name, else raise InvalidInput saying why.

    Allowed: 1-128 characters of letters, digits, ``.``, ``_`` and ``-``, starting with a letter or
    digit, and no ``..`` anywhere (so ``step-10`` and ``epoch1.final`` pass; ``../x``, ``a/b`` and
    ``.hidden`` do not).
    """
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or ".." in name:
        raise InvalidInput(
            f"invalid checkpoint name {name!r}: use 1-128 letters, digits, '.', '_' or '-', starting "
            "with a letter or digit, without '/' or '..' (e.g. 'step-100')",
            details={"field": "name"},
        )
    return name


def validate_run_id(run_id: str) -> str:
    """Return ``run_id`` if it has the shape of a run id (``run_`` + URL-safe characters)."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id):
        raise InvalidInput(f"invalid training run id {run_id!r}", details={"field": "run_id"})
    return run_id


def format_twinkle_path(run_id: str, name: str) -> str:
    """``twinkle://<run_id>/weights/<name>``: how users name a checkpoint."""
    return f"{TWINKLE_SCHEME}{validate_run_id(run_id)}/weights/{validate_checkpoint_name(name)}"


def parse_twinkle_path(path: str) -> tuple[str, str]:
    """Split ``twinkle://<run_id>/weights/<name>`` into (run_id, name); InvalidInput if malformed."""
    if not isinstance(path, str) or not path.startswith(TWINKLE_SCHEME):
        raise InvalidInput(
            f"checkpoint path {path!r} must look like twinkle://<run_id>/weights/<name>",
            details={"field": "path"},
        )
    parts = path[len(TWINKLE_SCHEME) :].split("/")
    if len(parts) != 3 or parts[1] != "weights":
        raise InvalidInput(
            f"checkpoint path {path!r} must look like twinkle://<run_id>/weights/<name>",
            details={"field": "path"},
        )
    return validate_run_id(parts[0]), validate_checkpoint_name(parts[2])


def checkpoints_root(data_dir: Path) -> Path:
    """``<data_dir>/checkpoints``, resolved (symlinks followed)."""
    return (Path(data_dir) / CHECKPOINTS_DIRNAME).resolve()


def _inside(root: Path, candidate: Path, shown: str) -> Path:
    resolved = candidate.resolve()
    if resolved != root and not resolved.is_relative_to(root):
        raise InvalidInput(f"checkpoint path {shown!r} resolves outside the server's checkpoint folder")
    return resolved


def checkpoint_dir(data_dir: Path, run_id: str, name: str) -> Path:
    """The folder of checkpoint ``name`` of ``run_id``, resolved and guaranteed inside
    ``<data_dir>/checkpoints``. Raises InvalidInput for a bad id or name or a path that escapes
    (for example through a symlink)."""
    root = checkpoints_root(data_dir)
    candidate = root / validate_run_id(run_id) / validate_checkpoint_name(name)
    resolved = _inside(root, candidate, f"{run_id}/{name}")
    if resolved != candidate:  # a symlink on the way, even one pointing inside, is not ours
        raise InvalidInput(f"checkpoint path {run_id}/{name!r} goes through a symbolic link")
    return resolved


def checkpoint_relpath(run_id: str, name: str) -> str:
    """The path stored in the database: relative to the data dir, with '/' separators."""
    return f"{CHECKPOINTS_DIRNAME}/{validate_run_id(run_id)}/{validate_checkpoint_name(name)}"


def resolve_stored_path(data_dir: Path, relpath: str) -> Path:
    """Turn a stored relative path back into a folder, refusing anything outside the checkpoints root."""
    rel = Path(relpath)
    if rel.is_absolute() or ".." in rel.parts:
        raise InvalidInput(f"stored checkpoint path {relpath!r} is not a plain relative path")
    return _inside(checkpoints_root(data_dir), Path(data_dir).resolve() / rel, relpath)


def _fsync_path(path: Path, *, directory: bool) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(top: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(top):
        for filename in filenames:
            path = Path(dirpath) / filename
            if not path.is_symlink():
                _fsync_path(path, directory=False)
        _fsync_path(Path(dirpath), directory=True)


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``final``; on success make it ``final`` atomically.

    On success every file and folder is fsynced, the folder is renamed into place and the parent
    is fsynced, so after the block a crash leaves either the whole checkpoint or none. On error the
    temporary folder is removed and the error propagates.

    Raises:
        Conflict: ``final`` already exists (before or after the block); checkpoints are never overwritten.
    """
    final = Path(final)
    if final.exists() or final.is_symlink():
        raise Conflict(f"checkpoint folder {final.name!r} already exists; choose another name")
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = final.parent / f".{final.name}{_TEMP_MARK}{secrets.token_hex(6)}"
    temp.mkdir()
    try:
        yield temp
        _fsync_tree(temp)
        if final.exists() or final.is_symlink():
            raise Conflict(f"checkpoint folder {final.name!r} was created meanwhile; choose another name")
        try:
            os.rename(temp, final)
        except OSError as exc:  # e.g. ENOTEMPTY: someone else's folder appeared at the last moment
            raise Conflict(f"checkpoint folder {final.name!r} already exists; choose another name") from exc
        _fsync_path(final.parent, directory=True)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def remove_stale_temp_dirs(data_dir: Path) -> list[Path]:
    """Delete temporary folders left by a crash during a save (call at start-up, before serving)."""
    root = checkpoints_root(data_dir)
    if not root.is_dir():
        return []
    removed = []
    for run_dir in root.iterdir():
        if run_dir.is_dir() and not run_dir.is_symlink():
            for entry in run_dir.iterdir():
                if entry.name.startswith(".") and _TEMP_MARK in entry.name and entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                    removed.append(entry)
    return removed


def delete_checkpoint_files(data_dir: Path, relpath: str) -> bool:
    """Remove a checkpoint folder named by its stored relative path; False if it was already gone.

    The folder is first renamed to a temporary name, so it never appears half deleted under its own
    name (a crash leaves a temporary folder that :func:`remove_stale_temp_dirs` cleans up).
    """
    folder = resolve_stored_path(data_dir, relpath)
    if not folder.is_dir():
        return False
    trash = folder.parent / f".{folder.name}{_TEMP_MARK}{secrets.token_hex(6)}"
    os.rename(folder, trash)
    shutil.rmtree(trash, ignore_errors=True)
    return True


def folder_size(folder: Path) -> int:
    """Total bytes of the regular files under ``folder`` (links are not followed or counted)."""
    total = 0
    for dirpath, _dirnames, filenames in os.walk(folder):
        for filename in filenames:
            path = Path(dirpath) / filename
            if not path.is_symlink():
                total += path.stat().st_size
    return total


def _entries(src: Path) -> list[Path]:
    """Folders and regular files under ``src`` (links left out), sorted by relative path."""
    found = []
    for dirpath, dirnames, filenames in os.walk(src):
        here = Path(dirpath)
        found.extend(here / name for name in (*dirnames, *filenames) if not (here / name).is_symlink())
    return sorted(found, key=lambda p: p.relative_to(src).as_posix())


def write_archive(src_dir: Path, fileobj: BinaryIO, *, root_name: str | None = None) -> None:
    """Write ``src_dir`` as a tar.gz to ``fileobj`` (which only needs ``write``).

    Deterministic: entries sorted, times, owners and modes normalised, no gzip timestamp, so the
    same folder gives the same bytes. Only regular files and folders are stored, under relative
    names (inside ``root_name/`` if given); symbolic links are left out, never followed.
    """
    src = Path(src_dir)
    if not src.is_dir():
        raise NotFound(f"checkpoint folder {src.name!r} does not exist")
    if root_name is not None:
        validate_checkpoint_name(root_name)
    with (
        gzip.GzipFile(fileobj=fileobj, mode="wb", mtime=0, filename="") as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for path in _entries(src):
            rel = path.relative_to(src).as_posix()
            arcname = f"{root_name}/{rel}" if root_name else rel
            info = tarfile.TarInfo(arcname)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if path.is_dir():
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.mode, info.size = 0o644, path.stat().st_size
                with path.open("rb") as f:
                    tar.addfile(info, f)


def _read_safetensors_header(path: Path) -> dict[str, Any]:
    size = path.stat().st_size
    with path.open("rb") as f:
        prefix = f.read(8)
        if len(prefix) != 8:
            raise TwinkleError(f"{path.name} is not a safetensors file (shorter than 8 bytes)")
        (length,) = struct.unpack("<Q", prefix)
        if length > min(_MAX_HEADER_BYTES, size - 8):
            raise TwinkleError(f"{path.name} has a corrupt safetensors header length ({length})")
        raw = f.read(length)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TwinkleError(f"{path.name} has a safetensors header that is not JSON") from exc
    if not isinstance(header, dict):
        raise TwinkleError(f"{path.name} has a safetensors header that is not a JSON object")
    return header


def _tensor_entries(path: Path) -> list[dict[str, Any]]:
    tensors = []
    for name, meta in _read_safetensors_header(path).items():
        if name == "__metadata__":
            continue
        shape = meta.get("shape") if isinstance(meta, dict) else None
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise TwinkleError(f"{path.name}: tensor {name!r} has no valid shape")
        tensors.append({"name": name, "shape": shape, "dtype": str(meta.get("dtype", ""))})
    return tensors


def weights_info(folder: Path) -> dict[str, Any]:
    """Describe a checkpoint folder from its files alone (no torch, no tensor data read).

    Returns:
        ``adapter_config`` (the parsed adapter_config.json, ``{}`` if absent), ``tensors`` (sorted
        ``[{name, shape, dtype}]`` from every ``*.safetensors`` header at the folder's top level),
        ``num_parameters`` (sum of the tensors' element counts) and ``size_bytes`` (all files).

    Raises:
        NotFound: the folder does not exist or holds no safetensors file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise NotFound(f"checkpoint folder {folder.name!r} does not exist")
    files = sorted(p for p in folder.glob("*.safetensors") if p.is_file() and not p.is_symlink())
    if not files:
        raise NotFound(f"checkpoint folder {folder.name!r} holds no .safetensors weights")
    config_path = folder / "adapter_config.json"
    adapter_config: dict[str, Any] = {}
    if config_path.is_file():
        try:
            adapter_config = json.loads(config_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TwinkleError(f"adapter_config.json of {folder.name!r} is not valid JSON") from exc
    tensors = sorted((t for f in files for t in _tensor_entries(f)), key=lambda t: t["name"])
    num_parameters = 0
    for tensor in tensors:
        count = 1
        for dim in tensor["shape"]:
            count *= dim
        num_parameters += count
    return {
        "adapter_config": adapter_config,
        "tensors": tensors,
        "num_parameters": num_parameters,
        "size_bytes": folder_size(folder),
    }


def publish_folder(
    src: Path, dest: Path, *, include_training_state: bool = False, readme: str | None = None
) -> list[str]:
    """Fill the new folder ``dest`` with what a hub upload of checkpoint ``src`` publishes.

    Only the named files are taken, never anything else the folder holds: :data:`ADAPTER_FILES`
    always, :data:`TRAINING_STATE_FILES` only with ``include_training_state``, and ``README.md``
    written from ``readme``. Links are skipped. Returns the file names, sorted.

    Raises:
        NotFound: ``src`` holds no adapter weights (not a complete checkpoint).
    """
    src = Path(src)
    wanted = ADAPTER_FILES + (TRAINING_STATE_FILES if include_training_state else ())
    dest.mkdir()
    names = []
    for name in wanted:
        file = src / name
        if file.is_file() and not file.is_symlink():
            shutil.copyfile(file, dest / name)
            names.append(name)
    if not all(name in names for name in ADAPTER_FILES):
        raise NotFound(f"checkpoint folder {src.name!r} has no complete adapter to publish")
    if readme is not None:
        (dest / "README.md").write_text(readme, encoding="utf-8")
        names.append("README.md")
    return sorted(names)
