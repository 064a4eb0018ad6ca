"""Exact resume of a real GPO optimization run (the checkpointed loop of GPO_REFERENCE 5.2-5.3).

A real run (SmolLM2-135M as scorer and optimizer, llama.cpp, bbh navigate, tiny settings) is
SIGKILLed in the middle of step 1, after the optimizer's candidates and the first scoring round
of that step have reached the response cache. ``--resume`` then finishes it with the same cache.
Its artifacts must equal those of an uninterrupted run with the same seed and a fresh cache, and
the resumed invocation must make no model call for finished work: it starts after step 1, and the
calls of step 1 finished before the kill come back as cache hits.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import TINY_GPO, command, run_script, script_env

TASK = "navigate"  # TINY_GPO's task
RUN_FLAGS = [
    *TINY_GPO,
    "--num_search_epochs=2",
    "--scorer_max_tokens=32",
    "--second_round_max_tokens=16",
    "--optimizer_max_tokens=64",
    "--seed=0",
]
# One llama.cpp thread: on a shared, loaded 2-core machine two spinning threads are several
# times slower than one, and a single thread keeps float summation order fixed. One slot: the
# artifacts are compared byte for byte, and only one slot is bit-exact with the prompt cache
# (README, "llama.cpp engine"); one slot also scores in two batched rounds, as this test reads.
COMMON = ["--n_threads=1", "--n_parallel=1", "--log_level=INFO"]
TIMEOUT = 900.0  # seconds per invocation
VOLATILE = ("usage", "seconds")  # step-log fields that legitimately differ between runs

pytestmark = [pytest.mark.real, pytest.mark.timeout(3 * int(TIMEOUT) + 120)]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Invocation:
    returncode: int
    seconds: float
    stderr: str


@dataclass(frozen=True)
class Runs:
    interrupted: Path  # killed during step 1, then resumed
    clean: Path  # uninterrupted, fresh cache
    at_kill: dict  # what the interrupted folder looked like right after SIGKILL
    first: Invocation
    resumed: Invocation
    uninterrupted: Invocation


def _command(data_dir: Path, *flags: str) -> list[str]:
    return [f"--data_dir={data_dir}", *COMMON, *flags]


def _run(cmd: list[str], cwd: Path) -> Invocation:
    started = time.monotonic()
    proc = run_script(cmd, cwd, timeout=TIMEOUT)
    return Invocation(proc.returncode, time.monotonic() - started, proc.stderr)


def _only_folder(out: Path) -> Path:
    [folder] = [p for p in out.iterdir() if p.is_dir()]
    return folder


def _step_1_half_done(out: Path) -> bool:
    """True once step 0 is committed (step log + checkpoint) and step 1 has sent its second
    scoring round, i.e. its candidates and first-round replies are in the cache."""
    folders = [p for p in out.iterdir() if p.is_dir()] if out.is_dir() else []
    if not folders:
        return False
    task_dir = folders[0] / "result_by_instruction" / TASK
    try:
        steps = [json.loads(line) for line in (task_dir / "steps.jsonl").read_text().splitlines()]
        done = json.loads((task_dir / "checkpoint.json").read_text())["completed_steps"]
        run_log = (folders[0] / "run.log").read_text()
    except (OSError, ValueError, KeyError):
        return False
    if [s["global_step"] for s in steps] != [-1, 0] or done != 1:
        return False
    marker = "step 1/2 (epoch 0, step 0)"
    if marker not in run_log:
        return False
    return run_log.split(marker, 1)[1].count("gpo.evaluation.scorer: scorer") >= 2


def _run_and_kill(cmd: list[str], cwd: Path, out: Path) -> Invocation:
    """Start the run, SIGKILL it in the middle of step 1."""
    stderr_path = cwd / "interrupted.stderr"
    started = time.monotonic()
    with open(stderr_path, "w") as stderr:
        proc = subprocess.Popen(
            command(cmd), stdout=subprocess.DEVNULL, stderr=stderr, cwd=cwd, env=script_env()
        )
    try:
        while not _step_1_half_done(out):
            if proc.poll() is not None:
                pytest.fail(
                    f"run ended ({proc.returncode}) before step 1 could be interrupted:\n"
                    f"{stderr_path.read_text()[-3000:]}"
                )
            if time.monotonic() - started > TIMEOUT:
                pytest.fail("step 0 did not finish in time")
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    return Invocation(proc.returncode, time.monotonic() - started, stderr_path.read_text())


def _snapshot(folder: Path) -> dict:
    task_dir = folder / "result_by_instruction" / TASK
    bad = []
    for path in folder.rglob("*.json"):
        try:
            json.loads(path.read_text())
        except ValueError:
            bad.append(str(path))
    return {
        "status": json.loads((folder / "status.json").read_text()),
        "steps": [json.loads(x) for x in (task_dir / "steps.jsonl").read_text().splitlines()],
        "completed_steps": json.loads((task_dir / "checkpoint.json").read_text())[
            "completed_steps"
        ],
        "corrupt_json": bad,
        "best_prompts_exists": (folder / "best_prompts.jsonl").exists(),
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_dir) -> Runs:
    root = tmp_path_factory.mktemp("resume_real")
    out_a, cache_a = root / "a", root / "cache_a"
    out_b, cache_b = root / "b", root / "cache_b"
    first = _run_and_kill(
        _command(data_dir, *RUN_FLAGS, f"--output_dir={out_a}", f"--cache_dir={cache_a}"),
        root,
        out_a,
    )
    interrupted = _only_folder(out_a)
    at_kill = _snapshot(interrupted)
    resumed = _run(_command(data_dir, f"--resume={interrupted}", f"--cache_dir={cache_a}"), root)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    uninterrupted = _run(
        _command(data_dir, *RUN_FLAGS, f"--output_dir={out_b}", f"--cache_dir={cache_b}"), root
    )
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]
    return Runs(interrupted, _only_folder(out_b), at_kill, first, resumed, uninterrupted)


def _steps(folder: Path) -> list[dict]:
    path = folder / "result_by_instruction" / TASK / "steps.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def _usage(step: dict, field: str) -> int:
    return step["usage"]["total"][field]


def _asked(step: dict) -> int:
    """Requests the loop made of its LLMs: sent to a model, answered by the cache, or folded."""
    return sum(_usage(step, f) for f in ("requests", "cache_hits", "deduplicated"))


def _files(folder: Path, pattern: str) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob(pattern)}


def test_sigkill_leaves_a_resumable_unfinished_folder(runs):
    k = runs.at_kill
    assert runs.first.returncode == -signal.SIGKILL
    assert k["status"]["state"] == "running"  # not finished; nothing claims success
    assert [s["global_step"] for s in k["steps"]] == [-1, 0]
    assert k["completed_steps"] == 1
    assert not k["best_prompts_exists"]
    assert k["corrupt_json"] == []  # atomic writes: every JSON file parses after SIGKILL


def test_resumed_artifacts_equal_uninterrupted_run(runs):
    a, b = runs.interrupted, runs.clean
    assert json.loads((a / "status.json").read_text())["state"] == "finished"
    for name in (
        "best_prompts.jsonl",
        f"result_by_instruction/{TASK}/results_dict.json",
        f"result_by_instruction/{TASK}/checkpoint.json",
    ):
        assert (a / name).read_text() == (b / name).read_text(), name
    strip = [[{k: v for k, v in s.items() if k not in VOLATILE} for s in _steps(f)] for f in (a, b)]
    assert [s["global_step"] for s in strip[0]] == [-1, 0, 1, 2]  # initial, 2 steps, final
    assert strip[0] == strip[1]
    csv_a, csv_b = _files(a, "*.csv"), _files(b, "*.csv")
    assert csv_a.keys() == csv_b.keys() and len(csv_a) >= 4
    assert csv_a == csv_b


def test_resume_makes_no_model_call_for_finished_work(runs):
    assert "navigate: resumed after step 1" in runs.resumed.stderr
    sa, sb = _steps(runs.interrupted), _steps(runs.clean)
    # the initial record and step 0 come from the first invocation, unchanged
    for x, y in zip(sa[:2], sb[:2]):
        assert _usage(x, "requests") == _usage(y, "requests") and _usage(x, "cache_hits") == 0
    # step 1 asked for the same replies; those finished before the kill were cache hits
    assert _asked(sa[2]) == _asked(sb[2])
    hits = _usage(sa[2], "cache_hits")
    assert hits > 0 and _usage(sa[2], "requests") == _asked(sb[2]) - hits
    total = {
        name: sum(_usage(s, "requests") for s in steps)
        for name, steps in (("requests_a", sa), ("requests_b", sb))
    }
    assert total["requests_a"] < total["requests_b"]
    assert sum(map(_asked, sa)) == sum(map(_asked, sb))
    numbers = {
        "first_invocation_s": round(runs.first.seconds, 1),
        "resumed_invocation_s": round(runs.resumed.seconds, 1),
        "uninterrupted_s": round(runs.uninterrupted.seconds, 1),
        "requests_interrupted_plus_resumed": total["requests_a"],
        "cache_hits_resumed_step_1": hits,
        "requests_resumed_step_1": _usage(sa[2], "requests"),
        "requests_uninterrupted": total["requests_b"],
    }
    log.info("resume numbers: %s", json.dumps(numbers))
