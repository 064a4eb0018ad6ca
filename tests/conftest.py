"""Shared fixtures: the benchmark data folder (../shared/data beside the repo, or GPO_DATA_DIR)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    env = os.environ.get("GPO_DATA_DIR")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = shared_data_dir()
    if not (path / "BIG-Bench-Hard").is_dir():
        pytest.fail(f"benchmark data not found at {path}; set GPO_DATA_DIR")
    return path


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO
