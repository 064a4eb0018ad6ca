"""No function or method over 50 lines in src/, benchmarks/, scripts/ and examples/.

A length counts from the ``def`` line to the function's last line (decorators apart, docstring
and comments included); a nested function counts on its own and inside its parent.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FOLDERS = ("src", "benchmarks", "scripts", "examples")
MAX_LINES = 50


def long_functions(files: list[Path], limit: int = MAX_LINES) -> list[str]:
    """``path:line name (n lines)`` for every function longer than ``limit`` lines."""
    out = []
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > limit:
                    out.append(f"{path}:{node.lineno} {node.name} ({n} lines)")
    return out


def python_files(root: Path = REPO) -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (root / folder).rglob("*.py"))


def test_no_function_is_over_50_lines() -> None:
    files = python_files()
    assert len(files) > 50, "the scan found the repository's Python files"
    long = long_functions(files)
    assert not long, f"functions over {MAX_LINES} lines (split them):\n" + "\n".join(long)


def test_the_length_excludes_decorators(tmp_path: Path) -> None:
    def lines(indent: str, n: int) -> str:
        return "".join(f"{indent}x{i} = {i}\n" for i in range(n))

    path = tmp_path / "m.py"
    # fits: 50 lines from its def, 52 with its decorators
    fits = "@decorator\n@other\ndef fits():\n" + lines("    ", MAX_LINES - 1)
    over = "class C:\n    def over(self):\n" + lines("        ", MAX_LINES)
    path.write_text(fits + "\n\n" + over)
    assert long_functions([path]) == [f"{path}:{MAX_LINES + 6} over ({MAX_LINES + 1} lines)"]
