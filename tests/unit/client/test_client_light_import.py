"""The transport core stays light: importing it pulls in neither torch nor the server."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "transformers", "peft", "twinkle_server", "fastapi", "sqlalchemy")


def test_transport_modules_import_without_heavy_packages() -> None:
    code = (
        "import sys\n"
        "import twinkle_client._constants, twinkle_client._http\n"
        "import twinkle_client._tasks, twinkle_client.errors\n"
        f"print(','.join(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
