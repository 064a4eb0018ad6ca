"""The Python API on the bundled model (SmolLM2-135M-Instruct, llama.cpp): ``gpo.optimize`` on a
``Task.from_records`` task with a Python-callable metric gives what main.py writes for the same
settings, ``gpo.evaluate`` what ``--only_evaluate`` writes, a bad option fails before any model
loads, and the README's example (examples/from_python.py) runs. Tiny sizes, one thread."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

import gpo
from api_metric import first_word
from gpo.results.io import read_jsonl
from gpo.runs.runtime import DEFAULT_RUNTIME
from helpers import EMBEDDER, EXAMPLES, REPO, SMOLLM2, SRC, run_script, script_env

pytestmark = pytest.mark.real

TESTS = Path(__file__).resolve().parent
SMALL = {
    "scorer_max_tokens": 16,
    "second_round_max_tokens": 6,
    "optimizer_max_tokens": 64,
    "optimizer_temperature": 0.0,  # greedy candidates: the two runs propose the same
    "n_threads": 1,
}
TINY_STEP = {
    "num_search_epochs": 1,
    "opt_batch_size": 4,
    "num_generated_instructions_in_each_step": 2,
}


def flags(options: dict) -> list[str]:
    return [
        (f"--{k}" if v else f"--no{k}") if isinstance(v, bool) else f"--{k}={v}"
        for k, v in options.items()
    ]


def example_records(split: str, n: int) -> list[dict]:
    lines = (EXAMPLES / "review_sentiment" / f"{split}.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()][:n]


def cached(tmp_path: Path) -> dict:
    """One response cache for the API's run and main.py's: the engine's batched decoding may
    differ in a last digit between two processes, so main.py reads the API run's replies; that
    every one of its requests is a cache hit shows it sent the very same prompts and settings."""
    return {"cache_dir": str(tmp_path / "cache")}


def assert_all_cached(folder: Path) -> None:
    total = json.loads((folder / "usage_summary.json").read_text())["total"]
    assert total["requests"] == 0 and total["cache_hits"] > 0, total


def check_tracked(uri: str, result) -> None:
    """The MLflow run of a real one-step run: finished, its params, one point per step."""
    mlflow = pytest.importorskip("mlflow")
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    client = mlflow.MlflowClient(uri)
    state = json.loads((result.run_folder / "mlflow.json").read_text())
    run = client.get_run(state["run_id"])
    assert run.info.status == "FINISHED" and run.data.params["scorer.name"] == SMOLLM2
    task_run = state["tasks"]["reviews"]["run_id"]
    chosen = client.get_metric_history(task_run, "chosen_eval")
    assert [(m.step, m.value) for m in chosen] == [(1, result.steps[0].chosen.eval_score)]
    assert client.get_run(task_run).data.metrics["best_test"] == result.best_test


def main_py(args: list[str], cwd: Path):
    env = script_env(PYTHONPATH=os.pathsep.join([str(SRC), str(TESTS)]))
    proc = run_script(args, cwd, env=env, timeout=1500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_optimize_records_with_a_python_metric_equals_main_py(tmp_path) -> None:
    task = gpo.Task.from_records(
        "reviews",
        train=example_records("train", 4),
        eval=example_records("eval", 2),
        test=example_records("test", 2),
        metric=first_word,
        second_round_request="Now answer with one word: positive or negative.",
    )
    options = {**SMALL, **TINY_STEP, **cached(tmp_path), "embedding_model": "all-minilm-l6-v2"}
    tracking = f"file:{tmp_path / 'mlruns'}"  # the real run also tracked in MLflow's file store
    result = gpo.optimize(
        task,
        scorer=SMOLLM2,
        preset="gpo",
        output_dir=tmp_path / "api",
        tracking_uri=tracking,
        **options,
    )
    assert result.state == "finished" and len(result.steps) == 1
    [data_dir] = list((tmp_path / "api" / "tasks").iterdir())
    spec = json.loads((data_dir / "reviews" / "task.json").read_text())
    assert spec["metric"] == "python:api_metric:first_word"
    args = ["--preset=gpo", "--dataset=custom", "--task_name=reviews", f"--data_dir={data_dir}"]
    args += [f"--scorer_llm_name={SMOLLM2}", f"--optimizer_llm_name={SMOLLM2}", EMBEDDER]
    main_py(
        [
            *args,
            *flags({k: v for k, v in options.items() if k != "embedding_model"}),
            f"--output_dir={tmp_path / 'cli'}",
        ],
        tmp_path,
    )
    [folder] = list((tmp_path / "cli").iterdir())
    [best] = read_jsonl(folder / "best_prompts.jsonl")
    assert_all_cached(folder)
    assert (result.best_prompt, result.best_eval, result.best_test) == (
        best["prompt"],
        best["eval_score"],
        best["test_score"],
    )
    assert result.initial_prompt == best["initial_prompt"]
    check_tracked(tracking, result)
    steps = [
        s
        for s in read_jsonl(folder / "result_by_instruction" / "reviews" / "steps.jsonl")
        if "chosen" in s
    ]
    assert [c.prompt for c in result.steps[0].candidates] == [
        c["prompt"] for c in steps[0]["candidates"]
    ]


def test_evaluate_equals_only_evaluate(tmp_path) -> None:
    task = gpo.Task.from_folder(EXAMPLES / "review_sentiment")
    prompt = "Answer positive or negative."
    options = {**SMALL, **cached(tmp_path), "max_examples": 3}
    ev = gpo.evaluate(prompt, task, scorer=SMOLLM2, output_dir=tmp_path / "api", **options)
    args = ["--only_evaluate", "--dataset=custom", "--task_name=review_sentiment"]
    args += [
        f"--data_dir={EXAMPLES}",
        f"--scorer_llm_name={SMOLLM2}",
        f"--initial_instruction={prompt}",
    ]
    main_py([*args, *flags(options), f"--output_dir={tmp_path / 'cli'}"], tmp_path)
    [folder] = list((tmp_path / "cli").iterdir())
    [score] = read_jsonl(folder / "scores.jsonl")
    assert_all_cached(folder)
    assert ev.score == score["test_score"] and len(ev.rows) == score["n_test"] == 3
    cli_rows = gpo.api.results.read_evaluation(folder).rows
    assert [r["raw_answer"] for r in ev.rows] == [r["raw_answer"] for r in cli_rows]


def test_a_bad_option_fails_before_any_model_loads(tmp_path) -> None:
    loads = []

    def load_llm(spec, options):
        loads.append(spec)
        return DEFAULT_RUNTIME.load_llm(spec, options)

    runtime = dataclasses.replace(DEFAULT_RUNTIME, load_llm=load_llm)
    task = gpo.Task.from_folder(EXAMPLES / "review_sentiment")
    small = {**SMALL, "no_cache": True}
    for bad in ({"eval_racing": "exactt"}, {"opt_batch_size": 100}, {"num_search_epoch": 1}):
        with pytest.raises(gpo.ConfigError):
            gpo.optimize(task, scorer=SMOLLM2, output_dir=tmp_path, runtime=runtime, **small, **bad)
    assert loads == [] and not tmp_path.joinpath("tasks").exists() and not list(tmp_path.iterdir())
    # the same runtime does load the model once the options are right
    ev = gpo.evaluate(
        "Answer.",
        task,
        scorer=SMOLLM2,
        output_dir=tmp_path,
        runtime=runtime,
        **small,
        max_examples=1,
    )
    assert len(loads) == 1 and len(ev.rows) == 1


def test_the_readme_example_runs(tmp_path) -> None:
    proc = run_script([], tmp_path, script=REPO / "examples" / "from_python.py", timeout=1500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "best prompt" in proc.stdout and "1 step(s)" in proc.stdout
