"""The default install (the README's quick start: no mlflow, no ray, no hf or vllm extras).

A run that does not ask for an optional extra never imports it; a run that asks for a missing
one ends in one ``error:`` line naming the ``pip install`` command, exit status 2, no traceback.
CI installs every extra, so "not installed" is simulated in each subprocess: a
``sitecustomize.py`` first on its ``PYTHONPATH`` puts None in ``sys.modules`` for the blocked
names, so importing one raises ImportError and ``importlib.util.find_spec`` answers None, as for
a package that is not there (child processes inherit it through ``PYTHONPATH``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import MAIN, SMOLLM2, SRC, script_env

TESTS = Path(__file__).resolve().parent
# the extras the README's quick start does not install (sentence-transformers brings transformers)
NOT_IN_QUICK_START = ("mlflow", "ray", "vllm", "accelerate", "gguf")
BLOCKER = """import os, sys
for name in os.environ.get("GPO_TEST_BLOCKED", "").split(","):
    if name:
        sys.modules[name] = None  # import fails, find_spec answers None: "not installed"
"""
# main.py on the fake models of test_runtime (the scorer answers Yes/No, no model loads)
FAKE_MAIN = """import sys
from collections import Counter
from gpo.cli import app
from test_runtime import counting_runtime
app.run(["main.py", *sys.argv[1:]], counting_runtime(Counter(), []))
"""
FAKE_FLAGS = [
    "--scorer_llm_name=fake-scorer",
    "--optimizer_llm_name=fake-optimizer",
    "--scorer_backend=openai",
    "--optimizer_backend=openai",
    "--openai_api_key=sk-test-unused",
    "--no_cache",
]
NAVIGATE = ["--dataset=bbh", "--task_name=navigate", "--max_examples=2"]
TINY_GPO = ["--preset=gpo", "--opt_batch_size=2", "--format_data_num=2", "--num_search_epochs=1"]


def run_without(
    blocked: tuple[str, ...], args: list[str], tmp_path: Path, code: str | None = None
) -> subprocess.CompletedProcess:
    """``main.py args`` (or ``python -c code args``) in ``tmp_path`` with ``blocked`` missing."""
    site = tmp_path / "blocker"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BLOCKER, encoding="utf-8")
    path = os.pathsep.join([str(site), str(SRC), str(TESTS)])
    env = script_env(PYTHONPATH=path, GPO_TEST_BLOCKED=",".join(blocked))
    head = [sys.executable, str(MAIN)] if code is None else [sys.executable, "-c", code]
    return subprocess.run(
        [*head, f"--output_dir={tmp_path / 'out'}", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env=env,
    )


def test_the_blocker_makes_a_package_missing(tmp_path) -> None:
    code = "import importlib.util; assert importlib.util.find_spec('mlflow') is None; import mlflow"
    proc = run_without(("mlflow",), [], tmp_path, code)
    assert proc.returncode == 1 and "ModuleNotFoundError" in proc.stderr  # as for a missing one


def succeeded(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "error:" not in proc.stderr, proc.stderr[-3000:]


def test_only_evaluate_without_mlflow_succeeds(tmp_path, data_dir) -> None:
    proc = run_without(
        NOT_IN_QUICK_START, [*FAKE_FLAGS, *NAVIGATE, "--only_evaluate"], tmp_path, FAKE_MAIN
    )
    succeeded(proc)
    [folder] = (tmp_path / "out").iterdir()
    assert (folder / "report.md").is_file()


def test_gpo_evaluate_without_mlflow_succeeds(tmp_path, data_dir) -> None:
    code = f"""import sys
from collections import Counter
import gpo
from test_runtime import counting_runtime
task = gpo.Task.benchmark("bbh", "navigate", data_dir={str(data_dir)!r})
out = gpo.evaluate("Answer.", task, scorer="fake-scorer", scorer_backend="openai",
    openai_api_key="sk-test-unused", no_cache=True, max_examples=2,
    output_dir=sys.argv[1].split("=", 1)[1], runtime=counting_runtime(Counter(), []))
assert 0.0 <= out.score <= 1.0 and out.rows, out
"""
    succeeded(run_without(NOT_IN_QUICK_START, [], tmp_path, code))


def test_optimize_without_mlflow_and_ray_succeeds(tmp_path, data_dir) -> None:
    args = [*FAKE_FLAGS, *NAVIGATE, *TINY_GPO, "--embedding_model=fake"]
    succeeded(run_without(NOT_IN_QUICK_START, args, tmp_path, FAKE_MAIN))


@pytest.mark.parametrize(
    ("missing", "args", "fix"),
    [
        ("mlflow", ["--only_evaluate", "--mlflow"], "pip install -e '.[mlflow]'"),
        ("mlflow", ["--only_evaluate", "--mlflow_tracking_uri=http://x:1"], "pip install"),
        ("ray", [*TINY_GPO, "--workers=2"], "pip install -e '.[ray]'"),
        (
            "sentence_transformers",
            [*TINY_GPO, "--embedding_model=all-minilm-l6-v2"],
            "pip install -e '.[embeddings]'",
        ),
    ],
)
def test_a_missing_extra_asked_for_is_one_line(tmp_path, data_dir, missing, args, fix) -> None:
    blocked = (*NOT_IN_QUICK_START, missing)
    proc = run_without(blocked, [*FAKE_FLAGS, *NAVIGATE, *args], tmp_path, FAKE_MAIN)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    [line] = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert fix in line


@pytest.mark.parametrize(
    ("missing", "model", "fix"),
    [
        ("xllamacpp", [f"--scorer_llm_name={SMOLLM2}"], "pip install xllamacpp"),
        (
            "openai",
            ["--scorer_llm_name=gpt-3.5-turbo", "--openai_api_key=sk-test-unused"],
            "pip install openai",
        ),
    ],
)
def test_a_missing_backend_package_is_one_line(tmp_path, data_dir, missing, model, fix) -> None:
    """main.py itself (its backends load for real): the package is missing when the model
    loads, before any request."""
    args = [*model, "--openai_base_url=http://127.0.0.1:9/v1", *NAVIGATE, "--only_evaluate"]
    proc = run_without((*NOT_IN_QUICK_START, missing), args, tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines()[-1].startswith("error:")
    assert fix in proc.stderr.strip().splitlines()[-1]


@pytest.mark.real
def test_readme_only_evaluate_on_the_bundled_model_without_mlflow(tmp_path, data_dir) -> None:
    """The issue's command, as a user of the default install runs it."""
    args = ["--dataset=bbh", "--task_name=navigate", f"--scorer_llm_name={SMOLLM2}"]
    args += ["--only_evaluate", "--max_examples=2", "--n_threads=1", "--no_cache"]
    proc = run_without(NOT_IN_QUICK_START, args, tmp_path)
    succeeded(proc)
    [folder] = (tmp_path / "out").iterdir()
    assert (folder / "report.md").is_file()
