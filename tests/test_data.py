"""Benchmark loading, task resolution, scoring settings, second-round requests, format sampling."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gpo.data import bbh, mmlu
from gpo.data.base import AnswerKind
from gpo.data.gsm8k import GSM8K
from gpo.data.registry import DATASETS, get_benchmark
from gpo.data.sampling import FormatSampler, SplitSizes, sample_format_indices
from gpo.data.webnlg import WebNLG
from gpo.data.wsc import WSC
from gpo.errors import ConfigError, DataError

SPLIT_NAMES = ("train", "eval", "test", "few_shot", "format")
BBH_COUNT_EXCEPTIONS = {
    "causal_judgement": (35, 35, 107, 5, 5),
    "penguins_in_a_table": (27, 27, 82, 5, 5),
    "snarks": (33, 33, 102, 5, 5),
}
MMLU_TEST_59 = {
    "abstract_algebra",
    "business_ethics",
    "college_chemistry",
    "college_computer_science",
    "college_mathematics",
    "computer_security",
    "global_facts",
    "high_school_computer_science",
    "medical_genetics",
    "us_foreign_policy",
}
SINGLE_COUNTS = {
    "gsm8k": (100, 100, 300, 5, 5),
    "webnlg": (100, 100, 300, 5, 5),
    "wsc": (50, 50, 150, 10, 10),
}


def expected_counts(dataset: str, task: str) -> tuple[int, ...]:
    if dataset == "bbh":
        return BBH_COUNT_EXCEPTIONS.get(task, (48, 48, 144, 5, 5))
    if dataset == "mmlu":
        return (20, 20, 59 if task in MMLU_TEST_59 else 60, 4, 5)
    return SINGLE_COUNTS[dataset]


def counts(data) -> tuple[int, ...]:
    return tuple(len(data.split(name)) for name in SPLIT_NAMES)


ALL_TASKS = [(d, t) for d in DATASETS for t in get_benchmark(d).task_names()]


# ---- registry and task lists


def test_each_dataset_has_its_folder_of_the_original_layout():
    folders = {d: get_benchmark(d).folder for d in DATASETS}
    assert folders == {
        "bbh": "BIG-Bench-Hard",
        "mmlu": "MMLU",
        "gsm8k": "reasoning/GSM8K",
        "webnlg": "common-nlp/WebNLG",
        "wsc": "common-nlp/WSC",
    }
    assert get_benchmark(" BBH ").name == "bbh"


def test_unknown_dataset_suggests_and_lists_choices():
    with pytest.raises(ConfigError) as err:
        get_benchmark("mmlx")
    message = str(err.value)
    assert "did you mean 'mmlu'" in message
    assert "bbh, mmlu, gsm8k, webnlg, wsc" in message
    assert "\n" not in message


def test_task_lists_are_in_processing_order(data_dir):
    bbh_tasks = get_benchmark("bbh").task_names()
    mmlu_tasks = get_benchmark("mmlu").task_names()
    assert len(bbh_tasks) == 27 and list(bbh_tasks) == sorted(bbh_tasks)
    assert len(mmlu_tasks) == 57 and list(mmlu_tasks) == sorted(mmlu_tasks)
    assert set(bbh_tasks) == {p.name for p in (data_dir / "BIG-Bench-Hard").iterdir()}
    assert set(mmlu_tasks) == {p.name for p in (data_dir / "MMLU").iterdir() if p.is_dir()}
    for name in ("gsm8k", "webnlg", "wsc"):
        assert get_benchmark(name).task_names() == (name,)


# ---- counts and fields


@pytest.mark.parametrize(("dataset", "task"), ALL_TASKS)
def test_record_counts_are_exact(data_dir, dataset, task):
    data = get_benchmark(dataset).load(task, data_dir)
    assert counts(data) == expected_counts(dataset, task)
    assert data.spec.task == task and data.spec.dataset == dataset
    for name in SPLIT_NAMES:
        assert [ex.index for ex in data.split(name)] == list(range(len(data.split(name))))
        assert all(isinstance(ex.question, str) and ex.question for ex in data.split(name))


def test_dataset_totals(data_dir):
    for dataset, totals in (
        ("bbh", (1247, 1247, 3747, 135, 135)),
        ("mmlu", (1140, 1140, 3410, 228, 285)),
    ):
        bench = get_benchmark(dataset)
        per_task = [counts(bench.load(t, data_dir)) for t in bench.task_names()]
        assert tuple(sum(c[i] for c in per_task) for i in range(5)) == totals


def test_bbh_fields(data_dir):
    bench = get_benchmark("bbh")
    navigate = bench.load("navigate", data_dir)
    assert {ex.answer for ex in navigate.test} == {"Yes", "No"}
    assert navigate.train[0].question.endswith("Options:\n- Yes\n- No")
    sports = bench.load("sports_understanding", data_dir)
    assert {ex.answer for ex in sports.test} == {"yes", "no"}
    counting = bench.load("object_counting", data_dir)
    assert all(isinstance(ex.answer, str) and ex.answer.isdigit() for ex in counting.test)
    movies = bench.load("movie_recommendation", data_dir)
    assert [ex.answer for ex in movies.test if not ex.answer.startswith("(")] == ["Monsters, Inc"]


def test_mmlu_gsm8k_webnlg_wsc_fields(data_dir):
    anatomy = get_benchmark("mmlu").load("anatomy", data_dir)
    assert {ex.answer for ex in anatomy.test} <= {"(A)", "(B)", "(C)", "(D)"}
    assert "\n(D) " in anatomy.test[0].question
    gsm = get_benchmark("gsm8k").load("gsm8k", data_dir)
    assert all(type(ex.answer) is int for split in SPLIT_NAMES for ex in gsm.split(split))
    webnlg = get_benchmark("webnlg").load("webnlg", data_dir)
    assert webnlg.test[0].question.startswith("Write the following triples")
    sizes = [len(ex.answer) for ex in webnlg.test]
    assert all(isinstance(ref, str) for ex in webnlg.test for ref in ex.answer)
    assert {n: sizes.count(n) for n in set(sizes)} == {1: 155, 2: 9, 3: 135, 5: 1}
    wsc = get_benchmark("wsc").load("wsc", data_dir)
    assert {ex.answer for ex in wsc.test} == {"(A)", "(B)"}
    assert wsc.train[0].question.endswith("(A) Steve\n(B) Fred")


# ---- scoring settings (GPO_REFERENCE 2.3)


def test_bbh_answer_kinds():
    bench = get_benchmark("bbh")
    kinds = {t: bench.spec(t).answer_kind for t in bench.task_names()}
    tally = {k: list(kinds.values()).count(k) for k in set(kinds.values())}
    assert tally == {
        AnswerKind.MULTIPLE_CHOICE: 17,
        AnswerKind.BOOLEAN: 6,
        AnswerKind.NUMBER: 2,
        AnswerKind.DYCK: 1,
        AnswerKind.WORD_SORTING: 1,
    }
    assert kinds["object_counting"] is kinds["multistep_arithmetic_two"] is AnswerKind.NUMBER
    assert kinds["dyck_languages"] is AnswerKind.DYCK
    assert kinds["word_sorting"] is AnswerKind.WORD_SORTING
    assert kinds["formal_fallacies"] is kinds["sports_understanding"] is AnswerKind.BOOLEAN
    assert kinds["snarks"] is kinds["penguins_in_a_table"] is AnswerKind.MULTIPLE_CHOICE
    assert all(bench.spec(t).second_round for t in bench.task_names())


@pytest.mark.parametrize(
    ("dataset", "task", "kind", "second_round"),
    [
        ("mmlu", "virology", AnswerKind.MULTIPLE_CHOICE, True),
        ("gsm8k", "gsm8k", AnswerKind.NUMBER, True),
        ("webnlg", "webnlg", AnswerKind.ROUGE, False),
        ("wsc", "wsc", AnswerKind.MULTIPLE_CHOICE, True),
    ],
)
def test_other_specs(dataset, task, kind, second_round):
    spec = get_benchmark(dataset).spec(task)
    assert (spec.dataset, spec.task, spec.answer_kind, spec.second_round) == (
        dataset,
        task,
        kind,
        second_round,
    )


def test_setting_dict_of_webnlg_and_navigate():
    assert get_benchmark("webnlg").spec("webnlg").setting_dict() == {
        "is_multiple_choice": False,
        "prediction_treat_as_number": False,
        "prediction_treat_as_bool": False,
        "prediction_treat_as_rouge": True,
        "extract_final_answer_by_prompting_again": False,
    }
    assert get_benchmark("bbh").spec("navigate").setting_dict()["prediction_treat_as_bool"]


def test_spec_of_unknown_task_fails():
    with pytest.raises(ConfigError):
        get_benchmark("bbh").spec("gsm8k")
    with pytest.raises(ConfigError):
        get_benchmark("gsm8k").spec("all")


# ---- task resolution


def test_all_expands_and_names_keep_their_order():
    assert get_benchmark("bbh").resolve_tasks(["all"]) == list(bbh.TASKS)
    assert get_benchmark("mmlu").resolve_tasks(["all"]) == list(mmlu.SUBJECTS)
    assert get_benchmark("bbh").resolve_tasks(["snarks", "navigate"]) == ["snarks", "navigate"]


@pytest.mark.parametrize(
    ("dataset", "requested", "needles"),
    [
        ("bbh", ["navigat"], ["'navigat'", "did you mean 'navigate'", "--help"]),
        ("mmlu", ["anatomyy"], ["'anatomyy'", "did you mean 'anatomy'", "--help"]),
        ("bbh", ["zzz"], ["'zzz'", "--help"]),
        ("bbh", ["all", "navigate"], ["either all or names"]),
        ("bbh", ["navigate", "navigate"], ["twice"]),
        ("bbh", [], ["empty"]),
        ("gsm8k", ["bbh"], ["single task", "all"]),
        ("wsc", ["wsc", "extra"], ["'extra'"]),
    ],
)
def test_resolve_tasks_errors(dataset, requested, needles):
    with pytest.raises(ConfigError) as err:
        get_benchmark(dataset).resolve_tasks(requested)
    for needle in needles:
        assert needle in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("dataset", ["gsm8k", "webnlg", "wsc"])
def test_single_task_datasets_are_labelled_by_name(dataset):
    bench = get_benchmark(dataset)
    assert bench.resolve_tasks(["all"]) == [dataset]
    assert bench.resolve_tasks([dataset]) == [dataset]


# ---- second-round requests (GPO_REFERENCE 3.2)

MC_TEXT = "Which one?\nOptions:\n(A) red\n(B) blue\n(C) green"


@pytest.mark.parametrize(
    ("dataset", "task", "expected"),
    [
        ("bbh", "boolean_expressions", bbh.TRUE_FALSE_REQUEST),
        ("bbh", "causal_judgement", bbh.YES_NO_REQUEST),
        ("bbh", "navigate", bbh.YES_NO_REQUEST),
        ("bbh", "sports_understanding", bbh.YES_NO_REQUEST),
        ("bbh", "web_of_lies", bbh.YES_NO_REQUEST),
        ("bbh", "formal_fallacies", bbh.VALID_INVALID_REQUEST),
        ("bbh", "object_counting", bbh.NUMBER_REQUEST),
        ("bbh", "multistep_arithmetic_two", bbh.NUMBER_REQUEST),
        ("bbh", "dyck_languages", bbh.DYCK_REQUEST),
        ("bbh", "word_sorting", bbh.WORD_SORTING_REQUEST),
        ("mmlu", "anatomy", mmlu.MMLU_REQUEST),
        ("gsm8k", "gsm8k", bbh.NUMBER_REQUEST),
    ],
)
def test_fixed_second_round_requests(dataset, task, expected):
    request = get_benchmark(dataset).second_round_request(task, MC_TEXT + "\nBe brief.", "Q_end")
    assert request == expected


def test_request_wording():
    assert '"True" or "False"' in bbh.TRUE_FALSE_REQUEST
    assert '"Yes" or "No"' in bbh.YES_NO_REQUEST
    assert '"valid" or "invalid"' in bbh.VALID_INVALID_REQUEST
    assert "one number" in bbh.NUMBER_REQUEST
    assert "closing brackets" in bbh.DYCK_REQUEST
    assert "alphabetically" in bbh.WORD_SORTING_REQUEST
    assert "(A) and (D)" in mmlu.MMLU_REQUEST
    wsc_request = get_benchmark("wsc").second_round_request("wsc", MC_TEXT, "Q_end")
    assert "(A) or (B)" in wsc_request
    assert get_benchmark("mmlu").second_round_request("anatomy", "no options", "A_begin") == (
        mmlu.MMLU_REQUEST
    )


def test_webnlg_has_no_second_round_request():
    with pytest.raises(ConfigError, match="no second-round"):
        WebNLG().second_round_request("webnlg", "text", "Q_end")


@pytest.mark.parametrize(
    ("user_text", "position", "last"),
    [
        # Q_end, one-line instruction: the last question line holds the last option
        (MC_TEXT + "\nThink step by step.", "Q_end", "(C)"),
        # Q_end with include_qa: "Q: <question> <instruction>\nA: "
        ("Q: " + MC_TEXT + " Think.\nA: ", "Q_end", "(C)"),
        # quirk 10.10 kept: empty instruction with Q_end reads the second-to-last option
        (MC_TEXT, "Q_end", "(B)"),
        # quirk 10.10 kept: a two-line instruction pushes line [-2] off the options
        (MC_TEXT + "\nThink.\nAnswer.", "Q_end", "Think."),
        # Q_begin: the last line is the last option
        ("Think step by step.\n" + MC_TEXT, "Q_begin", "(C)"),
        # quirk 10.10 kept: Q_begin with include_qa ends in "A: ", so X is that whole line
        ("Q: Think. " + MC_TEXT + "\nA: ", "Q_begin", "A: "),
        # fix of the crash: other positions use the question's last option line
        ("Think.\nQ: " + MC_TEXT + "\nA: ", "before_Q", "(C)"),
        ("Q: " + MC_TEXT + "\nA: Think. ", "A_begin", "(C)"),
    ],
)
def test_bbh_multiple_choice_last_option(user_text, position, last):
    request = get_benchmark("bbh").second_round_request("date_understanding", user_text, position)
    assert request == bbh.multiple_choice_request("(A)", last)
    assert request.endswith(f"between (A) and {last}.")


def test_last_option_label_first_bracket_and_long_lists():
    six = "Q?\n" + "\n".join(f"({c}) x" for c in "ABCDEF")
    assert bbh.last_option_label(six, "Q_end") == "(E)"  # empty prompt: second-to-last option
    assert bbh.last_option_label(six + "\nGo.", "Q_end") == "(F)"
    assert bbh.last_option_label("Q?\n(B) see (C)\nGo.", "Q_end") == "(B)"  # first on the line
    assert bbh.last_option_label("no options here", "A_begin") == "no options here"


def test_second_round_option_letter_is_recognised_in_lower_case():
    # A multi-line Q_end prompt: the second-to-last line is the prompt's own first line.
    text = "Q?\n(A) x\n(B) y\nPick (a) or (b) wisely.\nThen answer."
    assert bbh.last_option_label(text, "Q_end") == "(a)"
    request = bbh.BigBenchHard().second_round_request("date_understanding", text, "Q_end")
    assert request.endswith("between (A) and (a).")


# ---- malformed and missing data


def write_task(folder: Path, records: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("train", "eval", "test", "few_shot_examples", "format"):
        (folder / f"{name}.jsonl").write_text(
            records.get(name, '{"input": "q", "output": "(A)"}\n')
        )


def test_malformed_json_line_names_file_and_line(tmp_path):
    folder = tmp_path / "common-nlp" / "WSC"
    write_task(folder, {"eval": '{"input": "q", "output": "(A)"}\n{"input": "q", "output": \n'})
    with pytest.raises(DataError) as err:
        WSC().load("wsc", tmp_path)
    message = str(err.value)
    assert f"{folder / 'eval.jsonl'}:2:" in message and "invalid JSON" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"input": "q"}', "missing field 'output'"),
        ('["input", "output"]', "expected a JSON object"),
        ('{"input": 3, "output": 4}', "'input' must be a string"),
        ('{"input": "q", "output": "4"}', "must be an integer"),
        ('{"input": "q", "output": true}', "must be an integer"),
    ],
)
def test_bad_gsm8k_records(tmp_path, line, reason):
    folder = tmp_path / "reasoning" / "GSM8K"
    good = '{"input": "q", "solution": "#### 4", "output": 4}\n'
    write_task(folder, {n: good for n in ("train", "eval", "few_shot_examples", "format")})
    (folder / "test.jsonl").write_text(good * 2 + line + "\n")
    with pytest.raises(DataError) as err:
        GSM8K().load("gsm8k", tmp_path)
    assert f"{folder / 'test.jsonl'}:3: " in str(err.value)
    assert reason in str(err.value)


def test_empty_line_is_an_error_and_webnlg_needs_a_list(tmp_path):
    folder = tmp_path / "common-nlp" / "WebNLG"
    good = '{"id": "1", "input": "t", "output": ["ref"]}\n'
    write_task(folder, {n: good for n in ("train", "eval", "test", "few_shot_examples", "format")})
    (folder / "train.jsonl").write_text(good + "\n" + good)
    with pytest.raises(DataError, match=r"train\.jsonl:2: empty line"):
        WebNLG().load("webnlg", tmp_path)
    (folder / "train.jsonl").write_text(good + '{"input": "t", "output": []}\n')
    with pytest.raises(DataError, match=r"train\.jsonl:2: .*non-empty list"):
        WebNLG().load("webnlg", tmp_path)


def test_split_on_newline_only(tmp_path):
    folder = tmp_path / "common-nlp" / "WSC"
    tricky = json.dumps({"input": "a\u2028b\u0085c\x0cd", "output": "(B)"}, ensure_ascii=False)
    write_task(folder, {"train": tricky + "\n" + '{"input": "last", "output": "(A)"}'})
    data = WSC().load("wsc", tmp_path)
    assert [ex.question for ex in data.train] == ["a\u2028b\u0085c\x0cd", "last"]
    assert [ex.index for ex in data.train] == [0, 1]


def test_missing_folder_and_file_name_the_path_and_the_fix(tmp_path):
    with pytest.raises(DataError) as err:
        get_benchmark("bbh").load("navigate", tmp_path)
    message = str(err.value)
    assert str(tmp_path / "BIG-Bench-Hard" / "navigate") in message
    assert "--data_dir" in message and "GPO_DATA_DIR" in message
    folder = tmp_path / "common-nlp" / "WSC"
    write_task(folder, {})
    (folder / "format.jsonl").unlink()
    with pytest.raises(DataError, match="format.jsonl.*GPO_DATA_DIR"):
        WSC().load("wsc", tmp_path)


# ---- max_examples


def test_max_examples_caps_every_split(data_dir):
    full = get_benchmark("wsc").load("wsc", data_dir)
    capped = get_benchmark("wsc").load("wsc", data_dir, max_examples=7)
    assert counts(capped) == (7, 7, 7, 7, 7)
    for name in SPLIT_NAMES:
        assert capped.split(name) == full.split(name)[:7]
    navigate = get_benchmark("bbh").load("navigate", data_dir, max_examples=6)
    assert counts(navigate) == (6, 6, 6, 5, 5)  # small splits stay whole
    with pytest.raises(ConfigError, match="max_examples"):
        get_benchmark("bbh").load("navigate", data_dir, max_examples=0)


def test_max_examples_does_not_read_past_the_cap(tmp_path):
    folder = tmp_path / "common-nlp" / "WSC"
    write_task(folder, {"test": '{"input": "q", "output": "(A)"}\nnot json\n'})
    assert len(WSC().load("wsc", tmp_path, max_examples=1).test) == 1
    with pytest.raises(DataError, match="test.jsonl:2:"):
        WSC().load("wsc", tmp_path)


# ---- format-exemplar sampling (GPO_REFERENCE 2.4)

BBH_ALL_FORMAT = [
    [2, 3, 4], [1, 2, 4], [0, 2, 3], [0, 2, 4], [0, 1, 3], [0, 2, 4], [0, 3, 4], [0, 1, 3],
    [0, 2, 4], [0, 2, 4], [0, 1, 2], [0, 2, 3], [1, 2, 3], [0, 1, 4], [1, 3, 4], [2, 3, 4],
    [1, 3, 4], [1, 2, 3], [0, 3, 4], [0, 1, 4], [0, 1, 2], [0, 1, 3], [1, 2, 4], [0, 2, 3],
    [0, 2, 4], [2, 3, 4], [1, 2, 3],
]  # fmt: skip
MMLU_ALL_FORMAT = [
    [1, 2, 4], [0, 2, 3], [0, 2, 4], [2, 3, 4], [0, 1, 4], [0, 1, 3], [1, 3, 4], [1, 3, 4],
    [1, 2, 3], [0, 1, 3], [1, 2, 4], [2, 3, 4], [0, 1, 3], [1, 2, 4], [2, 3, 4], [0, 1, 3],
    [0, 1, 3], [1, 2, 4], [0, 2, 4], [0, 2, 4], [0, 1, 3], [0, 1, 3], [2, 3, 4], [0, 2, 4],
    [0, 2, 4], [0, 1, 4], [0, 2, 3], [0, 1, 3], [1, 2, 3], [0, 1, 4], [0, 1, 4], [0, 1, 3],
    [1, 3, 4], [1, 2, 4], [1, 2, 3], [1, 2, 4], [0, 3, 4], [0, 1, 4], [0, 2, 4], [0, 1, 3],
    [0, 1, 4], [0, 1, 3], [0, 3, 4], [0, 1, 4], [1, 2, 3], [0, 2, 4], [0, 1, 4], [0, 1, 4],
    [1, 2, 4], [0, 1, 3], [1, 2, 3], [0, 2, 3], [0, 2, 3], [0, 2, 4], [0, 1, 2], [0, 3, 4],
    [0, 1, 2],
]  # fmt: skip


def run_sampler(dataset: str, data_dir: Path, tasks: list[str]) -> dict[str, tuple[int, ...]]:
    bench = get_benchmark(dataset)
    loaded = [bench.load(task, data_dir) for task in bench.resolve_tasks(tasks)]
    return FormatSampler.seeded(0).sample(loaded, 3)


@pytest.mark.parametrize(
    ("dataset", "golden"),
    [
        ("bbh", BBH_ALL_FORMAT),
        ("mmlu", MMLU_ALL_FORMAT),
        ("gsm8k", [[1, 2, 4]]),
        ("webnlg", [[1, 2, 4]]),
        ("wsc", [[6, 8, 9]]),
    ],
)
def test_golden_format_indices_for_all(data_dir, dataset, golden):
    chosen = run_sampler(dataset, data_dir, ["all"])
    assert list(chosen) == list(get_benchmark(dataset).task_names())
    assert [list(v) for v in chosen.values()] == golden


@pytest.mark.parametrize(
    ("dataset", "task", "golden"),
    [
        ("bbh", "navigate", (2, 3, 4)),
        ("bbh", "causal_judgement", (0, 2, 4)),
        ("bbh", "penguins_in_a_table", (0, 3, 4)),
        ("bbh", "snarks", (0, 1, 3)),
        ("mmlu", "anatomy", (1, 2, 4)),
        ("mmlu", "abstract_algebra", (1, 2, 4)),
    ],
)
def test_golden_format_indices_for_a_single_task(data_dir, dataset, task, golden):
    assert run_sampler(dataset, data_dir, [task]) == {task: golden}


def test_sampler_uses_its_own_generator_and_capped_sizes(data_dir):
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    capped = get_benchmark("wsc").load("wsc", data_dir, max_examples=8)
    chosen = FormatSampler.seeded(0).sample([capped], 3)
    assert np.array_equal(np.random.get_state()[1], before)
    sizes = [SplitSizes("wsc", 8, 8, 8, 8)]
    assert chosen == sample_format_indices(sizes, 3, np.random.RandomState(0))
    assert chosen != {"wsc": (6, 8, 9)}  # full-size draws differ from capped ones


def test_format_data_num_larger_than_format_split_fails():
    sizes = [SplitSizes("navigate", 48, 48, 144, 5)]
    with pytest.raises(ConfigError, match="format_data_num=6 exceeds the 5 .*navigate"):
        sample_format_indices(sizes, 6, np.random.RandomState(0))
    assert sample_format_indices(sizes, 5, np.random.RandomState(0)) == {
        "navigate": (0, 1, 2, 3, 4)
    }
