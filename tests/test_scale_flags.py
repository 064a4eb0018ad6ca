"""Scale-out flags: bad values fail in one line before any model loads; credentials are
stripped from every replica URL saved in the run configuration; worker cache parts merge."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpo.llm.base import Completion
from gpo.llm.cache import ResponseCache, WorkerCache, merge_cache_parts
from gpo.runs.request import strip_credentials
from helpers import SMOLLM2, assert_one_line_error

BASE = ["--dataset=bbh", "--task_name=navigate", f"--scorer_llm_name={SMOLLM2}"]


@pytest.mark.parametrize(
    ("flags", "fragments"),
    [
        (["--workers=0"], ["--workers=0", ">= 1"]),
        (["--max_concurrency=0"], ["--max_concurrency", ">= 1"]),
        (["--ray_address=auto"], ["--ray_address", "--workers=2"]),
        (["--gpus_per_worker=1"], ["--gpus_per_worker", "--workers=2"]),
        (["--workers=2", "--gpus_per_worker=-1"], ["--gpus_per_worker", ">= 0"]),
        (["--workers=2", "--only_evaluate"], ["--workers", "--only_evaluate"]),
    ],
)
def test_bad_scale_out_flags_fail_in_one_line(flags, fragments, main_in_process) -> None:
    outcome, out = main_in_process([*BASE, *flags])
    assert_one_line_error(outcome, out, *fragments)


def test_every_replica_url_loses_its_credentials() -> None:
    urls = "http://u:secret@a:8000/v1?key=secret, http://b:8001/v1"
    assert strip_credentials(urls) == "http://a:8000/v1,http://b:8001/v1"


def _put(cache: ResponseCache | WorkerCache, key: str, text: str) -> None:
    cache.put_many([(key, Completion(text, 1, 1))])


def test_worker_parts_are_read_over_the_shared_cache_and_merged_by_the_driver(
    tmp_path: Path,
) -> None:
    shared_path, parts = tmp_path / "responses.sqlite", tmp_path / "parts"
    with ResponseCache(shared_path) as shared:
        _put(shared, "old", "from an earlier run")
    worker = WorkerCache(
        ResponseCache(parts / "w1.sqlite", journal_mode="DELETE"),
        ResponseCache(shared_path, read_only=True),
    )
    _put(worker, "new", "written by worker 1")
    found = worker.get_many(["old", "new", "missing"])
    assert {k: c.text for k, c in found.items()} == {
        "old": "from an earlier run",
        "new": "written by worker 1",
    }
    worker.close()
    assert merge_cache_parts(shared_path, parts) == 1
    assert not list(parts.glob("*"))  # merged parts are removed
    with ResponseCache(shared_path) as shared:
        assert len(shared) == 2 and shared.get("new").text == "written by worker 1"


_LIVE_WORKER = """
import sys, types
from gpo.llm.base import Completion
from gpo.runs.build import open_worker_cache
cache = open_worker_cache(types.SimpleNamespace(cache_dir=sys.argv[1]), "live")
cache.put_many([("live", Completion("written by a running worker", 1, 1))])
print("ready", flush=True)
sys.stdin.readline()
cache.put_many([("later", Completion("written after the other driver's merge", 1, 1))])
cache.close()
"""


def test_a_driver_leaves_the_parts_of_another_runs_live_workers_alone(tmp_path: Path) -> None:
    """Two runs sharing one cache folder: the second's start-up merge must not delete the
    first's live part (its worker's later writes failed with "no such table: responses")."""
    import subprocess
    import sys

    shared_path, parts = tmp_path / "responses.sqlite", tmp_path / "parts"
    worker = subprocess.Popen(
        [sys.executable, "-c", _LIVE_WORKER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        # a stale part of a worker that died (no lock held) is merged as before
        with ResponseCache(parts / "dead.sqlite", journal_mode="DELETE") as dead:
            _put(dead, "dead", "from a crashed worker")
        assert merge_cache_parts(shared_path, parts) == 1
        assert (parts / "live.sqlite").is_file() and not (parts / "dead.sqlite").exists()
        worker.communicate("go\n", timeout=60)
        assert worker.returncode == 0
    finally:
        worker.kill()
    assert merge_cache_parts(shared_path, parts) == 2  # both of the live worker's replies
    assert not list(parts.glob("*"))
    with ResponseCache(shared_path) as shared:
        assert shared.get("later").text == "written after the other driver's merge"
        assert len(shared) == 3
