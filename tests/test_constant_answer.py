"""The best constant answer: the no-model reference of the score tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpo.data.base import AnswerKind, Example, TaskData, TaskSpec
from gpo.data.registry import get_benchmark
from gpo.evaluation.constant import best_constant_answer

REPO = Path(__file__).resolve().parents[1]


def labels_task(test_labels: list[str], kind: AnswerKind = AnswerKind.EXACT) -> TaskData:
    spec = TaskSpec("custom", "route", kind, False, None if kind is AnswerKind.ROUGE else "exact")
    test = tuple(Example(i, f"Message {i}", a) for i, a in enumerate(test_labels))
    return TaskData(spec, (), test[:1], test, (), ())


def test_the_most_rewarding_gold_answer_wins():
    found = best_constant_answer(labels_task(["billing", "account", "account", "shipping"]))
    assert found is not None
    assert (found.answer, found.score) == ("account", 0.5)
    # ties keep the most frequent answer first, and eval is a split like any other
    tied = best_constant_answer(labels_task(["yes", "no", "no", "yes", "yes"]))
    assert tied is not None and tied.answer == "yes" and tied.score == pytest.approx(0.6)
    assert best_constant_answer(labels_task(["a", "b"]), "eval").score == 1.0


def test_no_reference_for_rouge_tasks_or_empty_splits():
    assert best_constant_answer(labels_task(["a text"], AnswerKind.ROUGE)) is None
    assert best_constant_answer(labels_task([])) is None


def test_the_routing_example_task_with_its_own_metric():
    """examples/support_ticket's label-set metric: "account" every time scores 11 of 32."""
    data = get_benchmark("custom", REPO / "examples").load("support_ticket", REPO / "examples", 32)
    found = best_constant_answer(data)
    assert found is not None
    assert (found.answer, found.score) == ("account", 11 / 32)
