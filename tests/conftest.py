"""Shared fixtures: the benchmark data folder (absolute, also for every subprocess), the repository
root, and main.py run in this process. Shared constants and runners are in ``helpers.py``."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import (
    DATA_DIR_ENV,
    REPO,
    Outcome,
    error_command,
    no_network_env,
    run_main_in_process,
    shared_data_dir,
)


def pytest_configure(config: pytest.Config) -> None:
    """Resolve the data folder once, before any test changes the working directory: a relative
    GPO_DATA_DIR (the quick start's ``../shared/data``) would otherwise point elsewhere for the
    tests that run main.py from a temporary folder. The absolute value is exported, so code in
    this process and every subprocess see it."""
    path = shared_data_dir()
    if os.environ.get(DATA_DIR_ENV) or path.is_dir():
        os.environ[DATA_DIR_ENV] = str(path)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = shared_data_dir()
    if not (path / "BIG-Bench-Hard").is_dir():
        pytest.fail(f"benchmark data not found at {path}; set {DATA_DIR_ENV}")
    return path


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture
def main_in_process(tmp_path, monkeypatch, capsys) -> Callable[..., tuple[Outcome, Path]]:
    """``run(args, data_dir=None, env=None) -> (outcome, output folder)``: main.py's flag
    parsing, validation and dispatch in this process, from ``tmp_path``, with the environment
    :func:`helpers.run_main_expecting_error` gives a subprocess (no key, no download)."""

    def run(args, data_dir: Path | None = None, env: dict | None = None):
        monkeypatch.chdir(tmp_path)
        wanted = no_network_env(**(env or {}))
        for name in set(os.environ) - set(wanted):
            monkeypatch.delenv(name)
        for name, value in wanted.items():
            monkeypatch.setenv(name, value)
        command = error_command(args, tmp_path, data_dir)
        return run_main_in_process(command, capsys), tmp_path / "out"

    return run


@pytest.fixture(autouse=True)
def _release_lent_models():
    """Each test starts without models that an earlier test's API calls left loaded for the
    next call (``gpo.release_models``), so memory stays that of one test."""
    yield
    import sys

    build = sys.modules.get("gpo.runs.build")
    if build is not None:
        build.LENDER.release()
