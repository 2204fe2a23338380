"""The light install: the base distribution without extras, no torch, drives a real server.

A fresh virtual environment gets only the base dependencies (httpx, attrs, pydantic,
python-dateutil and what they need; linked from the test interpreter's site-packages, so no
network is used) and the project's wheel installed without dependencies. In it, importing
``twinkle_client`` and the seed's ``twinkle`` corner works and loads no torch, transformers,
datasets or yaml (what makes an import slow is checked by what it loads, not by a stopwatch); and a
training loop with a dict LoRA config trains on a real server.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.e2e._server import REPO

pytestmark = pytest.mark.e2e

# The base dependencies of pyproject.toml and theirs, as import names.
LIGHT_PACKAGES = (
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "idna",
    "sniffio",
    "certifi",
    "attr",
    "attrs",
    "pydantic",
    "pydantic_core",
    "typing_extensions",
    "annotated_types",
    "typing_inspection",
    "dateutil",
    "six",
    "click",
    "tqdm",
)


def _site_packages(prefix: Path) -> Path:
    return prefix / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def _link_package(name: str, target: Path) -> None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return  # optional (e.g. sniffio is not needed by every anyio)
    origin = Path(spec.origin)
    source = origin.parent if origin.name == "__init__.py" else origin
    (target / source.name).symlink_to(source, target_is_directory=source.is_dir())


@pytest.fixture(scope="module")
def light_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("light")
    src = root / "src"
    ignore = shutil.ignore_patterns(
        ".venv", ".git", "build", "*.egg-info", "__pycache__", ".*_cache", "tests"
    )
    shutil.copytree(REPO, src, ignore=ignore)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(root / "dist"),
            str(src),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=False, clear=True)
    site = _site_packages(env_dir)
    for name in LIGHT_PACKAGES:
        _link_package(name, site)
    wheel = next((root / "dist").glob("twinkle-*.whl"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-compile",
            "-q",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return env_dir / "bin" / "python"


def _light_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWINKLE_", "PYTHON"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _run(
    python: Path, code: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(python), "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=env or _light_env(),
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def test_light_environment_has_no_torch(light_python: Path, tmp_path: Path) -> None:
    code = "import importlib.util as u\n"
    code += "print([m for m in ('torch', 'transformers', 'peft', 'fastapi') if u.find_spec(m)])"
    assert _run(light_python, code, tmp_path).stdout.strip() == "[]"


def test_seed_imports_work_light_and_load_no_heavy_module(light_python: Path, tmp_path: Path) -> None:
    imports = (
        "from twinkle import get_logger\n"
        "from twinkle.dataset import DatasetMeta\n"
        "from twinkle_client.dataloader import DataLoader\n"
        "from twinkle_client.dataset import Dataset\n"
        "from twinkle_client.model import MultiLoraTransformersModel\n"
        "from twinkle_client import init_twinkle_client\n"
        "get_logger().info('light')\n"
        "import sys\n"
        "print(sorted(m for m in ('torch', 'transformers', 'datasets', 'yaml') if m in sys.modules))\n"
    )
    assert _run(light_python, imports, tmp_path).stdout.strip() == "[]"


LOOP = """
import json, sys
from twinkle.dataset import DatasetMeta
from twinkle_client import init_twinkle_client
from twinkle_client.dataloader import DataLoader
from twinkle_client.dataset import Dataset
from twinkle_client.model import MultiLoraTransformersModel

client = init_twinkle_client()
model = MultiLoraTransformersModel(model_id='ms://Qwen/Qwen2.5-7B-Instruct')
model.add_adapter_to_model('default', {'r': 4, 'target_modules': 'all-linear'}, gradient_accumulation_steps=1)
dataset = Dataset(dataset_meta=DatasetMeta('ms://swift/self-cognition', data_slice=range(8)))
dataset.set_template('Template', model_id='ms://Qwen/Qwen2.5-7B-Instruct', max_length=512)
dataset.map('SelfCognitionProcessor', init_args={'model_name': 'light', 'model_author': 'Team'})
dataset.encode()
model.set_template('Template')
model.set_processor('InputProcessor', padding_side='right')
model.set_loss('CrossEntropyLoss')
model.set_optimizer('AdamW', lr=1e-2)
losses = []
for batch in DataLoader(dataset, batch_size=4):
    losses.append(model.forward_backward(inputs=batch).loss)
    model.step()
path = model.save('light-ckpt')
print("RESULT " + json.dumps({"losses": losses, "path": path, "modules": sorted(sys.modules)}))
client.close()
"""


@pytest.fixture(scope="module")
def light_server(make_server):
    return make_server(users=("alice", "carol"))


def test_light_client_trains_on_a_real_server(light_python: Path, light_server, tmp_path: Path) -> None:
    server, keys = light_server
    env = {**_light_env(), "TWINKLE_SERVER_URL": server.base_url, "TWINKLE_SERVER_TOKEN": keys["alice"]}
    out = _run(light_python, LOOP, tmp_path, env).stdout
    result = json.loads(re.search(r"^RESULT (.*)$", out, re.MULTILINE).group(1))
    assert len(result["losses"]) == 2 and result["path"].endswith("/weights/light-ckpt")
    assert "torch" not in result["modules"]


def test_user_cli_runs_on_the_light_install(light_python: Path, light_server, tmp_path: Path) -> None:
    server, keys = light_server
    env = {
        **_light_env(),
        "TWINKLE_SERVER_URL": server.base_url,
        "TWINKLE_SERVER_TOKEN": keys["carol"],
        "TWINKLE_CLI_CONFIG": str(tmp_path / "cli.json"),
    }
    code = (
        "import sys\n"
        "from twinkle_client.cli import main\n"
        "rc = main(['whoami', '--json'])\n"
        "assert 'torch' not in sys.modules\n"
        "sys.exit(rc)\n"
    )
    out = _run(light_python, code, tmp_path, env).stdout
    assert json.loads(out)["user_name"] == "carol"
