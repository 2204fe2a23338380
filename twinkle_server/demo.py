"""``twinkle-server demo``: a complete server on this machine in one command, no hub needed.

It builds the project's tiny model and copies the shipped sample data into a data folder, then
serves them under the names the seed example asks for, so the example runs unchanged:

* model ``ms://Qwen/Qwen2.5-7B-Instruct`` (and ``Qwen/Qwen2.5-7B-Instruct``) -> the tiny random model;
* dataset ``ms://swift/self-cognition`` -> the shipped self-cognition rows.

The substitution is announced in the log: losses from a tiny random model say nothing about
Qwen2.5. A demo user gets a key, printed (and written to ``--key-file``, so scripts can pass it to
the example as ``MODELSCOPE_TOKEN``). Uploads go to a local-folder hub inside the data folder.

With ``--run-example SCRIPT`` (what ``make demo`` uses) the demo serves only while the script runs:
it starts the server, runs the script with the key in ``MODELSCOPE_TOKEN``, prints the training
runs and checkpoints the script left, stops the server and exits with the script's exit code.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from twinkle_server.config import HubSettings, ServedModel, Settings
from twinkle_server.errors import TwinkleError

__all__ = [
    "DEMO_DATASETS",
    "DEMO_MODEL_ALIASES",
    "DEMO_MODEL_ID",
    "demo_settings",
    "prepare_demo",
    "run_demo",
]

logger = logging.getLogger("twinkle_server.demo")

DEMO_MODEL_ID = "Qwen/Qwen2.5-7B-Instruct"
DEMO_MODEL_ALIASES = ["ms://Qwen/Qwen2.5-7B-Instruct", "hf://Qwen/Qwen2.5-7B-Instruct"]
# dataset id -> shipped asset
DEMO_DATASETS = {
    "ms://swift/self-cognition": "self_cognition.jsonl",
    "swift/self-cognition": "self_cognition.jsonl",
    "ms://AI-ModelScope/alpaca-gpt4-data-en": "alpaca_sample.jsonl",
}


def prepare_demo(data_dir: Path) -> tuple[Path, dict[str, str]]:
    """Build the tiny model and copy the assets into ``data_dir``; (model folder, dataset aliases).

    Reuses a model already built there, so restarting the demo on the same folder is quick.
    """
    from twinkle_server import assets
    from twinkle_server.tiny_model import build_tiny_model

    model_dir = data_dir / "models" / "tiny-qwen2"
    if not (model_dir / "config.json").exists():
        build_tiny_model(model_dir)
    datasets_dir = data_dir / "datasets"
    datasets_dir.mkdir(parents=True, exist_ok=True)
    aliases: dict[str, str] = {}
    for dataset_id, asset in DEMO_DATASETS.items():
        target = datasets_dir / asset
        if not target.exists():
            shutil.copyfile(assets.path(asset), target)
        aliases[dataset_id] = str(target)
    return model_dir, aliases


def demo_settings(
    data_dir: Path,
    model_dir: Path,
    aliases: dict[str, str],
    *,
    host: str,
    port: int,
    access_log: bool = False,
) -> Settings:
    """Settings serving the tiny model under the seed example's names on the CPU.

    No access log line per HTTP request unless asked: they would drown the step lines.
    """
    return Settings(
        host=host,
        port=port,
        access_log=access_log,
        data_dir=data_dir,
        models=[
            ServedModel(
                model_id=DEMO_MODEL_ID,
                aliases=list(DEMO_MODEL_ALIASES),
                path=str(model_dir),
                device="cpu",
                max_loras=4,
                max_r=64,
                max_length=2048,
            )
        ],
        dataset_aliases=aliases,
        hubs=HubSettings(default="local"),
    )


def _create_key(settings: Settings, user: str) -> str:
    from twinkle_server.store.db import open_store
    from twinkle_server.store.users import create_api_key

    store = open_store(str(settings.database_url))
    try:
        with store.session() as s:
            plaintext, _ = create_api_key(s, user_name=user)
    finally:
        store.close()
    return plaintext


def run_demo(
    *,
    port: int = 8000,
    host: str = "127.0.0.1",
    data_dir: Path | None = None,
    key_file: Path | None = None,
    user: str = "demo",
    log_level: str = "info",
    run_example: Path | None = None,
    access_log: bool = False,
) -> int:
    """Prepare the demo data folder, print a key, then serve until interrupted (or run one script)."""
    from twinkle_server.serve import build_uvicorn_server, configure_logging

    configure_logging(log_level, steps=True)
    try:
        data_dir = (data_dir or Path(tempfile.mkdtemp(prefix="twinkle-demo-"))).expanduser().resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        logger.info("demo data folder: %s", data_dir)
        model_dir, aliases = prepare_demo(data_dir)
        settings = demo_settings(data_dir, model_dir, aliases, host=host, port=port, access_log=access_log)
        names = ", ".join([DEMO_MODEL_ID, *DEMO_MODEL_ALIASES])
        logger.warning(
            "demo: the model names %s are served by the project's TINY RANDOM test model at %s, not by "
            "the real Qwen2.5-7B-Instruct; losses show the plumbing works, not model quality",
            names,
            model_dir,
        )
        for dataset_id, path in aliases.items():
            logger.warning("demo: dataset %s is served from the shipped sample file %s", dataset_id, path)
        key = _create_key(settings, user)
        if key_file is not None:
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_text(key + "\n", encoding="utf-8")
            key_file.chmod(0o600)
        print(
            f"demo API key for user {user!r} (pass it as MODELSCOPE_TOKEN to the seed example):", flush=True
        )
        print(key, flush=True)
        print(f"serving on http://{host}:{port}", flush=True)
        server = build_uvicorn_server(settings, log_level=log_level)
        if run_example is None:
            server.run()
            return 0 if server.started else 1
        return _serve_while_running(server, settings, key=key, user=user, script=run_example)
    except TwinkleError as exc:
        print(f"twinkle-server demo: error: {exc.message}", file=sys.stderr)
        return 2


def _serve_while_running(server, settings: Settings, *, key: str, user: str, script: Path) -> int:
    """Serve from a background thread while ``script`` runs; then report what it left and stop."""
    thread = threading.Thread(target=server.run, name="twinkle-demo-server", daemon=True)
    thread.start()
    try:
        if not _wait_started(server, thread, timeout=120.0):
            print("twinkle-server demo: error: the server did not start", file=sys.stderr)
            return 1
        print(f"running {script} against http://{settings.host}:{settings.port}", flush=True)
        env = {**os.environ, "MODELSCOPE_TOKEN": key}
        started = time.monotonic()
        # The script runs in the data folder, so its `.env` lookup cannot pick up a stray file.
        code = subprocess.call([sys.executable, str(script.resolve())], cwd=settings.data_dir, env=env)
        print(f"{script} exited with {code} after {time.monotonic() - started:.1f} s", flush=True)
        _print_results(settings, user=user)
        return code
    finally:
        server.should_exit = True
        thread.join(timeout=60)


def _wait_started(server, thread: threading.Thread, *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _print_how_to_look(settings: Settings, run_id: str) -> None:
    """The commands that show a run's curve: serve this data folder again, then ask for it."""
    url = f"http://{settings.host}:{settings.port}"
    print("to look at its curve, serve this data folder again (it prints a new key for the same user):")
    print(f"  twinkle-server demo --data-dir {settings.data_dir} --port {settings.port}")
    print("then, with that key:")
    print(f"  TWINKLE_SERVER_URL={url} TWINKLE_SERVER_TOKEN=<key> twinkle metrics {run_id}")
    print(f"  or open {url}/dashboard/ and paste the key")


def _print_results(settings: Settings, *, user: str) -> None:
    """Print the demo user's training runs and checkpoints, as the store holds them."""
    from twinkle_server.store import get_user_by_name, list_checkpoints, list_runs, open_store

    store = open_store(str(settings.database_url))
    try:
        with store.read_session() as s:
            owner = get_user_by_name(s, name=user)
            runs, _ = list_runs(s, user_id=owner.id, limit=1000) if owner else ([], 0)
            print(f"training runs of {user!r}: {len(runs)}")
            for run in runs:
                print(f"  {run.id}  {run.base_model}  adapter={run.adapter_name}  status={run.status}")
                checkpoints, _ = list_checkpoints(s, user_id=owner.id, run_id=run.id, limit=1000)
                for ckpt in checkpoints:
                    print(
                        f"    checkpoint {ckpt.name}: twinkle://{run.id}/weights/{ckpt.name}"
                        f"  {ckpt.size_bytes} bytes  optimizer={ckpt.has_optimizer}"
                        f"  step={ckpt.optimizer_step}"
                    )
        print(f"uploads (local-folder hub): {settings.hubs.local_dir}")
        if runs:
            _print_how_to_look(settings, runs[0].id)
    finally:
        store.close()
