"""Safe extraction of a downloaded checkpoint archive (tar.gz of a PEFT adapter folder).

An archive comes from the network, so it is treated as hostile: every member must be a regular
file or a folder, with a relative name that stays inside the destination. Links, devices, absolute
names and ``..`` are refused before anything is written, and nothing is extracted from an archive
with one bad member.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

__all__ = ["UnsafeArchiveError", "safe_extract"]


class UnsafeArchiveError(ValueError):
    """The archive holds a member that could write outside the destination, or a non-file."""


def _check_member(member: tarfile.TarInfo) -> None:
    name = member.name
    path = PurePosixPath(name)
    if not name or name.startswith(("/", "\\")) or path.is_absolute() or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"archive member {name!r} has an absolute path")
    if ".." in path.parts or "\\" in name:
        raise UnsafeArchiveError(f"archive member {name!r} leaves the destination folder")
    if not (member.isfile() or member.isdir()):
        raise UnsafeArchiveError(
            f"archive member {name!r} is not a regular file or folder (links are refused)"
        )


def _single_root(members: list[tarfile.TarInfo]) -> str | None:
    """The one top-level folder every member sits in, if there is one."""
    tops = {PurePosixPath(m.name).parts[0] for m in members if PurePosixPath(m.name).parts}
    if len(tops) != 1:
        return None
    (top,) = tops
    nested = all(len(PurePosixPath(m.name).parts) > 1 or m.isdir() for m in members)
    return top if nested else None


def safe_extract(
    archive: str | os.PathLike[str], destination: str | os.PathLike[str], *, strip_root: bool = False
) -> Path:
    """Extract the tar(.gz) ``archive`` into ``destination`` (created if missing) and return it.

    With ``strip_root``, an archive whose members all sit in one top-level folder (``step-10/...``)
    is extracted without that folder, so ``destination`` itself becomes the checkpoint folder.

    Members are checked first; the extraction goes to a temporary folder beside ``destination``
    and its content is then moved in, so a failure leaves ``destination`` as it was.

    Raises:
        UnsafeArchiveError: a member is absolute, climbs out with ``..``, or is a link or device.
        tarfile.TarError: the file is not a readable tar archive.
    """
    dest = Path(destination).expanduser().resolve()
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, mode="r:*") as tar:
        members = tar.getmembers()
        for member in members:
            _check_member(member)
        root = _single_root(members) if strip_root else None
        staging = Path(tempfile.mkdtemp(prefix=".twinkle-extract-", dir=dest.parent))
        try:
            for member in members:
                parts = PurePosixPath(member.name).parts
                relative = PurePosixPath(*parts[1:]) if root is not None else PurePosixPath(*parts)
                if not relative.parts:
                    continue
                target = (staging / relative).resolve()
                if staging.resolve() not in target.parents and target != staging.resolve():
                    raise UnsafeArchiveError(f"archive member {member.name!r} leaves the destination folder")
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                if source is None:
                    raise UnsafeArchiveError(f"archive member {member.name!r} has no readable content")
                with source, open(target, "wb") as out:
                    shutil.copyfileobj(source, out)
            for item in staging.iterdir():
                final = dest / item.name
                if final.is_dir() and not final.is_symlink():
                    shutil.rmtree(final)
                elif final.exists() or final.is_symlink():
                    final.unlink()
                os.replace(item, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return dest
