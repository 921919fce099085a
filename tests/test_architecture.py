"""The layout keeps its promises: imports flow one way, the package root stays light, modules stay small.

The import layers themselves are the contracts under ``[tool.importlinter]`` in ``pyproject.toml``,
checked by import-linter; this file runs it and checks what it cannot express.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "docqa"
MAX_MODULE_LINES = 420
HEAVY = ("gradio", "faiss", "pypdf", "bs4", "torch", "transformers", "sentence_transformers")


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_import_contracts_hold() -> None:
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint_imports is None:
        pytest.skip("import-linter is not installed: pip install -e '.[test]'")
    result = subprocess.run(
        [lint_imports, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_module_imports_the_package_root() -> None:
    """``from docqa import X`` inside the package would load every lazy export, and with it the pipeline."""
    offenders = []
    for path in _modules():
        if path == PACKAGE / "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "docqa" and node.level == 0:
                offenders += [f"{path.relative_to(ROOT)}: from docqa import {alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import) and any(alias.name == "docqa" for alias in node.names):
                offenders.append(f"{path.relative_to(ROOT)}: import docqa")
    assert offenders == []


@pytest.mark.parametrize(
    ("module", "allowed"),
    [
        ("docqa", ()),
        ("docqa.reader", ()),  # torch loads when a model is first used, not on import
        ("docqa.store", ("faiss",)),
        ("docqa.cli", ()),  # gradio only when the app is served
        ("docqa.documents", ()),  # each parser's library when a file of its type is read
    ],
)
def test_importing_a_module_loads_only_what_it_needs(module: str, allowed: tuple[str, ...]) -> None:
    probe = f"import sys, {module}; print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = set(result.stdout.split())
    assert sorted(loaded & set(HEAVY) - set(allowed)) == []


def test_no_module_is_much_over_400_lines() -> None:
    lines = {str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines()) for path in _modules()}
    assert {name: count for name, count in lines.items() if count > MAX_MODULE_LINES} == {}
