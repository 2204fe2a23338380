"""Generate the packages under generated/ from openapi.yaml, and detect drift.

Generation always happens in a fresh temporary folder and is then formatted with the pinned
ruff, so the output depends only on the spec, the templates and the pinned tool versions.
`write` swaps the result into generated/; `check` compares it with generated/ instead.
generated/typescript/ holds the TypeScript types of the API (openapi-typescript); the handwritten
TypeScript client in clients/typescript/ is built on them with openapi-fetch.
"""

from __future__ import annotations

import filecmp
import json
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from .spec import load_spec
from .stubs import BANNER, render_stubs

__all__ = ["PACKAGES", "PINNED_TOOLS", "check", "generate_into", "write"]

CODEGEN_DIR = Path(__file__).parent
ROOT = CODEGEN_DIR.parent
PACKAGES = ("twinkle_api_client", "twinkle_api_server", "typescript")
# The TypeScript client's generator runs from the npm package in clients/typescript (package-lock.json
# pins it); `npm ci` there (or `make install`) installs it.
TS_PACKAGE = ROOT / "clients" / "typescript"
PINNED_NPM_TOOLS = {"openapi-typescript": "7.13.0"}
# Request fields with a default come out optional (openapi-typescript's default makes them required).
OPENAPI_TYPESCRIPT_OPTIONS = ["--default-non-nullable=false"]
PINNED_TOOLS = {
    "openapi-python-client": "0.29.1",
    "datamodel-code-generator": "0.89.0",
    "ruff": "0.17.6",
}
DATAMODEL_OPTIONS = [
    "--input-file-type=openapi",
    "--output-model-type=pydantic_v2.BaseModel",
    "--target-python-version=3.11",
    "--disable-timestamp",
    "--use-standard-collections",
    "--use-union-operator",
    "--use-annotated",
    "--strict-nullable",
    "--enum-field-as-literal=all",
    "--use-schema-description",
    "--use-field-description",
    "--collapse-root-models",
    "--use-type-alias",
    "--use-double-quotes",
    "--no-formatters",
]
IGNORED = {"__pycache__", ".ruff_cache"}


class GenerationError(RuntimeError):
    """A generator failed or a pinned tool has the wrong version."""


def _check_tool_versions() -> None:
    wrong = []
    for name, want in PINNED_TOOLS.items():
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            have = "missing"
        if have != want:
            wrong.append(f"{name}=={want} (found {have})")
    for name, want in PINNED_NPM_TOOLS.items():
        manifest = TS_PACKAGE / "node_modules" / name / "package.json"
        have = json.loads(manifest.read_text())["version"] if manifest.is_file() else "missing"
        if have != want:
            wrong.append(f"{name}@{want} (found {have}; run `npm ci` in {TS_PACKAGE.relative_to(ROOT)})")
    if shutil.which("node") is None:
        wrong.append("node (20 or later)")
    if wrong:
        raise GenerationError("codegen needs pinned tools; install " + ", ".join(wrong))


def _run(args: list[str], cwd: Path) -> None:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise GenerationError(f"{' '.join(args[:4])} ... failed:\n{proc.stdout}\n{proc.stderr}")


def _generate_client(spec_path: Path, out: Path, work: Path) -> None:
    _run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            f"--path={spec_path}",
            f"--config={CODEGEN_DIR / 'client_config.yaml'}",
            "--meta=none",
            f"--output-path={out}",
            "--fail-on-warning",
        ],
        cwd=work,
    )
    (out / "py.typed").write_text("")
    version = str(load_spec(spec_path)["info"]["version"])
    (out / "api_version.py").write_text(
        f'{BANNER}\n"""info.version of the openapi.yaml this client was generated from."""\n\n'
        f'API_VERSION = "{version}"\n',
        encoding="utf-8",
    )


def _generate_server(spec_path: Path, out: Path, work: Path) -> None:
    out.mkdir(parents=True)
    # Copy the spec under a fixed name so the models' header does not depend on the path.
    local_spec = work / "openapi.yaml"
    shutil.copyfile(spec_path, local_spec)
    header = f"{BANNER}\n# Pydantic v2 models of components/schemas (datamodel-code-generator)."
    _run(
        [
            sys.executable,
            "-m",
            "datamodel_code_generator",
            "--input=openapi.yaml",
            f"--output={out / 'models.py'}",
            f"--custom-file-header={header}",
            *DATAMODEL_OPTIONS,
        ],
        cwd=work,
    )
    for name, text in render_stubs(load_spec(spec_path)).items():
        (out / name).write_text(text, encoding="utf-8")
    (out / "py.typed").write_text("")


TS_BANNER = "// Generated from openapi.yaml by `python -m codegen`. Do not edit by hand."


def _generate_typescript(spec: dict, spec_path: Path, out: Path) -> None:
    """`schema.d.ts` (openapi-typescript: the paths and schemas as types), `version.ts`, `package.json`."""
    out.mkdir(parents=True)
    cli = TS_PACKAGE / "node_modules" / "openapi-typescript" / "bin" / "cli.js"
    schema = out / "schema.d.ts"
    _run(["node", str(cli), str(spec_path), *OPENAPI_TYPESCRIPT_OPTIONS, "-o", str(schema)], cwd=TS_PACKAGE)
    schema.write_text(f"{TS_BANNER}\n{schema.read_text(encoding='utf-8')}", encoding="utf-8")
    version = spec["info"]["version"]
    # ES modules, like the client built on them (node reads "type" from the nearest package.json).
    (out / "package.json").write_text('{\n  "private": true,\n  "type": "module"\n}\n', encoding="utf-8")
    (out / "version.ts").write_text(
        f"{TS_BANNER}\n\n/** info.version of the openapi.yaml this client was generated from. */\n"
        f'export const API_VERSION = "{version}";\n',
        encoding="utf-8",
    )


def _format(folder: Path) -> None:
    config = f"--config={CODEGEN_DIR / 'ruff.toml'}"
    ruff = [sys.executable, "-m", "ruff"]
    _run([*ruff, "check", config, "--fix-only", "--exit-zero", "--no-cache", "."], cwd=folder)
    _run([*ruff, "format", config, "--no-cache", "."], cwd=folder)


def generate_into(spec_path: Path, dest: Path) -> None:
    """Write both packages into `dest` (which must not hold them yet)."""
    _check_tool_versions()
    spec_path = spec_path.resolve()
    spec = load_spec(spec_path)
    with tempfile.TemporaryDirectory(prefix="twinkle-codegen-") as tmp:
        work = Path(tmp)
        _generate_client(spec_path, dest / "twinkle_api_client", work)
        _generate_server(spec_path, dest / "twinkle_api_server", work)
        (dest / "twinkle_api_server" / "openapi.json").write_text(
            json.dumps(spec, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    _format(dest)
    _generate_typescript(spec, spec_path, dest / "typescript")


def _files(folder: Path) -> set[str]:
    if not folder.is_dir():
        return set()
    return {
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and not IGNORED.intersection(p.relative_to(folder).parts)
    }


def diff_trees(expected: Path, actual: Path) -> list[str]:
    """Relative paths that are missing, extra or different in `actual`."""
    want, have = _files(expected), _files(actual)
    changed = [f for f in sorted(want & have) if not filecmp.cmp(expected / f, actual / f, shallow=False)]
    return sorted(set(changed) | (want ^ have))


def check(spec_path: Path, generated: Path) -> list[str]:
    """Paths under generated/ that differ from what the spec produces (empty when in sync)."""
    with tempfile.TemporaryDirectory(prefix="twinkle-codegen-check-") as tmp:
        fresh = Path(tmp) / "generated"
        generate_into(spec_path, fresh)
        diffs = []
        for pkg in PACKAGES:
            diffs += [f"{pkg}/{f}" for f in diff_trees(fresh / pkg, generated / pkg)]
        return diffs


def write(spec_path: Path, generated: Path) -> None:
    """Regenerate both packages and replace them under `generated`."""
    with tempfile.TemporaryDirectory(prefix="twinkle-codegen-", dir=generated.parent) as tmp:
        fresh = Path(tmp) / "generated"
        generate_into(spec_path, fresh)
        generated.mkdir(exist_ok=True)
        for pkg in PACKAGES:
            target = generated / pkg
            if target.exists():
                shutil.rmtree(target)
            shutil.move(fresh / pkg, target)
