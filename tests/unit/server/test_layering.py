"""Imports point down: only the HTTP layer itself and what sits above it (the app factory,
``serve.py``, which runs the app under uvicorn with the layer's own protocol class, and the
dashboard, which serves pages and one operator route with the layer's error schema) import
``twinkle_server.api``.

The runtime, the task runner, the engine, the store and the local face use the request plumbing in
``twinkle_server.requests``; a module among them reaching up into ``api`` would tie them to HTTP.
"""

from __future__ import annotations

import ast
from pathlib import Path

import twinkle
import twinkle_server

SERVER = Path(twinkle_server.__file__).parent
LOCAL = Path(twinkle.__file__).parent
ABOVE_API = {SERVER / "app.py", SERVER / "serve.py", SERVER / "dashboard" / "__init__.py"}


def _imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (lazy imports inside functions count)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _below_api() -> list[Path]:
    files = [*SERVER.rglob("*.py"), *LOCAL.rglob("*.py")]
    return sorted(p for p in files if (SERVER / "api") not in p.parents and p not in ABOVE_API)


def test_nothing_below_the_http_layer_imports_it() -> None:
    upward = {
        str(path.relative_to(SERVER.parent)): sorted(
            name
            for name in _imported_modules(path)
            if name == "twinkle_server.api" or name.startswith("twinkle_server.api.")
        )
        for path in _below_api()
    }
    assert {path: names for path, names in upward.items() if names} == {}


def test_the_check_sees_lazy_imports(tmp_path: Path) -> None:
    module = tmp_path / "lazy.py"
    module.write_text("def f():\n    from twinkle_server.api.errors import status_for\n", encoding="utf-8")
    assert "twinkle_server.api.errors" in _imported_modules(module)
    assert SERVER / "runtime.py" in _below_api()
    assert SERVER / "api" / "base.py" not in _below_api()
