"""The shape of ``src/gpo``'s imports: no cycle, and packages that only point down.

Every import counts, the lazy ones inside functions included. A cycle hides behind a
function-level import until the two modules change, then fails at import time (or forces ``Any``
types to dodge it, as ``BackendOptions`` once did); an upward import ties a low package to the
ones built on it. The scan is static (ast), so it sees imports that a test run never executes.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "gpo"

FRONT = "__init__"  # the package's front door (gpo/__init__.py: the public names, loaded lazily)
ROOT = "root modules"  # gpo/*.py: config, errors, names, presets, vocabulary, log_setup, ...

# The layers of src/gpo, top down: a module imports only its own package or a lower layer. A
# layer of two (data, llm) holds siblings, which must not import each other either. A new
# package needs its place here; a new module directly under gpo/ is a root module (the bottom).
LAYERS: tuple[tuple[str, ...], ...] = (
    (FRONT,),
    ("cli",),
    ("api",),
    ("scale",),
    ("experiments",),
    ("runs",),
    ("reports",),
    ("tracking",),
    ("optimization",),
    ("results",),
    ("evaluation",),
    ("data", "llm"),
    (ROOT,),
)


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
    gives ``a.b``: the module ``a.b``, or a name defined in ``a``; relative imports resolved)."""
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
    (pkg / "a.py").write_text("from gpo.b import thing\n")  # a name of gpo.b: the module
    (pkg / "b.py").write_text("def thing():\n    from . import c\n")
    (pkg / "c.py").write_text("def later():\n    import gpo.a\n")
    graph = import_graph(pkg)
    assert graph["gpo.b"] == {"gpo.c"}  # the relative, function-level import resolved
    assert find_cycle(graph) == ["gpo.a", "gpo.b", "gpo.c", "gpo.a"]
    (pkg / "c.py").write_text("def later():\n    import json\n")
    assert find_cycle(import_graph(pkg)) is None


def ranks_of(layers: Sequence[Sequence[str]]) -> dict[str, int]:
    """Layer name -> rank, the bottom layer 0 (``layers`` given top down)."""
    return {name: len(layers) - 1 - i for i, layer in enumerate(layers) for name in layer}


def layer_of(package: Path) -> dict[str, str]:
    """Module -> its layer: the subpackage directly under ``package`` it belongs to, ``FRONT``
    for the package's own ``__init__``, ``ROOT`` for a module directly under the package."""
    out = {}
    for module, path in module_files(package).items():
        parts = path.relative_to(package).parts
        out[module] = parts[0] if len(parts) > 1 else FRONT if parts[0] == "__init__.py" else ROOT
    return out


def unranked_layers(package: Path, ranks: Mapping[str, int]) -> set[str]:
    """The layers (subpackages) of ``package`` that ``ranks`` does not place."""
    return set(layer_of(package).values()) - set(ranks)


def upward_imports(package: Path, ranks: Mapping[str, int]) -> dict[tuple[str, str], list[str]]:
    """Every import that does not point down: (importing layer, imported layer) -> its module
    edges (``a -> b``). An import within a layer is fine; one into a layer of the same rank (a
    sibling) or a higher one is not. Unranked layers are left to ``unranked_layers``."""
    layers = layer_of(package)
    out: dict[tuple[str, str], list[str]] = {}
    for module, targets in import_graph(package).items():
        mine = layers[module]
        for target in sorted(targets):
            theirs = layers[target]
            if mine == theirs or mine not in ranks or theirs not in ranks:
                continue
            if ranks[theirs] >= ranks[mine]:
                out.setdefault((mine, theirs), []).append(f"{module} -> {target}")
    return out


def describe(edges: Mapping[tuple[str, str], list[str]], ranks: Mapping[str, int]) -> str:
    return "\n".join(
        f"{a} (rank {ranks[a]}) -> {b} (rank {ranks[b]}): " + ", ".join(modules)
        for (a, b), modules in sorted(edges.items())
    )


def test_every_package_has_a_layer() -> None:
    ranks = ranks_of(LAYERS)
    missing = unranked_layers(PACKAGE, ranks)
    assert not missing, f"packages without a layer (add them to LAYERS): {sorted(missing)}"
    gone = set(ranks) - set(layer_of(PACKAGE).values())
    assert not gone, f"LAYERS names packages that no longer exist: {sorted(gone)}"


def test_src_gpo_packages_only_import_down() -> None:
    ranks = ranks_of(LAYERS)
    edges = upward_imports(PACKAGE, ranks)
    assert not edges, "imports that point up or sideways:\n" + describe(edges, ranks)


def test_the_layering_check_reports_an_upward_lazy_import(tmp_path: Path) -> None:
    pkg = tmp_path / "gpo"
    for sub in ("top", "low", "left", "right"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("from gpo.top import app\n")
    (pkg / "errors.py").write_text("")
    (pkg / "top" / "app.py").write_text("from gpo.low import work\nimport gpo.errors\n")
    (pkg / "low" / "work.py").write_text("from . import helper\n")  # its own package
    (pkg / "low" / "helper.py").write_text("def later():\n    from gpo.top.app import run\n")
    (pkg / "left" / "a.py").write_text("from ..right import b\n")  # a sibling
    (pkg / "right" / "b.py").write_text("from gpo import errors\n")
    layers = ((FRONT,), ("top",), ("low",), ("left", "right"), (ROOT,))
    ranks = ranks_of(layers)
    assert ranks == {FRONT: 4, "top": 3, "low": 2, "left": 1, "right": 1, ROOT: 0}
    assert unranked_layers(pkg, ranks) == set()
    edges = upward_imports(pkg, ranks)
    assert edges == {
        ("low", "top"): ["gpo.low.helper -> gpo.top.app"],
        ("left", "right"): ["gpo.left.a -> gpo.right.b"],
    }
    assert "gpo.low.helper -> gpo.top.app" in describe(edges, ranks)
    # a package without a layer is reported, and its imports are not judged
    (pkg / "extra").mkdir()
    (pkg / "extra" / "__init__.py").write_text("import gpo.top\n")
    assert unranked_layers(pkg, ranks) == {"extra"}
    assert set(upward_imports(pkg, ranks)) == {("low", "top"), ("left", "right")}
