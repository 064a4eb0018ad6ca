"""The library first: typed options owned by the library (``gpo.RunOptions``), the command line a
parser over them, calls that never touch absl or a process-wide lock (so they run side by side
in threads), and loaded models lent from one call to the next.

On fakes; two threads on the bundled model are in ``test_api_threads_real.py``.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

import gpo
from gpo.options import ExperimentOptions, RunOptions
from gpo.runs.build import ModelLender, SharedModelPool
from gpo.runs.request import build_request
from gpo.runs.runtime import Runtime
from helpers import SRC, script_env
from test_runtime import counting_runtime

FAKE = {"scorer_backend": "openai", "openai_api_key": "sk-test-unused", "no_cache": True}

# A user's script: a 4-record task, a callable scorer that always says "positive" and a callable
# optimizer; then the command line must not have been imported or parsed.
LIBRARY_ONLY = """
import sys
import gpo

LABELLED = [
    {"input": "I loved it.", "output": "positive"},
    {"input": "Great value.", "output": "positive"},
    {"input": "It broke at once.", "output": "negative"},
    {"input": "Never again.", "output": "negative"},
]
task = gpo.Task.from_records("sentiment", LABELLED, LABELLED, LABELLED, metric="exact")
out = sys.argv[1]
ev = gpo.evaluate("Label it.", task, scorer=lambda messages: "positive", output_dir=out,
                  no_cache=True)
assert ev.score == 0.5, ev.score
result = gpo.optimize(
    task,
    scorer=lambda messages: "positive",
    optimizer=lambda messages: "<START>Answer positive or negative.<END>",
    output_dir=out,
    num_search_epochs=1,
    num_generated_instructions_in_each_step=2,
    opt_batch_size=4,
    embedding_model="fake",
    no_cache=True,
)
assert result.state == "finished" and len(result.steps) == 1, result
cli = sorted(m for m in sys.modules if m == "gpo.cli" or m.startswith("gpo.cli."))
import absl.flags
print("cli modules:", cli, "parsed:", absl.flags.FLAGS.is_parsed())
"""


def test_the_library_path_never_touches_the_command_line(tmp_path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", LIBRARY_ONLY, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env=script_env(PYTHONPATH=str(SRC)),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "cli modules: [] parsed: False" in proc.stdout


def test_every_main_py_flag_is_an_option_with_the_same_default() -> None:
    from gpo.cli.experiment_app import define_flags, forget_flags
    from gpo.cli.flags import FLAGS
    from gpo.cli.usage import project_flags

    flags = project_flags(FLAGS)
    assert set(flags) == set(RunOptions.names())
    for name, flag in flags.items():
        default = flag.default
        expected = getattr(RunOptions(), name)
        assert (tuple(default) if isinstance(default, list) else default) == expected, name
    defined = "presets" in FLAGS
    define_flags()
    try:
        grid = {n for n in project_flags(FLAGS)} - set(RunOptions.names())
        assert grid == set(ExperimentOptions.names()) - set(RunOptions.names())
        assert FLAGS["seeds"].default == ["0"] and ExperimentOptions().seeds == (0,)
    finally:
        if not defined:
            forget_flags()


def test_an_option_you_set_beats_the_preset_decided_from_the_object(data_dir) -> None:
    base = {"dataset": "bbh", "task_name": "navigate", "data_dir": str(data_dir)}
    # ape switches the gradient off; the default "feedback" set on purpose wins
    assert build_request(RunOptions.of(**base, preset="ape")).config.opt.gradient_name == "-"
    chosen = RunOptions.of(**base, preset="ape", gradient_name="feedback")
    assert chosen.explicit >= {"gradient_name", "preset"}
    assert build_request(chosen).config.opt.gradient_name == "feedback"
    # built directly: a field that differs from its default counts as set
    direct = RunOptions(dataset="bbh", task_name=("navigate",), data_dir=str(data_dir))
    direct = build_request(
        RunOptions(**{**direct.__dict__, "preset": "gpo", "initial_step_size": 20})
    )
    assert direct.config.opt.initial_step_size == 20  # gpo's own is 50
    assert direct.config.opt.final_step_size == 10  # the preset's, not the default 0


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"num_search_epoch": 2}, "unknown option 'num_search_epoch' (did you mean"),
        ({"num_search_epochs": "x"}, "flag --num_search_epochs=x: invalid literal for int()"),
        ({"num_search_epochs": 1.5}, "flag --num_search_epochs=1.5: give a whole number"),
        ({"no_cache": "yes"}, "flag --no_cache=yes: give True or False"),
        ({"task_name": 3}, "flag --task_name=3: give a list or a comma-separated string"),
    ],
)
def test_options_take_values_as_the_command_line_does(values, message) -> None:
    with pytest.raises(gpo.ConfigError) as err:
        RunOptions.of(**values)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_options_convert_and_record_their_command_line() -> None:
    o = RunOptions.of(
        task_name="a,b", num_search_epochs="2", gpus=["0", "1"], openai_api_key="sk-9f3"
    )
    assert (o.task_name, o.num_search_epochs, o.gpus) == (("a", "b"), 2, ("0", "1"))
    assert o.command_line() == ["--gpus=0,1", "--task_name=a,b", "--num_search_epochs=2"]
    assert "sk-9f3" not in repr(o)  # a secret is neither shown nor recorded
    assert ExperimentOptions.of(seeds="0,1").seeds == (0, 1)
    with pytest.raises(gpo.ConfigError, match="give integers"):
        ExperimentOptions.of(seeds=["a"])


def test_the_calls_list_their_common_options_typed() -> None:
    optimize = inspect.signature(gpo.optimize).parameters
    for name in ("num_search_epochs", "opt_batch_size", "candidate_guards", "options"):
        assert optimize[name].kind is inspect.Parameter.KEYWORD_ONLY, name
    assert "int" in str(optimize["num_search_epochs"].annotation)
    assert "scorer_max_tokens" in inspect.signature(gpo.evaluate).parameters
    assert "workers" in inspect.signature(gpo.experiment).parameters


def test_options_object_and_keyword_arguments_together(tmp_path, data_dir) -> None:
    calls: Counter = Counter()
    rt = counting_runtime(calls, [])
    task = gpo.Task.benchmark("bbh", "navigate", data_dir=data_dir)
    base = RunOptions.of(max_examples=4, scorer_max_tokens=8)
    ev = gpo.evaluate("Answer.", task, scorer="fake-scorer", output_dir=tmp_path, runtime=rt,
                      options=base, seed=3, **FAKE)  # fmt: skip
    config = build_request(base).config
    saved = (ev.run_folder / "run_config.json").read_text()
    assert '"seed": 3' in saved and '"max_tokens": 8' in saved and config.seed == 0
    with pytest.raises(gpo.ConfigError, match="options=: give a gpo.RunOptions"):
        gpo.evaluate("A.", task, scorer="fake-scorer", options={"seed": 1}, runtime=rt, **FAKE)


class SlowScorer:
    """A client that takes 20 ms per prompt and answers the same for the same prompt."""

    backend, is_chat = "slow", True

    def __init__(self, name: str) -> None:
        self.name = name

    def generate(self, prompts, params, sample_indices=None):
        time.sleep(0.02 * len(prompts))
        return ["Yes" if "Yes" in str(p) else "No" for p in prompts]

    def close(self) -> None:
        pass


def _evaluate(task: gpo.Task, name: str, out, data_dir) -> float:
    return gpo.evaluate(
        "Answer Yes or No.",
        task,
        scorer=SlowScorer(name),
        output_dir=out,
        no_cache=True,
        max_examples=20,
    ).score


def test_two_threads_run_side_by_side_and_score_as_one_after_another(tmp_path, data_dir) -> None:
    tasks = {
        "navigate": gpo.Task.benchmark("bbh", "navigate", data_dir=data_dir),
        "web_of_lies": gpo.Task.benchmark("bbh", "web_of_lies", data_dir=data_dir),
    }
    started = time.monotonic()
    sequential = {n: _evaluate(t, n, tmp_path / "seq", data_dir) for n, t in tasks.items()}
    one_after_another = time.monotonic() - started
    together: dict[str, float] = {}
    threads = [
        threading.Thread(
            target=lambda n=n, t=t: together.update(
                {n: _evaluate(t, n, tmp_path / "par", data_dir)}
            )
        )
        for n, t in tasks.items()
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    side_by_side = time.monotonic() - started
    print(f"one after another {one_after_another:.2f} s, side by side {side_by_side:.2f} s")
    assert together == sequential
    assert side_by_side < 0.8 * one_after_another  # the sleeps overlap: no lock around a call


def test_a_loaded_model_is_lent_to_one_call_at_a_time_and_kept_for_the_next() -> None:
    made: Counter = Counter()

    def make(name: str):
        made[name] += 1
        return object()

    lender = ModelLender(max_idle=2)
    first = lender.borrow("a", lambda: make("a"))
    second = lender.borrow("a", lambda: make("a"))  # lent: a second call loads its own
    assert first is not second and made["a"] == 2
    lender.give_back("a", first)
    assert lender.borrow("a", lambda: make("a")) is first and made["a"] == 2  # reused
    lender.give_back("a", first)
    lender.give_back("a", second)
    lender.give_back("b", make("b"))  # a third idle object: the oldest is closed
    assert lender.release() == 2


def test_sequential_calls_share_one_loaded_engine(tmp_path, data_dir) -> None:
    calls: Counter = Counter()
    rt = counting_runtime(calls, [])
    task = gpo.Task.benchmark("bbh", "navigate", data_dir=data_dir)
    for run in ("a", "b"):
        gpo.evaluate("Answer.", task, scorer="fake-scorer", output_dir=tmp_path / run,
                     runtime=rt, max_examples=4, **FAKE)  # fmt: skip
    assert calls["load_llm"] == 1  # the second call borrowed the first call's engine
    assert gpo.release_models() == 1
    pool = SharedModelPool(Runtime())
    pool.close()  # nothing borrowed: nothing given back
    assert gpo.release_models() == 0
