"""Scale-out on real models: GPO's tasks on a two-node Ray cluster, and the scorer spread over
two real llama.cpp (xllamacpp) HTTP server replicas.

* A two-task GPO run (SmolLM2-135M as scorer and optimizer, tiny settings) with ``--workers=2``
  on a two-node Ray cluster (``ray.cluster_utils.Cluster``, both nodes on this machine) runs its
  tasks on different nodes and ends with the results of the single-process run with the same seed.
* A worker SIGKILLed during a task: the task goes to another worker, resumes from its checkpoint,
  and the run ends with the same results.
* Two xllamacpp HTTP server replicas behind a comma-separated ``--openai_base_url`` (each behind a
  counting proxy): both get requests, and with one killed mid-run the run still finishes.

Every Ray start gets a fresh short temporary folder, HOME points into the test's temporary folder
(nothing lands in the real home directory) and every process started here is stopped by its id.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fault_proxy import FaultProxy
from helpers import LOCAL_MODELS, command, run_script, script_env
from servers import start_llama_server

TASKS = ("navigate", "sports_understanding")
RUN = [
    "--preset=gpo",
    "--momentum_selection_name=recency",  # no embedding model to load in every worker
    "--dataset=bbh",
    f"--task_name={','.join(TASKS)}",
    "--max_examples=2",
    "--format_data_num=1",
    "--num_generated_instructions_in_each_step=2",
    "--num_search_epochs=1",
    "--opt_batch_size=2",
    "--scorer_max_tokens=16",
    "--second_round_max_tokens=8",
    "--optimizer_max_tokens=40",
    "--seed=0",
    "--n_threads=1",
    "--log_level=INFO",
]
HTTP = [
    "--scorer_llm_name=smollm2-http",
    "--scorer_backend=openai",
    "--optimizer_llm_name=smollm2-http",
    "--optimizer_backend=openai",
    "--max_retries=2",
]
TIMEOUT = 400.0  # seconds per invocation
VOLATILE = ("usage", "seconds")

pytestmark = [pytest.mark.real, pytest.mark.timeout(1200)]


def _env(root: Path) -> dict[str, str]:
    home = root / "home"  # nothing may land in the real home directory
    home.mkdir(exist_ok=True)
    return script_env(HOME=str(home), RAY_USAGE_STATS_ENABLED="0")


def _command(data_dir: Path, root: Path, name: str, *flags: str) -> list[str]:
    return [
        *RUN,
        f"--data_dir={data_dir}",
        f"--output_dir={root / name / 'out'}",
        f"--cache_dir={root / name / 'cache'}",
        *flags,
    ]


def _folder(root: Path, name: str) -> Path:
    [folder] = [p for p in (root / name / "out").iterdir() if p.is_dir()]
    return folder


def _run(cmd: list[str], root: Path) -> subprocess.CompletedProcess:
    proc = run_script(cmd, root, env=_env(root), timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def _results(folder: Path) -> dict:
    """Best prompts and scores by task, and each task's step log without timing and usage."""
    best = {}
    for line in (folder / "best_prompts.jsonl").read_text().splitlines():
        record = json.loads(line)
        best[record["task"]] = record
    steps = {}
    for task in TASKS:
        path = folder / "result_by_instruction" / task / "steps.jsonl"
        steps[task] = [
            {k: v for k, v in json.loads(line).items() if k not in VOLATILE}
            for line in path.read_text().splitlines()
        ]
    return {"best": best, "steps": steps}


def _placements(folder: Path, task: str) -> list[dict]:
    path = folder / "result_by_instruction" / task / "placement.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("scale")


@pytest.fixture(scope="module")
def single(root: Path, data_dir: Path) -> dict:
    """The reference: the same run in one process (--workers=1, no Ray)."""
    _run(_command(data_dir, root, "single", *LOCAL_MODELS), root)
    return _results(_folder(root, "single"))


def forget_cached_ray_token() -> None:
    """Ray caches the auth token it first read in this process; make it read the current one."""
    with contextlib.suppress(ImportError, AttributeError):
        from ray._raylet import AuthenticationTokenLoader

        AuthenticationTokenLoader.instance().reset_cache()


@pytest.fixture(scope="module")
def cluster(root: Path) -> Iterator[str]:
    """A two-node Ray cluster on this machine (one CPU per node); yields its address."""
    from ray.cluster_utils import Cluster

    temp_dir = tempfile.mkdtemp(prefix="gpo-rt-", dir="/tmp")  # short: Ray's socket paths
    home = root / "home"
    home.mkdir(exist_ok=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        patch.setenv("RAY_USAGE_STATS_ENABLED", "0")
        patch.setenv("RAY_TMPDIR", temp_dir)  # Ray's address file too, not /tmp/ray
        os.makedirs(os.path.join(temp_dir, "ray"))
        # not in ~/.ray/auth_token; an earlier in-process Ray use (test_ray_runner) set and cached
        # one already, and the cluster must be started with the token this process presents
        token = os.environ.get("RAY_AUTH_TOKEN") or secrets.token_hex(16)
        patch.setenv("RAY_AUTH_TOKEN", token)
        forget_cached_ray_token()
        started = time.monotonic()
        c = Cluster(
            initialize_head=True,
            connect=False,
            head_node_args={"num_cpus": 1, "temp_dir": temp_dir, "include_dashboard": False},
        )
        try:
            c.add_node(num_cpus=1, temp_dir=temp_dir)
            c.wait_for_nodes(timeout=60)
            assert time.monotonic() - started < 120, "the Ray cluster took too long to start"
            yield c.address
        finally:
            c.shutdown()
            shutil.rmtree(temp_dir, ignore_errors=True)


def test_two_workers_on_two_nodes_give_the_single_process_results(
    root: Path, data_dir: Path, single: dict, cluster: str
) -> None:
    proc = _run(
        _command(data_dir, root, "ray", *LOCAL_MODELS, "--workers=2", f"--ray_address={cluster}"),
        root,
    )
    folder = _folder(root, "ray")
    assert _results(folder) == single
    nodes = {_placements(folder, t)[0]["node_id"] for t in TASKS}
    assert len(nodes) == 2  # the two tasks ran on different nodes
    assert json.loads((folder / "status.json").read_text())["state"] == "finished"
    assert "died during attempt" not in proc.stderr
    parts = root / "ray" / "cache" / "parts"
    assert not list(parts.glob("*.sqlite"))  # merged into the shared cache by the driver
    assert (root / "ray" / "cache" / "responses.sqlite").stat().st_size > 0
    home = root / "home"
    assert not (home / ".ray").exists()  # Ray's auth token stayed in memory
    # the only thing in HOME is matplotlib's font cache (every run writes its report's plots)
    kept = {p.relative_to(home).parts[:2] for p in home.rglob("*")}
    assert kept <= {(".cache",), (".config",), (".cache", "matplotlib"), (".config", "matplotlib")}


def _wait_for_a_task_in_progress(proc: subprocess.Popen, out: Path) -> tuple[Path, str]:
    """The run folder and a task whose initial checkpoint exists but whose step 0 is not done."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before a worker could be killed"
        for folder in out.glob("*/"):
            for task in TASKS:
                task_dir = folder / "result_by_instruction" / task
                with contextlib.suppress(OSError, ValueError, KeyError, IndexError):
                    state = json.loads((task_dir / "checkpoint.json").read_text())
                    if state["completed_steps"] == 0:
                        return folder, task
        time.sleep(0.05)
    pytest.fail("no task reached its first checkpoint in time")


def test_a_worker_killed_during_a_task_changes_nothing(
    root: Path, data_dir: Path, single: dict, cluster: str
) -> None:
    cmd = _command(
        data_dir, root, "killed", *LOCAL_MODELS, "--workers=2", f"--ray_address={cluster}"
    )
    with open(root / "killed.stderr", "w") as err:
        proc = subprocess.Popen(
            command(cmd), stdout=subprocess.DEVNULL, stderr=err, cwd=root, env=_env(root)
        )
    try:
        folder, task = _wait_for_a_task_in_progress(proc, root / "killed" / "out")
        pid = _placements(folder, task)[-1]["pid"]
        os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = (root / "killed.stderr").read_text()
    assert proc.returncode == 0, stderr[-4000:]
    folder = _folder(root, "killed")
    assert _results(folder) == single
    attempts = _placements(folder, task)
    assert [a["attempt"] for a in attempts] == [1, 2]  # retried once, on another worker
    assert attempts[1]["pid"] != pid
    assert "died during attempt 1" in stderr


def test_two_server_replicas_share_the_requests_and_survive_one_dying(
    root: Path, data_dir: Path
) -> None:
    from gpo.llm.smollm2 import smollm2_gguf_path

    gguf = smollm2_gguf_path()
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(start_llama_server(gguf, n_threads=1))
        second = stack.enter_context(start_llama_server(gguf, n_threads=1))
        proxies = [
            stack.enter_context(FaultProxy(s.base_url, lifetime=900)) for s in (first, second)
        ]
        urls = ",".join(p.base_url for p in proxies)
        cmd = _command(data_dir, root, "replicas", *HTTP, f"--openai_base_url={urls}")
        with open(root / "replicas.stderr", "w") as err:
            proc = subprocess.Popen(
                command(cmd), stdout=subprocess.DEVNULL, stderr=err, cwd=root, env=_env(root)
            )
        try:
            _wait_for_a_task_in_progress(proc, root / "replicas" / "out")
            before = [len(p.posts()) for p in proxies]
            os.kill(second.pid, signal.SIGKILL)  # one replica dies mid-run
            proc.wait(timeout=TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        stderr = (root / "replicas.stderr").read_text()
        assert proc.returncode == 0, stderr[-4000:]
        assert min(before) > 0, before  # both replicas served requests before the kill
        after = [len(p.posts()) for p in proxies]
        assert after[0] > before[0]  # the survivor took the rest
        assert "replica" in stderr and "failed" in stderr
        folder = _folder(root, "replicas")
        assert json.loads((folder / "status.json").read_text())["state"] == "finished"
        assert {json.loads(x)["task"] for x in (folder / "best_prompts.jsonl").open()} == set(TASKS)
