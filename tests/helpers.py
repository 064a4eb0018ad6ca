"""What the tests share: where the entry points are, the bundled model's flags, greedy decoding
parameters, and how to run ``main.py`` (as a subprocess, or in this process when the process
boundary is not what a test checks) and check its one-line errors.

Importable from every test module as ``helpers`` (pytest puts ``tests/`` on ``sys.path``, as for
``conftest``). The fixtures (``data_dir``, ``main_in_process``, ...) live in ``conftest.py``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gpo.llm.base import GenerationParams

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
MAIN = SRC / "optimization" / "main.py"
EXPERIMENT = SRC / "optimization" / "experiment.py"
REPORT = SRC / "optimization" / "report.py"
EXAMPLES = REPO / "examples"
DATA_DIR_ENV = "GPO_DATA_DIR"

# ---- the bundled real model and the small real run's flags

SMOLLM2 = "smollm2-135m"
LOCAL_MODELS = [f"--scorer_llm_name={SMOLLM2}", f"--optimizer_llm_name={SMOLLM2}"]
EMBEDDER = "--embedding_model=all-minilm-l6-v2"  # the bundled offline sentence embedder
# short scorer answers and no response cache: what every small real run adds
FAST = ["--scorer_max_tokens=48", "--second_round_max_tokens=12", "--no_cache"]
# a tiny GPO run on navigate with the bundled model (callers add epochs and token limits)
TINY_GPO = [
    "--preset=gpo",
    "--dataset=bbh",
    "--task_name=navigate",
    *LOCAL_MODELS,
    EMBEDDER,
    "--max_examples=4",
    "--num_generated_instructions_in_each_step=2",
    "--opt_batch_size=4",
]
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def greedy(max_tokens: int = 256, seed: int = 0) -> GenerationParams:
    """Greedy decoding (temperature 0)."""
    return GenerationParams(temperature=0.0, max_tokens=max_tokens, seed=seed)


GREEDY = greedy()
SAMPLED = GenerationParams(temperature=1.0, max_tokens=512, seed=0)

# ---- the data folder


def shared_data_dir() -> Path:
    """The benchmark data folder as an absolute path: $GPO_DATA_DIR (a relative value is taken
    from the folder pytest started in), else ``../shared/data`` beside the repository."""
    env = os.environ.get(DATA_DIR_ENV)
    return Path(os.path.abspath(env)) if env else REPO.parent / "shared" / "data"


# ---- running an entry point as a subprocess


def script_env(offline: bool = True, **extra: str) -> dict[str, str]:
    """This process's environment (GPO_DATA_DIR already absolute: conftest exports it), offline
    for the model hub unless told otherwise, plus ``extra``."""
    return {**os.environ, **(OFFLINE if offline else {}), **extra}


def no_network_env(**extra: str) -> dict[str, str]:
    """No API key and an unreachable download URL: a bad path can never reach the network."""
    env = {k: v for k, v in script_env().items() if k != "OPENAI_API_KEY"}
    return {**env, "GPO_DATA_URL": "http://127.0.0.1:9/unreachable.tar.gz", **extra}


def command(args: Sequence[str], script: Path = MAIN) -> list[str]:
    """``python <script> args`` as an argument list (for ``subprocess.Popen``)."""
    return [sys.executable, str(script), *args]


def run_script(
    args: Sequence[str],
    cwd: Path,
    *,
    script: Path = MAIN,
    env: dict[str, str] | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess:
    """``python <script> args`` in ``cwd``, output captured (not checked)."""
    return subprocess.run(
        command(args, script),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=script_env() if env is None else env,
    )


def run_main(args: Sequence[str], tmp_path: Path, timeout: float = 1500):
    """main.py writing into ``tmp_path/out``; it must succeed."""
    proc = run_script([f"--output_dir={tmp_path / 'out'}", *args], tmp_path, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def only_run_folder(tmp_path: Path) -> Path:
    """The one run folder under ``tmp_path/out``, which must have finished."""
    [folder] = list((tmp_path / "out").iterdir())
    assert json.loads((folder / "status.json").read_text())["state"] == "finished"
    return folder


# ---- bad input: one line on stderr, exit status 2, no traceback, nothing written


@dataclass(frozen=True)
class Outcome:
    """How a main.py invocation ended (the fields of ``subprocess.CompletedProcess`` tests use)."""

    returncode: int
    stdout: str
    stderr: str


def error_command(args: Sequence[str], tmp_path: Path, data_dir: Path | None) -> list[str]:
    """The arguments of an invocation expected to fail: output to ``tmp_path/out``, no cache."""
    data = [f"--data_dir={data_dir}"] if data_dir is not None else []
    return [f"--output_dir={tmp_path / 'out'}", "--no_cache", *args, *data]


def run_main_expecting_error(
    args: Sequence[str], tmp_path: Path, env: dict | None = None, data_dir: Path | None = None
) -> tuple[subprocess.CompletedProcess, Path]:
    """main.py as a subprocess without network access; returns the process and its output
    folder (for :func:`assert_one_line_error`)."""
    command = error_command(args, tmp_path, data_dir)
    proc = run_script(command, tmp_path, env=no_network_env(**(env or {})), timeout=300)
    return proc, tmp_path / "out"


def run_main_in_process(args: Sequence[str], capsys) -> Outcome:
    """main.py's ``run`` in this process (pytest's ``capsys`` captures its output): for tests of
    flag validation, where starting a Python process would only cost time. The caller provides
    the environment (see the ``main_in_process`` fixture); absl's flags are reset before and
    after, and the root logger is restored."""
    from gpo.cli import app
    from gpo.cli.flags import FLAGS

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    FLAGS.unparse_flags()
    capsys.readouterr()
    code = 0
    try:
        app.run([str(MAIN), *args])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        FLAGS.unparse_flags()
        root.handlers[:] = handlers
        root.setLevel(level)
    out, err = capsys.readouterr()
    return Outcome(code, out, err)


def assert_one_line_error(proc, out: Path, *fragments: str) -> None:
    """Exit status 2, exactly one ``error:`` line holding every fragment, no traceback, and no
    run folder that could look finished."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert not out.exists() or not any(out.iterdir())
