"""Users' own tasks (``--dataset=custom``): every metric, every validation error (in process and
as one-line CLI errors), a user Python metric, ``--init_task``, the scorer's second round, and an
optimization with every preset on the example task (deterministic fakes; the real-model runs are
in test_custom_task_real.py)."""

from __future__ import annotations

import dataclasses
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from gpo.config import ModelConfig, OptimizerConfig, RunConfig, ScoringConfig
from gpo.data.base import AnswerKind, Example, TaskSpec
from gpo.data.custom import CustomTasks, scoring_defaults
from gpo.data.registry import get_benchmark
from gpo.data.sampling import FormatSampler
from gpo.errors import ConfigError, DataError
from gpo.evaluation.metrics import BUILTIN, check_task_metric, grade_example, resolve_metric
from gpo.evaluation.scorer import Scorer, ScorerSettings
from gpo.llm.accounting import Ledger, wrap_llm
from gpo.llm.base import GenerationParams, Prompt
from gpo.llm.embedder import FakeEmbedder
from gpo.llm.fake import FakeLLM
from gpo.optimization.components import build_components
from gpo.presets import PRESETS, preset_values
from gpo.results.io import append_jsonl, read_json, read_jsonl
from gpo.results.run_folder import RunFolder
from gpo.runs.custom_task import check_custom_task, write_task_skeleton
from gpo.runs.optimize import best_record, run_task
from gpo.vocabulary import BUILTIN_METRICS
from helpers import EXAMPLES, REPO, SMOLLM2, assert_one_line_error

TASK = "review_sentiment"


def write_jsonl(path: Path, records: list) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def make_task(root: Path, name: str = "t", metric: str = "exact", n: int = 4, **task) -> Path:
    """A valid task folder with ``n`` records per required split."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "task.json").write_text(json.dumps({"metric": metric, **task}, indent=2))
    for split in ("train", "eval", "test"):
        write_jsonl(
            folder / f"{split}.jsonl",
            [{"input": f"{split} question {i}", "output": f"answer {i}"} for i in range(n)],
        )
    return folder


def ex(answer, record: dict | None = None) -> Example:
    return Example(0, "q", answer, record)


def spec(metric: str, folder: Path | None = None) -> TaskSpec:
    return TaskSpec("custom", "t", AnswerKind.EXACT, True, metric, str(folder) if folder else None)


# ---------------------------------------------------------------- metrics


def test_evaluation_implements_every_builtin_metric_name():
    # the names live in gpo.vocabulary (task.json is checked against them in gpo.data)
    assert tuple(BUILTIN) == BUILTIN_METRICS


@pytest.mark.parametrize(
    "reply,answer,score",
    [
        ("Positive", "positive", 1.0),
        ("  positive. ", "positive", 1.0),
        ("The answer is: Positive!", "positive", 1.0),
        ("New  York", "new york", 1.0),
        ("positive, I think", "positive", 0.0),
        ("negative", "positive", 0.0),
        ("Paris", ["paris", "paris, france"], 1.0),
        ("Paris France", ["paris", "paris, france"], 1.0),
    ],
)
def test_exact(reply, answer, score):
    assert grade_example(spec("exact"), reply, ex(answer)).accuracy == score


@pytest.mark.parametrize(
    "reply,answer,score",
    [
        ("I'd say it is clearly POSITIVE overall.", "positive", 1.0),
        ("I know the answer", "no", 0.0),  # whole words only: "know" does not contain "no"
        ("The capital is Paris.", ["Lyon", "Paris"], 1.0),
        ("Nothing matches", ["Lyon", "Paris"], 0.0),
    ],
)
def test_contains(reply, answer, score):
    assert grade_example(spec("contains"), reply, ex(answer)).accuracy == score


@pytest.mark.parametrize(
    "reply,answer,score",
    [
        ("(B)", "(B)", 1.0),
        ("The answer is (b) because", "B", 1.0),
        ("B", "(B)", 1.0),
        ("(C) maybe, or (B)", "(B)", 0.0),  # the first bracketed letter counts, as MMLU
        ("blue", "(B)", 0.0),
    ],
)
def test_choice(reply, answer, score):
    graded = grade_example(spec("choice"), reply, ex(answer))
    assert graded.accuracy == score


@pytest.mark.parametrize(
    "reply,answer,score",
    [
        ("So the total is 42 apples.", "42", 1.0),
        ("The answer is 1,250 dollars", "1250", 1.0),
        ("3 + 4 = 7", "7", 1.0),
        ("It is 3.50", "3.5", 1.0),
        ("It is 3.6", "3.5", 0.0),
        ("seven", "7", 1.0),
        ("no idea", "7", 0.0),
        ("about 12", ["12", "12.0"], 1.0),
    ],
)
def test_number(reply, answer, score):
    assert grade_example(spec("number"), reply, ex(answer)).accuracy == score


def test_rouge_l_takes_the_best_accepted_answer():
    s = spec("rouge_l")
    same = grade_example(s, "the cat sat on the mat", ex("the cat sat on the mat"))
    assert same.accuracy == pytest.approx(1.0)
    partial = grade_example(s, "the cat sat", ex("the cat sat on the mat")).accuracy
    assert 0.0 < partial < 1.0
    best = grade_example(s, "the cat sat", ex(["a dog ran", "the cat sat"])).accuracy
    assert best == pytest.approx(1.0)
    assert grade_example(s, "", ex("the cat")).accuracy == 0.0


def test_benchmarks_keep_their_grading():
    bbh = get_benchmark("bbh").spec("navigate")
    assert grade_example(bbh, "Yes.", ex("Yes")).accuracy == 1.0


def user_metric_folder(root: Path, body: str) -> Path:
    folder = make_task(root, metric="python:my_metric:score")
    (folder / "my_metric.py").write_text(body)
    return folder


LENGTH_METRIC = (
    "def score(answer, record):\n"
    "    # full marks for the expected word within the word limit of the record\n"
    "    words = answer.split()\n"
    "    ok = record['output'].split()[0] in answer and len(words) <= record['max_words']\n"
    "    return 1.0 if ok else 0.25\n"
)


def test_user_python_metric_gets_the_answer_and_the_whole_record(tmp_path):
    folder = user_metric_folder(tmp_path, LENGTH_METRIC)
    s = spec("python:my_metric:score", folder)
    record = {"input": "q", "output": "answer 1", "max_words": 3}
    assert grade_example(s, " answer here ", ex("answer 1", record)).accuracy == 1.0
    assert grade_example(s, "a long answer with words", ex("answer 1", record)).accuracy == 0.25


def test_user_metric_failing_on_a_later_record_scores_zero_and_warns(tmp_path, caplog):
    folder = user_metric_folder(tmp_path, "def score(answer, record):\n    return 1 / 0\n")
    s = spec("python:my_metric:score", folder)
    with caplog.at_level("WARNING"):
        assert grade_example(s, "x", ex("y", {"input": "q", "output": "y"})).accuracy == 0.0
    assert "ZeroDivisionError" in caplog.text


def test_user_metric_from_an_importable_module(tmp_path, monkeypatch):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "shared_metric_mod.py").write_text(
        "def strict(answer, record):\n    return answer == record['output']\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    metric = resolve_metric("python:shared_metric_mod:strict", None)
    assert metric.grade("yes", ex("yes", {"input": "q", "output": "yes"})).accuracy == 1.0
    assert metric.grade("no", ex("yes", {"input": "q", "output": "yes"})).accuracy == 0.0


# ---------------------------------------------------------------- loading


def test_load_reads_records_answers_and_optional_splits(tmp_path):
    folder = make_task(tmp_path, second_round_request="Just the answer, please.")
    write_jsonl(folder / "train.jsonl", [{"input": "a", "output": ["x", "y"], "extra": 1}])
    (folder / "eval.jsonl").write_text(
        '{"input": "b", "output": 7}\n\n{"input": "c", "output": "z"}'
    )
    data = CustomTasks(tmp_path).load("t", tmp_path)
    assert data.train[0].answer == ["x", "y"] and data.train[0].record["extra"] == 1
    assert [(e.index, e.answer) for e in data.eval] == [(0, "7"), (2, "z")]  # blank line skipped
    assert data.format is data.train and data.few_shot == ()  # format drawn from train
    assert data.spec.metric == "exact" and data.spec.second_round
    assert data.spec.setting_dict()["metric"] == "exact"
    assert (
        CustomTasks(tmp_path).second_round_request("t", "q", "Q_end") == "Just the answer, please."
    )


def test_example_task_is_valid_and_has_every_file():
    bench = get_benchmark("custom", EXAMPLES)
    assert TASK in bench.resolve_tasks(["all"])
    data = bench.load(TASK, EXAMPLES)
    sizes = [len(data.split(s)) for s in ("train", "eval", "test", "format", "few_shot")]
    assert sizes == [16, 8, 8, 4, 4]
    assert {e.answer for e in data.train} == {"positive", "negative"}
    check_task_metric(data)


def test_default_second_round_requests(tmp_path):
    make_task(tmp_path, "ch", metric="choice")
    make_task(tmp_path, "num", metric="number")
    make_task(tmp_path, "rl", metric="rouge_l")
    bench = CustomTasks(tmp_path)
    question = "Which?\n(A) one\n(B) two\n(C) three\nThink."
    assert bench.second_round_request("ch", question, "Q_end") == (
        "Therefore, state your final answer as one option between (A) and (C)."
    )
    assert "one number" in bench.second_round_request("num", "q", "Q_end")
    assert bench.spec("ch").answer_kind is AnswerKind.MULTIPLE_CHOICE
    assert not bench.spec("rl").second_round  # graded as it is, as WebNLG


def test_scoring_defaults_from_task_json(tmp_path):
    make_task(tmp_path, "a", instruction_pos="A_begin", include_qa=True)
    make_task(tmp_path, "b")
    assert scoring_defaults(tmp_path, ["a", "b"]) == {
        "instruction_pos": "A_begin",
        "include_qa": True,
    }
    make_task(tmp_path, "c", include_qa=False)
    with pytest.raises(ConfigError, match="different include_qa"):
        scoring_defaults(tmp_path, ["a", "c"])


def test_init_task_skeleton_loads(tmp_path):
    folder = write_task_skeleton(tmp_path, "mine")
    data = CustomTasks(tmp_path).load("mine", tmp_path)
    assert [len(data.split(s)) for s in ("train", "eval", "test", "format", "few_shot")] == [1] * 5
    check_task_metric(data)
    with pytest.raises(ConfigError, match="already exists"):
        write_task_skeleton(tmp_path, "mine")
    assert folder == tmp_path / "mine"


# ---------------------------------------------------------------- validation errors


def _load(root: Path, name: str = "t"):
    bench = CustomTasks(root)
    data = bench.load(name, root)
    config = RunConfig(
        "custom", (name,), "", ModelConfig("x"), ModelConfig("y"), data_dir=str(root)
    )
    check_custom_task(config, data)
    return data


def _edit(folder: Path, file: str, text: str) -> None:
    (folder / file).write_text(text, encoding="utf-8")


BAD_TASKS = [
    # (file, content, fragments of the one-line message)
    ("eval.jsonl", None, ["eval.jsonl: missing", "train.jsonl, eval.jsonl and test.jsonl"]),
    ("task.json", None, ["task.json: missing", "--init_task"]),
    (
        "train.jsonl",
        '{"input": "a", "output": "b"}\n{"input": "a", "output": }\n',
        ["train.jsonl:2:", "invalid JSON", "fix the syntax"],
    ),
    ("train.jsonl", '{"input": "a"}\n', ["train.jsonl:1:", 'missing field "output"']),
    ("test.jsonl", '{"output": "a"}\n', ["test.jsonl:1:", 'missing field "input"']),
    ("eval.jsonl", '{"input": 3, "output": "a"}\n', ["eval.jsonl:1:", '"input" must be a string']),
    (
        "eval.jsonl",
        '{"input": "q", "output": {"a": 1}}\n',
        ["eval.jsonl:1:", '"output" must be a string or a non-empty list of strings'],
    ),
    ("eval.jsonl", '{"input": "q", "output": []}\n', ["eval.jsonl:1:", "non-empty list"]),
    ("eval.jsonl", '["q", "a"]\n', ["eval.jsonl:1:", "expected a JSON object"]),
    ("test.jsonl", "\n\n", ["test.jsonl: no records", "add at least one"]),
    (
        "task.json",
        '{"metric": "exact",\n "metirc": 1}',
        ["task.json:2:", "unknown field 'metirc'", "did you mean 'metric'"],
    ),
    ("task.json", '{"description": "x"}', ["task.json:1:", 'missing field "metric"']),
    ("task.json", '{"metric": 5}', ["task.json:1:", "'metric' must be a string"]),
    (
        "task.json",
        '{\n"metric": "exact",\n"include_qa": "yes"}',
        ["task.json:3:", "'include_qa' must be true or false"],
    ),
    (
        "task.json",
        '{"metric": "exact", "instruction_pos": "Q_middle"}',
        ["task.json:1:", "instruction_pos 'Q_middle' is unknown", "Q_end"],
    ),
    ("task.json", '{"metric": "exact",', ["task.json:1:", "invalid JSON"]),
    (
        "task.json",
        '{\n  "metric": "exakt"\n}',
        [
            "task.json:2:",
            "unknown metric 'exakt'",
            "did you mean 'exact'",
            "python:module:function",
        ],
    ),
    ("task.json", '{"metric": "python:only_module"}', ["task.json:1:", "malformed"]),
    ("task.json", '{"metric": "choice"}', ["train.jsonl:1:", "not an option letter"]),
    ("task.json", '{"metric": "number"}', ["train.jsonl:1:", "not a number"]),
    (
        "task.json",
        '{"metric": "python:no_such_module_xyz:f"}',
        ["task.json:1:", "cannot be imported", "ModuleNotFoundError", "no_such_module_xyz.py"],
    ),
]


@pytest.mark.parametrize("file,content,fragments", BAD_TASKS, ids=range(len(BAD_TASKS)))
def test_validation_error(tmp_path, file, content, fragments):
    folder = make_task(tmp_path)
    if content is None:
        (folder / file).unlink()
    else:
        _edit(folder, file, content)
    with pytest.raises(DataError) as info:
        _load(tmp_path)
    message = str(info.value)
    assert "\n" not in message and str(folder) in message
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize(
    "body,fragments",
    [
        ("def other(a, r):\n    return 1\n", ["has no function score"]),
        ("import nonexistent_pkg_q\n", ["cannot be imported", "nonexistent_pkg_q"]),
        (
            "def score(answer, record):\n    return record['missing']\n",
            ["failed on the first record", "train.jsonl:1", "KeyError"],
        ),
        ("def score(answer, record):\n    return 3\n", ["failed on the first record", "[0, 1]"]),
        ("def score(answer, record):\n    return 'yes'\n", ["failed on the first record"]),
    ],
)
def test_python_metric_errors(tmp_path, body, fragments):
    user_metric_folder(tmp_path, body)
    with pytest.raises(DataError) as info:
        _load(tmp_path)
    message = str(info.value)
    assert message.startswith(str(tmp_path / "t" / "task.json")) and "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_few_shot_needs_its_file(tmp_path):
    make_task(tmp_path)
    data = CustomTasks(tmp_path).load("t", tmp_path)
    config = RunConfig(
        "custom",
        ("t",),
        "",
        ModelConfig("x"),
        ModelConfig("y"),
        scoring=ScoringConfig(few_shot=True),
    )
    with pytest.raises(DataError, match="few_shot_examples.jsonl: missing"):
        check_custom_task(config, data)


def test_unknown_task_names(tmp_path):
    make_task(tmp_path, "sentiment")
    bench = CustomTasks(tmp_path)
    with pytest.raises(ConfigError, match="did you mean 'sentiment'"):
        bench.resolve_tasks(["sentimen"])
    with pytest.raises(ConfigError, match="folder name directly under the data root"):
        bench.resolve_tasks(["../sentiment"])
    with pytest.raises(ConfigError, match="no custom task folders"):
        CustomTasks(tmp_path / "empty").resolve_tasks(["all"])


# ---------------------------------------------------------------- the CLI


COMMON = [
    "--dataset=custom",
    f"--scorer_llm_name={SMOLLM2}",
    f"--optimizer_llm_name={SMOLLM2}",
    "--preset=ape",
]


@pytest.mark.parametrize("only_evaluate", [False, True], ids=["optimize", "only_evaluate"])
def test_cli_errors_before_any_model_loads(tmp_path, only_evaluate, main_in_process):
    data = tmp_path / "data"
    make_task(data, metric="python:my_metric:score")
    (data / "t" / "my_metric.py").write_text(
        "def score(answer, record):\n    raise ValueError('bad')\n"
    )
    extra = ["--only_evaluate"] if only_evaluate else []
    proc, out = main_in_process([*COMMON, "--task_name=t", f"--data_dir={data}", *extra])
    assert_one_line_error(proc, out, "task.json:2:", "failed on the first record", "ValueError")


def test_cli_split_too_small_for_batch(tmp_path, main_in_process):
    data = tmp_path / "data"
    make_task(data, n=3)
    proc, out = main_in_process(
        [*COMMON, "--task_name=t", f"--data_dir={data}", "--opt_batch_size=8"]
    )
    assert_one_line_error(
        proc, out, str(data / "t" / "train.jsonl"), "--opt_batch_size=8", "add train records"
    )


def test_cli_missing_split_and_unknown_task(tmp_path, main_in_process):
    data = tmp_path / "data"
    make_task(data)
    (data / "t" / "test.jsonl").unlink()
    proc, out = main_in_process([*COMMON, "--task_name=t", f"--data_dir={data}", "--only_evaluate"])
    assert_one_line_error(proc, out, "test.jsonl: missing")
    proc, out = main_in_process([*COMMON, "--task_name=u", f"--data_dir={data}"])
    assert_one_line_error(proc, out, "no custom task 'u'", "--init_task")


def test_cli_init_task_then_dry_run(tmp_path, main_in_process):
    data = tmp_path / "data"
    proc, out = main_in_process(
        ["--dataset=custom", "--task_name=mine", f"--data_dir={data}", "--init_task"]
    )
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {data / 'mine'}" in proc.stdout
    assert sorted(p.name for p in (data / "mine").iterdir()) == [
        "eval.jsonl",
        "few_shot_examples.jsonl",
        "format.jsonl",
        "task.json",
        "test.jsonl",
        "train.jsonl",
    ]
    proc, out = main_in_process(
        ["--dataset=custom", "--task_name=mine", f"--data_dir={data}", "--init_task"]
    )
    assert_one_line_error(proc, out, "already exists")
    proc, out = main_in_process(
        [
            *COMMON,
            "--task_name=mine",
            f"--data_dir={data}",
            "--opt_batch_size=1",
            "--format_data_num=1",
            "--dry_run",
        ],
    )
    assert proc.returncode == 0, proc.stderr
    assert any(line.startswith("mine ") for line in proc.stdout.splitlines()), proc.stdout


def test_cli_task_json_layout_defaults_and_explicit_flag(tmp_path):
    data = tmp_path / "data"
    make_task(data, instruction_pos="A_begin", include_qa=True)
    from gpo.cli import flags as gpo_flags
    from gpo.runs.request import build_request

    argv = ["main", "--dataset=custom", "--task_name=t", f"--data_dir={data}", "--preset=ape"]
    gpo_flags.FLAGS.unparse_flags()
    gpo_flags.FLAGS(argv)
    try:
        scoring = build_request(gpo_flags.options_from_flags()).config.scoring
        assert (scoring.instruction_pos, scoring.include_qa) == ("A_begin", True)
        gpo_flags.FLAGS.unparse_flags()
        gpo_flags.FLAGS([*argv, "--instruction_pos=Q_begin"])
        scoring = build_request(gpo_flags.options_from_flags()).config.scoring
        assert (scoring.instruction_pos, scoring.include_qa) == ("Q_begin", True)
    finally:
        gpo_flags.FLAGS.unparse_flags()


# ---------------------------------------------------------------- scoring and optimization


def scorer_fake(answers: dict[str, str]) -> FakeLLM:
    """Right on every review when the prompt says BEST, on the first half with GOOD, else
    wrong; the second round repeats the first answer."""

    def respond(prompt: Prompt, params: GenerationParams, i: int) -> str:
        assert isinstance(prompt, tuple)
        if len(prompt) == 3:
            return prompt[1].content
        text = prompt[0].content
        question = next(q for q in answers if q in text)
        right = answers[question]
        wrong = "negative" if right == "positive" else "positive"
        good = "GOOD" in text and sorted(answers).index(question) % 2 == 0
        return f"The answer is {right if 'BEST' in text or good else wrong}."

    return FakeLLM(respond, name="fake-scorer")


def optimizer_fake() -> FakeLLM:
    proposals = ["Judge the review. BEST.", "Judge it. GOOD.", "Read it."]

    def respond(prompt: Prompt, params: GenerationParams, i: int) -> str:
        return f"New prompt: <START>{proposals[i % len(proposals)]}<END>"

    return FakeLLM(respond, name="fake-optimizer")


def test_scorer_sends_the_task_request_and_grades_with_the_metric():
    bench = get_benchmark("custom", EXAMPLES)
    data = bench.load(TASK, EXAMPLES)
    answers = {e.question: str(e.answer) for s in ("train", "eval", "test") for e in data.split(s)}
    llm = scorer_fake(answers)
    report = Scorer(llm, bench, ScorerSettings()).score("BEST", data, "test")
    assert report.score == 1.0 and len(report.rows) == 8
    second = [p for c in llm.calls for p in c.prompts if len(p) == 3]
    assert second and all(p[2].content.startswith("Now answer with one word") for p in second)
    assert Scorer(llm, bench, ScorerSettings()).score("plain", data, "test").score == 0.0


def optimizer_crashing_at(call: int) -> FakeLLM:
    inner, calls = optimizer_fake(), {"n": 0}

    def respond(prompt: Prompt, params: GenerationParams, i: int) -> str:
        calls["n"] += 1
        if calls["n"] == call:
            raise RuntimeError("simulated crash")
        return inner.respond(prompt, params, i)

    return FakeLLM(respond, name="fake-optimizer")


def preset_config(preset: str, tmp_path: Path, output: str = "out") -> RunConfig:
    values = preset_values(preset)
    fields = {f.name for f in dataclasses.fields(OptimizerConfig)}
    opt = dataclasses.replace(
        OptimizerConfig(**{k: v for k, v in values.items() if k in fields}),
        num_search_epochs=1,
        num_generated_instructions_in_each_step=2,
        opt_batch_size=8,
    )
    return RunConfig(
        dataset="custom",
        tasks=(TASK,),
        initial_instruction="Let's think step by step.",
        scorer=ModelConfig("fake-scorer"),
        optimizer=ModelConfig("fake-optimizer", "auto", 1.0, 512),
        opt=opt,
        data_dir=str(EXAMPLES),
        output_dir=str(tmp_path / output),
    )


def run_custom(config: RunConfig, folder: RunFolder, optimizer: FakeLLM):
    """One task of the example folder through run_task, as the optimize command runs it."""
    bench = get_benchmark("custom", config.data_dir)
    data = bench.load(TASK, Path(config.data_dir))
    answers = {e.question: str(e.answer) for s in ("train", "eval", "test") for e in data.split(s)}
    ledger = Ledger()
    scorer = Scorer(wrap_llm(scorer_fake(answers), "scorer", ledger, None), bench, ScorerSettings())
    formats = FormatSampler.seeded(0).sample([data], config.opt.format_data_num)[TASK]
    components = build_components(
        config.opt, config.scoring, tuple(data.format[i] for i in formats), FakeEmbedder()
    )
    wrapped = wrap_llm(optimizer, "optimizer", ledger, None)
    outcome = run_task(config, folder, TASK, data, scorer, wrapped, components, ledger)
    append_jsonl(folder.best_prompts_path, best_record(config, TASK, outcome))  # the driver's
    return outcome


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_optimizes_the_example_task(preset, tmp_path):
    config = preset_config(preset, tmp_path)
    folder = RunFolder.create(config)
    outcome = run_custom(config, folder, optimizer_fake())
    steps = read_jsonl(folder.steps_path(TASK))
    assert [s["global_step"] for s in steps][:3] == [-1, 0, 1]  # 16 train rows, batch 8: 2 steps
    assert outcome.state.initial_eval == 0.0
    assert outcome.best.prompt == "Judge the review. BEST." and outcome.best.score == 1.0
    results = read_json(folder.task_dir(TASK) / "results_dict.json")
    assert results["setting_dict"]["metric"] == "exact"
    meta = results["meta_prompts"][0][0]
    assert "Review: " in meta  # the format exemplars come from format.jsonl
    [best] = read_jsonl(folder.best_prompts_path)
    assert (best["dataset"], best["task"], best["test_score"]) == ("custom", TASK, 1.0)


def test_resume_on_a_custom_task_matches_an_uninterrupted_run(tmp_path):
    config = preset_config("ape", tmp_path, "a")
    clean = RunFolder.create(config)
    run_custom(config, clean, optimizer_fake())
    config_b = dataclasses.replace(config, output_dir=str(tmp_path / "b"))
    crashed = RunFolder.create(config_b)
    with pytest.raises(RuntimeError):
        run_custom(config_b, crashed, optimizer_crashing_at(3))  # dies in step 1
    assert read_json(crashed.checkpoint_path(TASK))["completed_steps"] == 1
    resumed = optimizer_fake()
    run_custom(config_b, crashed, resumed)
    assert len(resumed.calls) == 1  # only the unfinished step
    assert read_json(clean.task_dir(TASK) / "results_dict.json") == read_json(
        crashed.task_dir(TASK) / "results_dict.json"
    )
    assert read_jsonl(clean.best_prompts_path) == read_jsonl(crashed.best_prompts_path)


def readme_command() -> list[str]:
    """docs/tasks.md's one command that optimizes the example task (continuation lines joined)."""
    text = (REPO / "docs" / "tasks.md").read_text()
    start = text.index(
        "python src/optimization/main.py --dataset=custom --task_name=review_sentiment"
    )
    command = text[start : text.index("```", start)].replace("\\\n", " ")
    return shlex.split(command)


def test_readme_command_plans_a_run_from_the_repository_root(tmp_path):
    args = readme_command()
    assert args[:2] == ["python", "src/optimization/main.py"] and "--data_dir=examples" in args
    cmd = [sys.executable, *args[1:], "--dry_run", f"--output_dir={tmp_path / 'out'}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    [row] = [line.split() for line in proc.stdout.splitlines() if line.startswith(TASK)]
    assert row[1] == "2"  # 16 train records, batch 8: two steps


def test_readme_quick_start_plans_two_steps_on_date_iso(tmp_path):
    """The README's quick start (the Qwen models): valid flags, from the repository root, 2 steps
    of 4 candidates from a hand-written first prompt; a dry run loads no model."""
    text = (REPO / "README.md").read_text()
    start = text.index("python src/optimization/main.py --preset=gpo --dataset=custom")
    args = shlex.split(text[start : text.index("```", start)].replace("\\\n", " "))
    assert "--optimizer_llm_name=qwen2.5-coder-1.5b" in args and "--task_name=date_iso" in args
    assert "--initial_instruction=Find the date in the text." in args
    cmd = [sys.executable, *args[1:], "--dry_run", f"--output_dir={tmp_path / 'out'}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    [row] = [line.split() for line in proc.stdout.splitlines() if line.startswith("date_iso")]
    assert row[1] == "2"  # 8 train records, batch 4, one epoch: two steps
    assert row[5] == "24"  # 2 x 4 candidates, at 3x: guards resample up to 2 rounds


def test_few_shot_scoring_uses_the_task_demonstrations():
    bench = get_benchmark("custom", EXAMPLES)
    data = bench.load(TASK, EXAMPLES)
    answers = {
        e.question: str(e.answer)
        for s in ("train", "eval", "test", "few_shot")
        for e in data.split(s)
    }
    llm = scorer_fake(answers)
    settings = ScorerSettings(few_shot=True, few_shot_number=2)
    report = Scorer(llm, bench, settings).score("BEST", data, "test", indices=[0])
    [prompt] = llm.calls[0].prompts  # one round: no second round in few-shot mode
    demos = [m.content for m in prompt[:-1] if m.role == "assistant"]
    assert demos == [str(data.few_shot[0].answer), str(data.few_shot[1].answer)]
    assert prompt[0].content == f"{data.few_shot[0].question}\nBEST"
    assert prompt[-1].content == data.test[0].question
    assert len(llm.calls) == 1 and len(report.rows) == 1


def test_several_tasks_and_all(tmp_path):
    make_task(tmp_path, "b_task")
    make_task(tmp_path, "a_task", metric="contains")
    (tmp_path / "not_a_task").mkdir()  # no task.json: not listed
    bench = CustomTasks(tmp_path)
    assert bench.resolve_tasks(["all"]) == ["a_task", "b_task"]
    assert bench.resolve_tasks(["b_task", "a_task"]) == ["b_task", "a_task"]
    with pytest.raises(ConfigError, match="twice"):
        bench.resolve_tasks(["a_task", "a_task"])


def test_cli_prompts_file_with_custom_records(tmp_path, main_in_process):
    prompts = tmp_path / "prompts.jsonl"
    record = {"dataset": "custom", "task": TASK, "prompt": "Is the review positive or negative?"}
    prompts.write_text(json.dumps(record) + "\n")
    proc, out = main_in_process(
        [
            "--only_evaluate",
            f"--prompts_file={prompts}",
            f"--data_dir={EXAMPLES}",
            f"--scorer_llm_name={SMOLLM2}",
            "--dry_run",
        ],
    )
    assert proc.returncode == 0, proc.stderr
    # the prompt and the Empty and CoT baselines, each on the 8 test records
    assert "3 prompt(s) x test split = 24 scorer examples" in proc.stdout


FIXTURE = Path(__file__).parent / "fixtures" / "resume_pre_issue12"


def test_resume_from_a_checkpoint_written_before_the_recorder(tmp_path):
    # crashed/: the example task (real-time para momentum, exact racing: a partial eval score
    # and the eval_partial_log key) interrupted in step 1 by the code from before the step log
    # had one owner (issue 12); expected/: that code's own resume of it. Resumed now, the
    # results and the checkpoint are byte-identical and the step log equal but for its timing.
    config = preset_config("gpo", tmp_path, "runs")
    realtime = {"momentum_update_name": "real-time", "momentum_selection_name": "-"}
    opt = dataclasses.replace(config.opt, num_search_epochs=2, **realtime)
    config = dataclasses.replace(config, opt=opt, eval_racing="exact")
    folder = RunFolder.create(config, name="r")
    task_dir = folder.task_dir(TASK)
    task_dir.mkdir(parents=True)
    for f in (FIXTURE / "crashed").iterdir():
        (task_dir / f.name).write_bytes(f.read_bytes())
    assert "eval_partial_log" in read_json(task_dir / "checkpoint.json")["results"]
    optimizer = optimizer_fake()
    run_custom(config, folder, optimizer)
    assert len(optimizer.calls) == 3 * 2  # steps 1-3 only: the merge and the candidates
    for name in ("results_dict.json", "checkpoint.json"):
        assert (task_dir / name).read_bytes() == (FIXTURE / "expected" / name).read_bytes()

    def timeless(path: Path) -> list[dict]:
        return [
            {k: v for k, v in r.items() if k not in ("usage", "seconds")} for r in read_jsonl(path)
        ]

    assert timeless(task_dir / "steps.jsonl") == timeless(FIXTURE / "expected" / "steps.jsonl")
