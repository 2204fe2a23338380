"""Downloaded checkpoint archives are extracted safely: hostile members are refused, nothing is written."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from twinkle_client._archive import UnsafeArchiveError, safe_extract


def _archive(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return path


def _file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def test_regular_archive_extracts(tmp_path: Path) -> None:
    folder = tarfile.TarInfo("sub")
    folder.type = tarfile.DIRTYPE
    src = _archive(
        tmp_path / "ok.tar.gz",
        [_file("adapter_config.json", b"{}"), (folder, None), _file("sub/adapter_model.safetensors", b"abc")],
    )
    out = safe_extract(src, tmp_path / "out")
    assert (out / "adapter_config.json").read_bytes() == b"{}"
    assert (out / "sub" / "adapter_model.safetensors").read_bytes() == b"abc"


def _symlink(name: str, target: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    return info, None


def _hardlink(name: str, target: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE
    info.linkname = target
    return info, None


def _device(name: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.CHRTYPE
    return info, None


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (_file("/etc/evil"), "absolute"),
        (_file("../evil"), "leaves"),
        (_file("a/../../evil"), "leaves"),
        (_symlink("link", "/etc/passwd"), "link"),
        (_hardlink("hard", "adapter_config.json"), "link"),
        (_device("dev"), "not a regular file"),
    ],
)
def test_hostile_member_is_refused_and_nothing_written(tmp_path: Path, member: tuple, reason: str) -> None:
    src = _archive(tmp_path / "bad.tar.gz", [_file("adapter_config.json", b"{}"), member])
    dest = tmp_path / "out"
    with pytest.raises(UnsafeArchiveError, match=reason):
        safe_extract(src, dest)
    assert not (dest / "adapter_config.json").exists()
    assert not (tmp_path / "evil").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".twinkle-extract-")] == []


def test_single_root_folder_is_stripped_on_request(tmp_path: Path) -> None:
    src = _archive(
        tmp_path / "rooted.tar.gz",
        [_file("step-3/adapter_config.json", b"{}"), _file("step-3/adapter_model.safetensors", b"w")],
    )
    out = safe_extract(src, tmp_path / "flat", strip_root=True)
    assert sorted(p.name for p in out.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    kept = safe_extract(src, tmp_path / "kept")
    assert (kept / "step-3" / "adapter_config.json").exists()
