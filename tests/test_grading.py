"""Grading: accuracy rules of GPO_REFERENCE 4.3, ROUGE-L of 4.1 and the ``grade`` helper."""

from __future__ import annotations

import pytest

from gpo.data.base import AnswerKind, TaskSpec
from gpo.evaluation.grading import accuracy, grade, rouge_l

# (rule, true answer, normalised prediction, task, expected)
ACCURACY_CASES = [
    ("dyck: last bracket run", "] ) }", "first ) then ] ) }", "dyck_languages", 1.0),
    ("dyck: a later run wins", "] ) }", "] ) } and then )", "dyck_languages", 0.0),
    ("dyck: '>' counts", "> ]", "close with > ]", "dyck_languages", 1.0),
    ("dyck: no brackets", "] )", "no idea", "dyck_languages", 0.0),
    (
        "word_sorting (b): whole reply",
        "apple banana cherry",
        "Apple Banana Cherry",
        "word_sorting",
        1.0,
    ),
    (
        "word_sorting (c): one line of the reply",
        "apple banana cherry",
        "sorted:\napple banana cherry\ndone",
        "word_sorting",
        1.0,
    ),
    # This case used to pin 0.0 ("(a) inert") from a mistake in the reference: the original's
    # check (a) keeps the lines without a space, strips each, and does match (now 1).
    (
        "word_sorting (a): one word per line",
        "apple banana cherry",
        "apple\nbanana\ncherry",
        "word_sorting",
        1.0,
    ),
    ("word_sorting (a): lines stripped", "apple banana", "apple\t\n\tbanana", "word_sorting", 1.0),
    (
        "word_sorting (a): lines with a space dropped",
        "apple banana",
        "a b\napple\nbanana",
        "word_sorting",
        1.0,
    ),
    (
        "word_sorting (a): a blank line breaks it",
        "apple banana",
        "apple\n\nbanana",
        "word_sorting",
        0.0,
    ),
    (
        "word_sorting (b): tokens stripped",
        "apple banana cherry",
        "apple \nbanana cherry",
        "word_sorting",
        1.0,
    ),
    ("word_sorting wrong order", "apple banana cherry", "banana apple cherry", "word_sorting", 0.0),
    ("MC: (x) on both sides", "(A)", "(a)", "date_understanding", 1.0),
    ("MC: bare letter prediction", "(A)", "a", "date_understanding", 1.0),
    ("MC: wrong letter", "(A)", "(b)", "date_understanding", 0.0),
    ("MC: letter with punctuation", "(C)", "c.", "date_understanding", 1.0),
    ("exact match", "13", "13", "object_counting", 1.0),
    ("int target stringified", 110, "110", "gsm8k", 1.0),
    ("no numeric tolerance", 110, "110.0", "gsm8k", 0.0),
    ("punctuation-stripped exact", "Monsters, Inc", "monsters inc", "movie_recommendation", 1.0),
    ("bool: exact yes", "Yes", "yes", "navigate", 1.0),
    ("bool: 'true' for 'yes'", "Yes", "true", "navigate", 1.0),
    ("bool: 'false' for 'no'", "No", "false", "web_of_lies", 1.0),
    ("bool: '1' for 'valid'", "valid", "1", "formal_fallacies", 1.0),
    ("bool: '0' for 'invalid'", "invalid", "0", "formal_fallacies", 1.0),
    ("bool: '1' for 'True'", "True", "1", "boolean_expressions", 1.0),
    ("bool: 'no' is not mapped", "False", "no", "boolean_expressions", 0.0),
    ("bool: wrong", "invalid", "true", "formal_fallacies", 0.0),
    ("bool: 'yes' vs 'no'", "yes", "no", "sports_understanding", 0.0),
    ("trailing text is wrong", "yes", "yes it is", "navigate", 0.0),
]


@pytest.mark.parametrize(("rule", "true", "pred", "task", "expected"), ACCURACY_CASES)
def test_accuracy(rule: str, true: object, pred: str, task: str, expected: float) -> None:
    assert accuracy(true, pred, task) == expected, rule


def test_accuracy_is_an_int_zero_or_one() -> None:
    # As in the original, so the per-example CSVs show 0/1, not 0.0/1.0.
    for task in ("word_sorting", "dyck_languages", "navigate"):
        assert type(accuracy("yes", "yes", task)) is int
        assert type(accuracy("yes", "no", task)) is int


def _rouge_l_f(pred: str, ref: str) -> float:
    """ROUGE-L F of rouge 1.0.1 for one-sentence texts, written out by hand.

    The package counts unique words (sets) for the LCS and both lengths:
    R = |set(LCS)| / |set(ref)|, P = |set(LCS)| / |set(pred)|, F = 2PR / (P + R).
    """
    p_words, r_words = pred.split(), ref.split()
    table = [[0] * (len(p_words) + 1) for _ in range(len(r_words) + 1)]
    for i, rw in enumerate(r_words):
        for j, pw in enumerate(p_words):
            table[i + 1][j + 1] = (
                table[i][j] + 1 if rw == pw else max(table[i][j + 1], table[i + 1][j])
            )
    lcs, i, j = [], len(r_words), len(p_words)
    while i and j:
        if r_words[i - 1] == p_words[j - 1]:
            lcs.append(r_words[i - 1])
            i, j = i - 1, j - 1
        elif table[i - 1][j] >= table[i][j - 1]:
            i -= 1
        else:
            j -= 1
    llcs = len(set(lcs))
    recall, precision = llcs / len(set(r_words)), llcs / len(set(p_words))
    return 2 * precision * recall / (precision + recall) if llcs else 0.0


def test_rouge_identical_is_one() -> None:
    assert rouge_l("the cat sat on a mat", ["the cat sat on a mat"]) == pytest.approx(1.0)


@pytest.mark.parametrize("empty", ["", "   ", "...", " . . "])
def test_rouge_empty_prediction_is_zero(empty: str) -> None:
    assert rouge_l(empty, ["the cat sat"]) == 0.0


def test_rouge_hand_computed_lcs() -> None:
    # LCS of "a b c d" and "a c" is "a c": R = 2/2, P = 2/4, F = 2 * 0.5 / 1.5 = 2/3.
    assert _rouge_l_f("a b c d", "a c") == pytest.approx(2 / 3)
    assert rouge_l("a b c d", "a c") == pytest.approx(2 / 3, abs=1e-6)


def test_rouge_matches_hand_formula_with_repeated_words() -> None:
    pred, ref = "the cat sat on the mat", "the cat lay on the mat"
    expected = _rouge_l_f(pred, ref)
    assert expected == pytest.approx(0.8)  # unique LCS words {the, cat, on, mat} over 5 and 5
    assert rouge_l(pred, [ref]) == pytest.approx(expected, abs=1e-6)


def test_rouge_is_mean_over_references() -> None:
    refs = ["a b c d", "a c", "x y"]
    expected = (1.0 + 2 / 3 + 0.0) / 3
    assert rouge_l("a b c d", refs) == pytest.approx(expected, abs=1e-6)


def test_rouge_is_case_sensitive() -> None:
    assert rouge_l("A B", ["a b"]) == pytest.approx(0.0)


SPECS = {
    "mc": TaskSpec("bbh", "date_understanding", AnswerKind.MULTIPLE_CHOICE, True),
    "num": TaskSpec("gsm8k", "gsm8k", AnswerKind.NUMBER, True),
    "bool": TaskSpec("bbh", "navigate", AnswerKind.BOOLEAN, True),
    "dyck": TaskSpec("bbh", "dyck_languages", AnswerKind.DYCK, True),
    "sort": TaskSpec("bbh", "word_sorting", AnswerKind.WORD_SORTING, True),
    "rouge": TaskSpec("webnlg", "webnlg", AnswerKind.ROUGE, False),
}

# (spec, reply text, true answer, parsed, accuracy)
GRADE_CASES = [
    ("mc", "The answer is (B) because...", "(B)", "(b)", 1.0),
    ("mc", "(C) is the correct answer", "(B)", "(c)", 0.0),
    ("num", "She pays $1,234 in total. The answer is 1234.", 1234, "1234", 1.0),
    ("num", "I cannot tell.", 18, "tell.", 0.0),  # no digits: the last token as is
    ("bool", "True.", "Yes", "true", 1.0),
    ("bool", "No, she does not.", "Yes", "no she does not", 0.0),
    ("dyck", "The answer is: ] ) }", "] ) }", "] ) }", 1.0),
    ("sort", "apple banana cherry", "apple banana cherry", "apple banana cherry", 1.0),
]


@pytest.mark.parametrize(("kind", "reply", "true", "parsed", "score"), GRADE_CASES)
def test_grade(kind: str, reply: str, true: object, parsed: str, score: float) -> None:
    graded = grade(SPECS[kind], reply, true)
    assert (graded.parsed_answer, graded.accuracy) == (parsed, score)


def test_grade_rouge_uses_stripped_reply_and_all_references() -> None:
    graded = grade(SPECS["rouge"], "  a b c d \n", ["a b c d", "a c"])
    assert graded.parsed_answer == "a b c d"
    assert graded.accuracy == pytest.approx((1.0 + 2 / 3) / 2, abs=1e-6)
    assert grade(SPECS["rouge"], " ", ["a b"]).accuracy == 0.0


BBH_BOOLEAN = {
    "boolean_expressions",
    "causal_judgement",
    "formal_fallacies",
    "navigate",
    "sports_understanding",
    "web_of_lies",
}
BBH_SPECIAL = {
    "dyck_languages": AnswerKind.DYCK,
    "word_sorting": AnswerKind.WORD_SORTING,
    "object_counting": AnswerKind.NUMBER,
    "multistep_arithmetic_two": AnswerKind.NUMBER,
}


def _bbh_kind(task: str) -> AnswerKind:
    if task in BBH_BOOLEAN:
        return AnswerKind.BOOLEAN
    return BBH_SPECIAL.get(task, AnswerKind.MULTIPLE_CHOICE)


def test_every_real_target_grades_itself_correct(data_dir) -> None:
    """Each BBH/MMLU/GSM8K/WSC test target, given back as the reply, scores 1."""
    import json

    folders = [(d, "bbh") for d in sorted((data_dir / "BIG-Bench-Hard").iterdir()) if d.is_dir()]
    folders += [(data_dir / "MMLU" / "anatomy", "mmlu"), (data_dir / "common-nlp" / "WSC", "wsc")]
    folders += [(data_dir / "reasoning" / "GSM8K", "gsm8k")]
    checked = 0
    for folder, dataset in folders:
        kind = _bbh_kind(folder.name) if dataset == "bbh" else AnswerKind.MULTIPLE_CHOICE
        kind = AnswerKind.NUMBER if dataset == "gsm8k" else kind
        spec = TaskSpec(dataset, folder.name, kind, True)
        for line in (folder / "test.jsonl").read_text(encoding="utf-8").split("\n"):
            if not line:
                continue
            record = json.loads(line)
            target = record.get("target", record.get("output"))
            assert grade(spec, str(target), target).accuracy == 1.0, (folder.name, target)
            checked += 1
    assert checked > 3747
