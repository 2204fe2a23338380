"""``twinkle-server demo``: a complete server on this machine in one command, no hub needed.

It builds the project's tiny model and copies the shipped sample data into a data folder, then
serves them under the names the seed example asks for, so the example runs unchanged:

* model ``ms://Qwen/Qwen2.5-7B-Instruct`` (and ``Qwen/Qwen2.5-7B-Instruct``) -> the tiny random model;
* dataset ``ms://swift/self-cognition`` -> the shipped self-cognition rows.

The substitution is announced in the log: losses from a tiny random model say nothing about
Qwen2.5. A demo user gets a key, printed (and written to ``--key-file``, so scripts can pass it to
the example as ``MODELSCOPE_TOKEN``). Uploads go to a local-folder hub inside the data folder.
"""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
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
    data_dir: Path, model_dir: Path, aliases: dict[str, str], *, host: str, port: int
) -> Settings:
    """Settings serving the tiny model under the seed example's names on the CPU."""
    return Settings(
        host=host,
        port=port,
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
) -> int:
    """Prepare the demo data folder, print a key and serve until interrupted."""
    from twinkle_server.serve import configure_logging, run_uvicorn

    configure_logging(log_level)
    try:
        data_dir = (data_dir or Path(tempfile.mkdtemp(prefix="twinkle-demo-"))).expanduser().resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        logger.info("demo data folder: %s", data_dir)
        model_dir, aliases = prepare_demo(data_dir)
        settings = demo_settings(data_dir, model_dir, aliases, host=host, port=port)
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
        return run_uvicorn(settings, log_level=log_level)
    except TwinkleError as exc:
        print(f"twinkle-server demo: error: {exc.message}", file=sys.stderr)
        return 2
