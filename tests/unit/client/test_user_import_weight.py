"""The user-facing imports stay light: the seed example's client-side imports load no torch.

``twinkle_client`` (all its classes) must not load torch, transformers or the server; ``twinkle``,
``twinkle.dataset.DatasetMeta`` and ``twinkle.get_logger`` may touch only the import-light corner
of the server package. Each check runs in a fresh interpreter, so nothing imported by other tests
can hide a heavy import.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HEAVY = ("torch", "transformers", "peft", "datasets", "fastapi", "sqlalchemy", "numpy", "yaml")


def _run(code: str) -> subprocess.CompletedProcess[str]:
    env_path = f"{ROOT}{os.pathsep}{ROOT / 'generated'}"
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": env_path},
    )


def _loaded(code: str) -> set[str]:
    probe = code + f"\nimport sys\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    lines = _run(probe).stdout.strip().splitlines()
    out = lines[-1] if lines else ""
    return {m for m in out.split(",") if m}


def test_twinkle_client_classes_load_no_heavy_package() -> None:
    code = (
        "import twinkle_client\n"
        "from twinkle_client import init_twinkle_client\n"
        "from twinkle_client.dataset import Dataset\n"
        "from twinkle_client.dataloader import DataLoader\n"
        "from twinkle_client.model import MultiLoraTransformersModel\n"
    )
    assert _loaded(code) == set()
    assert _loaded(code + "import sys\nassert 'twinkle_server' not in sys.modules\n") == set()


def test_twinkle_light_corner_loads_no_heavy_package() -> None:
    code = "import twinkle\nfrom twinkle import get_logger\nfrom twinkle.dataset import DatasetMeta\n"
    code += "get_logger()\n"
    assert _loaded(code) == set()


def test_import_time_of_twinkle_client_is_reported() -> None:
    """``-X importtime``'s cumulative figure for the package (printed; the light-install e2e bounds it)."""
    result = _run("import twinkle_client")
    cumulative = [
        int(m.group(1))
        for line in result.stderr.splitlines()
        if (m := re.match(r"import time:\s+\d+ \|\s+(\d+) \| twinkle_client$", line))
    ]
    assert cumulative, result.stderr[-2000:]
    print(f"import twinkle_client: {cumulative[0] / 1e6:.3f} s cumulative")
    assert cumulative[0] / 1e6 < 5.0  # a gross regression (a heavy import) shows here too
