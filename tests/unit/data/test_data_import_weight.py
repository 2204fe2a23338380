"""The light client imports DatasetMeta through twinkle_server.data: it must not pull heavy packages."""

from __future__ import annotations

import json
import subprocess
import sys


def test_data_package_and_meta_import_light():
    code = (
        "import sys, json\n"
        "from twinkle_server.data import DatasetMeta\n"
        "import twinkle_server.data.meta, twinkle_server.resolver\n"
        "DatasetMeta('ms://swift/self-cognition', data_slice=range(3))\n"
        "print(json.dumps([m for m in ('torch', 'transformers', 'datasets', 'numpy', 'pyarrow')"
        " if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
