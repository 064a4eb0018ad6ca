"""The Python API (``gpo.Task``, ``gpo.evaluate``, ``gpo.optimize``, ``gpo.experiment``) on fake
backends: it runs the command line's one path, so its folders, scores and errors are main.py's.

The same checks on the bundled model are in ``test_api_real.py``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import gpo
from gpo.cli import app
from gpo.cli import flags as gpo_flags
from gpo.results.io import read_json, read_jsonl
from gpo.runs.runtime import Runtime
from helpers import EXAMPLES, SRC
from test_runtime import counting_runtime

FAKE = {
    "scorer_backend": "openai",
    "optimizer_backend": "openai",
    "openai_api_key": "sk-test-unused",
    "embedding_model": "fake",
    "no_cache": True,
}
TINY = {"num_search_epochs": 1, "num_generated_instructions_in_each_step": 2, "opt_batch_size": 4}


def records(n: int, start: int = 0) -> list[dict]:
    """Yes/No records: the fake scorer answers Yes to prompts with BEST, else No."""
    return [
        {"input": f"Question {i}?", "output": "Yes" if i % 2 else "No"}
        for i in range(start, start + n)
    ]


def yes_metric(answer: str, record: dict) -> float:
    """An importable Python metric (the CLI names it python:test_api:yes_metric)."""
    return float(answer.strip().lower().startswith(record["output"].lower()))


@pytest.fixture
def runtime() -> tuple[Runtime, Counter]:
    calls: Counter = Counter()
    return counting_runtime(calls, []), calls


@pytest.fixture
def cli(tmp_path):
    """main.py in this process; its flags and log handlers restored after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level

    def run(args: list[str], runtime: Runtime) -> Path:
        gpo_flags.FLAGS.unparse_flags()
        app.run(["main.py", *args], runtime)
        gpo_flags.FLAGS.unparse_flags()
        [folder] = [p for p in (tmp_path / "cli").iterdir() if p.name != "tasks"]
        return folder

    yield run
    gpo_flags.FLAGS.unparse_flags()
    root.handlers[:] = handlers
    root.setLevel(level)


def flags_of(options: dict) -> list[str]:
    out = []
    for k, v in options.items():
        out.append((f"--{k}" if v else f"--no{k}") if isinstance(v, bool) else f"--{k}={v}")
    return out


def test_import_gpo_is_light() -> None:
    code = "import sys, gpo; gpo.ConfigError; assert 'absl' not in sys.modules, 'absl'; print('ok')"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": str(SRC)}
    )
    assert proc.stdout.strip() == "ok", proc.stderr
    for name in ("Task", "evaluate", "optimize", "experiment", "Result", "Evaluation"):
        assert getattr(gpo, name).__doc__, name


def test_optimize_equals_main_py(tmp_path, data_dir, runtime, cli) -> None:
    rt, calls = runtime
    task = gpo.Task.benchmark("bbh", "navigate", data_dir=data_dir)
    options = {**FAKE, **TINY, "max_examples": 4}
    result = gpo.optimize(
        task,
        scorer="fake-scorer",
        optimizer="fake-optimizer",
        output_dir=tmp_path / "api",
        runtime=rt,
        **options,
    )
    args = ["--preset=gpo", "--dataset=bbh", "--task_name=navigate", f"--data_dir={data_dir}"]
    args += ["--scorer_llm_name=fake-scorer", "--optimizer_llm_name=fake-optimizer"]
    folder = cli([*args, *flags_of(options), f"--output_dir={tmp_path / 'cli'}"], rt)
    [best] = read_jsonl(folder / "best_prompts.jsonl")
    assert result.state == "finished" and calls["load_llm"] == 4
    assert (result.best_prompt, result.best_eval, result.best_test) == (
        best["prompt"],
        best["eval_score"],
        best["test_score"],
    )
    assert result.initial_prompt == best["initial_prompt"] == "Let's think step by step."
    steps = read_jsonl(folder / "result_by_instruction" / "navigate" / "steps.jsonl")
    cli_steps = [s for s in steps if s.get("kind") not in ("initial", "final")]
    assert [(s.chosen.prompt, s.chosen.eval_score) for s in result.steps] == [
        (s["chosen"]["prompt"], s["chosen"]["eval_score"]) for s in cli_steps
    ]
    own = read_jsonl(result.run_folder / "result_by_instruction" / "navigate" / "steps.jsonl")
    assert [s.to_dict() for s in result.steps] == [s for s in own if "chosen" in s]  # typed
    api_files = sorted(
        p.relative_to(result.run_folder).as_posix() for p in result.run_folder.rglob("*")
    )
    cli_files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))
    assert api_files == cli_files


def test_records_task_with_a_callable_metric_is_a_custom_folder(tmp_path, runtime) -> None:
    rt, calls = runtime
    seen = []

    def metric(answer: str, record: dict) -> float:
        seen.append(record["output"])
        return 1.0 if answer.strip() == record["output"] else 0.0

    task = gpo.Task.from_records(
        "yesno",
        train=records(4),
        eval=records(4, 10),
        test=records(6, 20),
        metric=metric,
        description="Yes or no?",
        second_round=False,
    )
    result = gpo.optimize(
        task,
        scorer="fake-scorer",
        optimizer="fake-optimizer",
        output_dir=tmp_path,
        runtime=rt,
        **FAKE,
        **TINY,
    )
    assert seen and result.state == "finished"
    # the fake scorer answers No unless the prompt says BEST: half the eval records are No
    assert result.tasks["yesno"].initial_eval == 0.5
    config = read_json(result.run_folder / "run_config.json")
    [folder] = list((tmp_path / "tasks").iterdir())
    assert config["data_dir"] == str(folder) and config["dataset"] == "custom"
    spec = json.loads((folder / "yesno" / "task.json").read_text())
    assert spec["metric"].startswith("in-memory:metric_")  # held by the call, never imported
    assert len(result.steps) == 1 and result.steps[0].chosen.prompt


def test_records_metric_may_be_a_builtin_name(tmp_path, runtime) -> None:
    rt, _ = runtime
    task = gpo.Task.from_records(
        "yn", train=records(4), eval=records(4), test=records(4), metric="exact"
    )
    ev = gpo.evaluate(
        "Answer.", task, scorer="fake-scorer", output_dir=tmp_path, runtime=rt, **FAKE
    )
    assert ev.score == 0.5 and len(ev.rows) == 4
    with pytest.raises(gpo.ConfigError, match="metric='exakt'"):
        gpo.Task.from_records(
            "yn", train=records(1), eval=records(1), test=records(1), metric="exakt"
        )


def test_evaluate_equals_only_evaluate(tmp_path, runtime, cli) -> None:
    rt, _ = runtime
    task = gpo.Task.from_folder(EXAMPLES / "review_sentiment")
    ev = gpo.evaluate(
        "Be BEST.", task, scorer="fake-scorer", output_dir=tmp_path / "api", runtime=rt, **FAKE
    )
    args = ["--only_evaluate", "--dataset=custom", "--task_name=review_sentiment"]
    args += [
        f"--data_dir={EXAMPLES}",
        "--scorer_llm_name=fake-scorer",
        "--initial_instruction=Be BEST.",
    ]
    folder = cli([*args, *flags_of(FAKE), f"--output_dir={tmp_path / 'cli'}"], rt)
    [score] = read_jsonl(folder / "scores.jsonl")
    assert ev.score == ev.scores["review_sentiment"] == score["test_score"]
    assert len(ev.rows) == score["n_test"] and {r["task"] for r in ev.rows} == {"review_sentiment"}
    assert (ev.run_folder / "scores.jsonl").is_file()
    on_eval = gpo.evaluate(
        "Be BEST.",
        task,
        scorer="fake-scorer",
        split="eval",
        output_dir=tmp_path / "e",
        runtime=rt,
        **FAKE,
    )
    eval_rows = len((EXAMPLES / "review_sentiment" / "eval.jsonl").read_text().split("\n")) - 1
    assert len(on_eval.rows) == eval_rows


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"num_search_epoch": 2},
            "unknown option 'num_search_epoch' (did you mean 'num_search_epochs'?)",
        ),
        ({"eval_racing": "exactt"}, "--eval_racing='exactt' is not valid (did you mean 'exact'?)"),
        ({"num_search_epochs": "x"}, "flag --num_search_epochs=x: invalid literal for int()"),
        ({"num_search_epochs": 0}, "--num_search_epochs=0 must be >= 1"),
        ({"opt_batch_size": 50}, "train rows make no step with --opt_batch_size=50"),
        ({"flagfile": "x"}, "unknown option 'flagfile'"),
        ({"dataset": "bbh"}, "option 'dataset' is set by the call's own argument"),
    ],
)
def test_bad_options_raise_config_error_before_any_model(
    tmp_path, data_dir, runtime, main_in_process, options, message
) -> None:
    rt, calls = runtime
    task = gpo.Task.benchmark("bbh", "navigate", data_dir=data_dir)
    with pytest.raises(gpo.ConfigError) as err:
        gpo.optimize(
            task, output_dir=tmp_path / "api", runtime=rt, **{**FAKE, "max_examples": 4, **options}
        )
    assert message in str(err.value) and "\n" not in str(err.value)
    assert calls["load_llm"] == 0 and not (tmp_path / "api").exists()
    # the CLI's line is the same (absl words an unknown flag its own way)
    if not {"dataset", "flagfile", "num_search_epoch"} & set(options):
        args = [
            "--preset=gpo",
            "--dataset=bbh",
            "--task_name=navigate",
            "--max_examples=4",
            *flags_of(options),
        ]
        outcome, _ = main_in_process(args, data_dir=data_dir)
        assert outcome.returncode == 2 and f"error: {err.value}" in outcome.stderr


def test_resume_continues_a_stopped_run(tmp_path, data_dir, runtime) -> None:
    rt, _ = runtime
    task = gpo.Task.benchmark("bbh", "navigate", data_dir=data_dir)
    options = {**FAKE, **TINY, "max_examples": 8, "num_search_epochs": 2}
    with pytest.raises(gpo.GPOError, match="budget"):
        gpo.optimize(
            task,
            scorer="fake-scorer",
            optimizer="fake-optimizer",
            output_dir=tmp_path,
            runtime=rt,
            max_tokens_budget=1,
            **options,
        )
    [folder] = list(tmp_path.iterdir())
    assert read_json(folder / "status.json")["state"] == "stopped"
    result = gpo.optimize(None, resume=folder, runtime=rt, max_tokens_budget=10**9)
    assert result.state == "finished" and result.run_folder == folder
    assert len(result.steps) == 4


def test_experiment_grid(tmp_path, data_dir, runtime) -> None:
    rt, _ = runtime
    task = gpo.Task.benchmark("bbh", "navigate", data_dir=data_dir)
    out = gpo.experiment(
        presets=["gpo"],
        tasks=[task],
        seeds=[0],
        scorer="fake-scorer",
        optimizer="fake-optimizer",
        output_dir=tmp_path,
        runtime=rt,
        max_examples=4,
        **FAKE,
        **TINY,
    )
    assert (out.folder / "table.md").is_file() and (out.folder / "report.md").is_file()
    assert {r["method"] for r in out.rows} >= {"GPO"} and len(out.cells) == 3
    assert all(c["state"] == "finished" for c in out.cells)
    assert "presets" not in gpo_flags.FLAGS  # main.py's flag set is unchanged after the call
    assert not gpo_flags.FLAGS.is_parsed()
    assert dataclasses.is_dataclass(out)


def test_readme_shows_the_runnable_example(repo_root) -> None:
    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    code = (EXAMPLES / "from_python.py").read_text(encoding="utf-8")
    assert "## From Python" in readme and f"```python\n{code}```" in readme


def test_tracking_without_mlflow_installed_is_a_config_error(monkeypatch) -> None:
    import importlib.util

    from gpo.tracking import settings

    real = importlib.util.find_spec
    monkeypatch.setattr(
        settings.importlib.util, "find_spec", lambda n: None if n == "mlflow" else real(n)
    )
    with pytest.raises(gpo.ConfigError, match=r"pip install -e '\.\[mlflow\]'"):
        settings.mlflow_settings("http://127.0.0.1:5000", False, "gpo")
    assert settings.mlflow_settings(None, False, "gpo") is None  # not tracked: no check
