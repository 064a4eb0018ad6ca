"""Fault tolerance of the HTTP backend that serves GPO's scorer and optimizer (GPO_REFERENCE 6,
10.7): a real llama.cpp server (SmolLM2-135M) behind a fault-injecting proxy.

Decisions pinned here:
* 429 (Retry-After honoured), 5xx, dropped connections and reply bodies that are not the API's
  JSON (cut off, empty) are transport faults: retried with bounded backoff, then the run stops
  with exit status 2, one ``error:`` line naming the cause and the URL, status.json "failed" and
  every file intact.
* A well-formed reply whose *text* is empty or unusable is the model's answer: recorded in the
  CSV and scored 0, never retried and never a crash.
* A server that dies mid-optimization stops the run the same way; once it is back, ``--resume``
  completes the run from the last checkpoint.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fault_proxy import Fault, FaultProxy
from gpo.errors import BackendError
from gpo.llm.aliases import ModelSpec
from gpo.llm.openai_backend import OpenAIBackend
from gpo.llm.options import BackendOptions
from helpers import EMBEDDER, command, greedy, run_script, script_env
from servers import LlamaServer, start_llama_server

MODEL = "smollm2-http"  # any name: the server serves its one model
SPEC = ModelSpec(MODEL, "openai", MODEL, True, False)
GREEDY = greedy(max_tokens=8)
PROMPT = "Name a colour."
RETRIES = 2  # --max_retries in these tests: bounded and quick
HTTP = [
    f"--scorer_llm_name={MODEL}",
    "--scorer_backend=openai",
    f"--max_retries={RETRIES}",
    "--log_level=INFO",
]
EVALUATE = [
    "--only_evaluate",
    "--dataset=bbh",
    "--task_name=navigate",
    "--max_examples=1",  # one test example: exactly one scorer request
    "--scorer_max_tokens=24",
]

pytestmark = [pytest.mark.real, pytest.mark.timeout(900)]
log = logging.getLogger(__name__)


def _gguf() -> str:
    from gpo.llm.smollm2 import smollm2_gguf_path

    return str(smollm2_gguf_path())


@pytest.fixture(scope="module")
def server() -> Iterator[LlamaServer]:
    with start_llama_server(_gguf(), n_threads=1) as s:
        yield s


@pytest.fixture
def proxy(server) -> Iterator[FaultProxy]:
    with FaultProxy(server.base_url, lifetime=600) as p:
        yield p


def evaluate(proxy: FaultProxy, tmp_path: Path, data_dir: Path) -> subprocess.CompletedProcess:
    return run_script(
        [
            *EVALUATE,
            *HTTP,
            f"--openai_base_url={proxy.base_url}",
            f"--data_dir={data_dir}",
            f"--output_dir={tmp_path / 'out'}",
            f"--cache_dir={tmp_path / 'cache'}",
        ],
        tmp_path,
    )


def run_folder(tmp_path: Path) -> Path:
    [folder] = [p for p in (tmp_path / "out").iterdir() if p.is_dir()]
    return folder


def csv_rows(folder: Path) -> list[dict[str, str]]:
    [path] = list(folder.rglob("*.csv"))
    return list(csv.DictReader(io.StringIO(path.read_text())))


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def assert_files_intact(folder: Path) -> None:
    """Every JSON file parses and every JSONL line is a JSON object."""
    for path in folder.rglob("*.json"):
        json.loads(path.read_text())
    for path in folder.rglob("*.jsonl"):
        for line in path.read_text().splitlines():
            assert isinstance(json.loads(line), dict), path


def kinds(proxy: FaultProxy) -> list[str]:
    return [e.kind if e.kind != "status" else str(e.status) for e in proxy.posts()]


@pytest.fixture(scope="module")
def reference(server, tmp_path_factory, data_dir) -> list[dict[str, str]]:
    """The CSV rows of a fault-free evaluation through the proxy."""
    tmp = tmp_path_factory.mktemp("reference")
    with FaultProxy(server.base_url, lifetime=600) as p:
        proc = evaluate(p, tmp, data_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return csv_rows(run_folder(tmp))


# ---- backend level ----


def backend(url: str, max_retries: int = RETRIES) -> OpenAIBackend:
    return OpenAIBackend(
        SPEC, BackendOptions(n_threads=1, openai_base_url=url, max_retries=max_retries)
    )


def test_backend_honours_retry_after(proxy):
    expected = backend(proxy.base_url).generate([PROMPT], GREEDY)[0].text
    proxy.clear_events()
    proxy.program([Fault.status(429, retry_after=2)])
    started = time.monotonic()
    [reply] = backend(proxy.base_url).generate([PROMPT], GREEDY)
    elapsed = time.monotonic() - started
    assert reply.text == expected and reply.completion_tokens > 0
    limited, retried = proxy.posts()
    assert (limited.status, retried.status) == (429, 200)
    waited = retried.time - limited.time
    assert 2.0 <= waited < 4.0, waited  # the server's 2 s, not the 0.25-0.75 s backoff
    log.info("Retry-After 2 s: retried after %.2f s", waited)
    assert elapsed < 120


def test_backend_persistent_malformed_reply_is_bounded(proxy):
    proxy.program([], then=Fault.malformed())
    with pytest.raises(BackendError, match=r"malformed reply at .* after 2 attempts"):
        backend(proxy.base_url, max_retries=1).generate([PROMPT], GREEDY)
    assert kinds(proxy) == ["malformed", "malformed"]


# ---- whole runs (only_evaluate) ----

TRANSIENT = {
    "429-retry-after": [Fault.status(429, retry_after=1)],
    "500-twice": [Fault.status(500), Fault.status(500)],
    "malformed-then-empty-body": [Fault.malformed(), Fault.empty_body()],
    "dropped-connection": [Fault.drop()],
}


@pytest.mark.parametrize("name", list(TRANSIENT))
def test_transient_faults_are_retried_and_the_run_succeeds(
    name, proxy, reference, tmp_path, data_dir
):
    faults = TRANSIENT[name]
    proxy.program([Fault.passthrough(), *faults])  # the start-up check passes, then faults
    proc = evaluate(proxy, tmp_path, data_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    folder = run_folder(tmp_path)
    assert json.loads((folder / "status.json").read_text())["state"] == "finished"
    expected = ["pass", *(str(f.code) if f.kind == "status" else f.kind for f in faults), "pass"]
    assert kinds(proxy) == expected
    assert proc.stderr.count("; retry ") == len(faults)  # each retry is logged
    assert csv_rows(folder) == reference  # retried to the same greedy answer
    if name == "429-retry-after":
        posts = proxy.posts()
        assert posts[2].time - posts[1].time >= 1.0


def test_persistent_server_error_stops_cleanly(proxy, tmp_path, data_dir):
    proxy.program([Fault.passthrough()], then=Fault.status(500))
    started = time.monotonic()
    proc = evaluate(proxy, tmp_path, data_dir)
    assert proc.returncode == 2
    assert time.monotonic() - started < 120
    assert "Traceback" not in proc.stderr and "HTTP Request" not in proc.stderr
    [line] = error_lines(proc.stderr)
    assert "server error (500)" in line and proxy.base_url in line
    assert f"after {RETRIES + 1} attempts" in line
    assert kinds(proxy) == ["pass"] + ["500"] * (RETRIES + 1)  # bounded
    folder = run_folder(tmp_path)
    status = json.loads((folder / "status.json").read_text())
    assert status["state"] == "failed" and "server error (500)" in status["message"]
    assert_files_intact(folder)


def test_empty_reply_text_is_scored_as_data(proxy, tmp_path, data_dir):
    proxy.program([Fault.passthrough(), Fault.empty_content()])
    proc = evaluate(proxy, tmp_path, data_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "; retry " not in proc.stderr  # an empty answer is not a transport fault
    assert kinds(proxy) == ["pass", "empty_content"]
    folder = run_folder(tmp_path)
    assert json.loads((folder / "status.json").read_text())["state"] == "finished"
    [row] = csv_rows(folder)
    assert row["raw_answer"] == "" and float(row["accuracy"]) == 0.0


# ---- a server that dies in the middle of an optimization ----

OPTIMIZE = [
    "--preset=gpo",
    "--dataset=bbh",
    "--task_name=navigate",
    f"--optimizer_llm_name={MODEL}",
    "--optimizer_backend=openai",
    EMBEDDER,
    "--max_examples=4",
    "--num_generated_instructions_in_each_step=2",
    "--num_search_epochs=2",
    "--opt_batch_size=4",
    "--scorer_max_tokens=24",
    "--optimizer_max_tokens=48",
]


def wait_for_step_0(proc: subprocess.Popen, out: Path, timeout: float = 600) -> Path:
    """The run folder once step 0 is committed (step log and checkpoint)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before step 0 was committed"
        for folder in out.glob("*/"):
            task_dir = folder / "result_by_instruction" / "navigate"
            with contextlib.suppress(OSError, ValueError):
                done = json.loads((task_dir / "checkpoint.json").read_text())["completed_steps"]
                if done == 1:
                    return folder
        time.sleep(0.1)
    pytest.fail("step 0 was not committed in time")


def test_killed_server_stops_the_run_and_resume_completes(tmp_path, data_dir):
    common = [*HTTP, f"--data_dir={data_dir}", f"--cache_dir={tmp_path / 'cache'}"]
    out = tmp_path / "out"
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(start_llama_server(_gguf(), n_threads=1))
        proxy = stack.enter_context(FaultProxy(first.base_url, lifetime=800))
        url = f"--openai_base_url={proxy.base_url}"
        with open(tmp_path / "first.stderr", "w") as err:
            proc = subprocess.Popen(
                command([*OPTIMIZE, *common, url, f"--output_dir={out}"]),
                stdout=subprocess.DEVNULL,
                stderr=err,
                cwd=tmp_path,
                env=script_env(),
            )
        try:
            folder = wait_for_step_0(proc, out)
            os.kill(first.pid, signal.SIGKILL)  # the server dies during step 1
            killed = time.monotonic()
            proc.wait(timeout=300)
            log.info("server killed: the run stopped %.1f s later", time.monotonic() - killed)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        stderr = (tmp_path / "first.stderr").read_text()
        assert proc.returncode == 2, stderr[-3000:]
        assert "Traceback" not in stderr
        [line] = error_lines(stderr)
        assert f"cannot reach {proxy.base_url}: is the server running?" in line
        status = json.loads((folder / "status.json").read_text())
        assert status["state"] == "failed" and "cannot reach" in status["message"]
        assert_files_intact(folder)
        task_dir = folder / "result_by_instruction" / "navigate"
        assert json.loads((task_dir / "checkpoint.json").read_text())["completed_steps"] == 1
        assert not (folder / "best_prompts.jsonl").exists()

        second = stack.enter_context(start_llama_server(_gguf(), n_threads=1))
        proxy.set_upstream(second.base_url)
        resumed = run_script(
            [
                f"--resume={folder}",
                f"--max_retries={RETRIES}",
                url,
                f"--data_dir={data_dir}",
                f"--cache_dir={tmp_path / 'cache'}",
            ],
            tmp_path,
        )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "navigate: resumed after step 1" in resumed.stderr
    assert json.loads((folder / "status.json").read_text())["state"] == "finished"
    steps = [json.loads(x) for x in (task_dir / "steps.jsonl").read_text().splitlines()]
    assert [s["global_step"] for s in steps] == [-1, 0, 1, 2]  # initial, 2 steps, final
    [best] = [json.loads(x) for x in (folder / "best_prompts.jsonl").read_text().splitlines()]
    assert best["task"] == "navigate" and best["prompt"]
    assert_files_intact(folder)
