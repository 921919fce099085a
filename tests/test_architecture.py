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


def _import_cycles(imports: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or through others (Tarjan's strongly
    connected components of more than one module), each sorted, found without recursion."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []
    for root in sorted(imports):
        if root in order:
            continue
        work = [(root, iter(sorted(imports[root])))]
        order[root] = low[root] = len(order)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, pending = work[-1]
            following = next(pending, None)
            if following is not None:
                if following not in order:
                    order[following] = low[following] = len(order)
                    stack.append(following)
                    on_stack.add(following)
                    work.append((following, iter(sorted(imports.get(following, ())))))
                elif following in on_stack:
                    low[module] = min(low[module], order[following])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[module])
            if low[module] == order[module]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == module:
                        break
                if len(group) > 1:
                    cycles.append(sorted(group))
    return cycles


def test_the_cycle_finder_finds_a_cycle_through_a_package() -> None:
    imports = {"p": {"p.a"}, "p.a": {"p.b"}, "p.b": {"p"}, "p.c": {"p.a"}, "q": {"q"}}
    assert _import_cycles(imports) == [["p", "p.a", "p.b"]]


def test_no_import_cycle_anywhere_in_the_package() -> None:
    """Between any modules of ``docqa``, packages and their modules included, counting the imports made
    inside functions and for type checking only: import-linter's ``acyclic_siblings`` sees only siblings."""
    grimp = pytest.importorskip("grimp", reason="grimp comes with import-linter: pip install -e '.[test]'")
    graph = grimp.build_graph("docqa", cache_dir=None, exclude_type_checking_imports=False)
    assert graph.direct_import_exists(importer="docqa.store", imported="docqa.store.milvus")  # inside a function
    imports = {module: set(graph.find_modules_directly_imported_by(module)) for module in graph.modules}
    assert _import_cycles(imports) == []


def test_the_stores_and_the_indexer_use_no_other_object_s_private_members() -> None:
    """Each store and its writer share a small object of public methods (``SQLiteFolder``,
    ``MilvusConnection``): neither reaches into the other's ``_members``."""
    paths = [*sorted((PACKAGE / "store").glob("*.py")), PACKAGE / "indexing.py", PACKAGE / "documents" / "worker.py"]
    offenders = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Attribute) or not node.attr.startswith("_") or node.attr.startswith("__"):
                continue
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert offenders == []


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
