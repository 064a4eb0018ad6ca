"""No import cycle in ``src/gpo``: every import counts, the lazy ones inside functions included.

A cycle hides behind a function-level import until the two modules change, then fails at import
time (or forces ``Any`` types to dodge it, as ``BackendOptions`` once did). The scan is static
(ast), so it sees imports that a test run never executes.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "gpo"


def module_files(package: Path = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package (``__init__`` as the package)."""
    out = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imported_names(module: str, path: Path) -> set[str]:
    """Every dotted name an import statement anywhere in the file may load (``from a import b``
    gives ``a`` and ``a.b``; relative imports resolved)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the modules of the package it imports (a name resolves to its longest module)."""
    modules = module_files(package)
    graph = {}
    for module, path in modules.items():
        targets = set()
        for name in imported_names(module, path):
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path ``[a, b, ..., a]``, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(graph):
        if root in state:
            continue
        path, stack = [root], [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def test_src_gpo_has_no_import_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 50 and graph["gpo.cli.app"], "the scan found the package's modules"
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_scan_sees_lazy_imports_and_reports_a_cycle(tmp_path: Path) -> None:
    pkg = tmp_path / "gpo"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from gpo.b import thing\n")
    (pkg / "b.py").write_text("def thing():\n    from . import c\n")
    (pkg / "c.py").write_text("def later():\n    import gpo.a\n")
    graph = import_graph(pkg)
    assert graph["gpo.b"] == {"gpo", "gpo.c"}  # the relative, function-level import resolved
    assert find_cycle(graph) == ["gpo.a", "gpo.b", "gpo.c", "gpo.a"]
    (pkg / "c.py").write_text("def later():\n    import json\n")
    assert find_cycle(import_graph(pkg)) is None
