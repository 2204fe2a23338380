"""Building a worker loads the model libraries in the calling thread, before any worker thread runs.

transformers resolves attributes lazily; a worker thread loading a model while a request thread
loads a tokenizer could otherwise see a half-initialised module. The check runs in a fresh
interpreter, where nothing has imported transformers yet.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
import threading

from twinkle_server.config import ServedModel, Settings
from twinkle_server.workers import build_resolver, build_worker

assert "transformers" not in sys.modules
settings = Settings(data_dir=sys.argv[1], models=[ServedModel(model_id="m", path=sys.argv[1])])
worker = build_worker(settings.models[0], build_resolver(settings))
import transformers

resolved = [name for name in ("AutoTokenizer", "PreTrainedTokenizerBase") if name in vars(transformers)]
print(worker.state, threading.active_count(), resolved)
"""


def test_build_worker_imports_the_model_libraries_before_any_thread_starts(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["new", "1", "['AutoTokenizer',", "'PreTrainedTokenizerBase']"]
