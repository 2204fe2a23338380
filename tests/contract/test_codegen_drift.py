"""`python -m codegen --check` passes on a faithful copy and fails, naming files, on drift.

Works on a temporary copy of openapi.yaml and generated/ so the real tree is never touched.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    shutil.copyfile(ROOT / "openapi.yaml", tmp_path / "openapi.yaml")
    shutil.copytree(ROOT / "generated", tmp_path / "generated", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _check(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "codegen",
            "--check",
            f"--spec={tree / 'openapi.yaml'}",
            f"--out={tree / 'generated'}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_passes_on_an_unchanged_copy(tree: Path) -> None:
    result = _check(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "up to date" in result.stdout


def test_check_fails_after_a_hand_edit(tree: Path) -> None:
    edited = tree / "generated" / "twinkle_api_server" / "service.py"
    edited.write_text(edited.read_text() + "\n# hand edit\n")
    (tree / "generated" / "twinkle_api_client" / "stray.py").write_text("x = 1\n")
    result = _check(tree)
    assert result.returncode == 1
    assert "twinkle_api_server/service.py" in result.stdout
    assert "twinkle_api_client/stray.py" in result.stdout
    assert "2 files differ" in result.stdout


def test_check_fails_after_a_spec_change_without_regeneration(tree: Path) -> None:
    spec = tree / "openapi.yaml"
    text = spec.read_text()
    assert text.count("summary: Optimizer step at an accumulation boundary.") == 1
    spec.write_text(text.replace("summary: Optimizer step at an accumulation boundary.", "summary: Step."))
    result = _check(tree)
    assert result.returncode == 1
    assert "twinkle_api_server/router.py" in result.stdout
    assert "twinkle_api_client/api/run_compute/step.py" in result.stdout
