"""``gpo.Task.from_records`` in the call's own words: a callable metric stays in memory (held by
the call that runs the task, never imported by a generated name), and bad records, a failing
metric or a record its metric cannot grade are ``gpo.ConfigError``s naming what the user passed
(``train=[]``, ``train[0]``, ``metric=raising_metric``), raised before any model loads."""

from __future__ import annotations

import json
import sys

import pytest

import gpo
from gpo.errors import DataError
from gpo.evaluation.metrics import resolve_metric

LABELLED = [
    {"input": "I loved it.", "output": "positive"},
    {"input": "It broke at once.", "output": "negative"},
]
OPTIONS = {"no_cache": True}


def raising_metric(answer: str, record: dict) -> float:
    raise ValueError("boom")


def answered(label: str):
    def model(messages: list[dict[str, str]]) -> str:
        model.calls += 1
        return label

    model.calls = 0
    return model


def test_empty_records_name_the_argument() -> None:
    with pytest.raises(gpo.ConfigError, match=r"^train=\[\]: no records; give at least one"):
        gpo.Task.from_records("t1", train=[], eval=LABELLED, test=LABELLED)
    with pytest.raises(gpo.ConfigError, match=r"^few_shot=\[\]: no records; .* or leave it out"):
        gpo.Task.from_records("t1", LABELLED, LABELLED, LABELLED, few_shot=[])
    with pytest.raises(gpo.ConfigError, match=r"^test\[1\]: a record is a dict with 'input'"):
        gpo.Task.from_records("t1", LABELLED, LABELLED, [LABELLED[0], {"input": "x"}])


def test_a_failing_metric_is_named_as_passed_when_the_task_is_made() -> None:
    with pytest.raises(gpo.ConfigError) as err:
        gpo.Task.from_records("t1", LABELLED, LABELLED, LABELLED, metric=raising_metric)
    assert str(err.value).startswith("metric=raising_metric failed on train[0]: ValueError: boom")
    with pytest.raises(gpo.ConfigError, match=r"metric=<lambda> failed on train\[0\]: ValueError"):
        gpo.Task.from_records("t1", LABELLED, LABELLED, LABELLED, metric=lambda a, r: 2.0)


def test_a_closure_metric_is_held_in_memory_by_the_call(tmp_path) -> None:
    graded = []

    def strict(answer: str, record: dict) -> float:
        graded.append(record["input"])
        return float(answer == record["output"])

    task = gpo.Task.from_records("t1", LABELLED, LABELLED, LABELLED, metric=strict)
    ev = gpo.evaluate(
        "Label it.", task, scorer=answered("positive"), output_dir=tmp_path, **OPTIONS
    )
    assert ev.score == 0.5 and graded[-2:] == ["I loved it.", "It broke at once."]
    [folder] = (tmp_path / "tasks").iterdir()
    metric = json.loads((folder / "t1" / "task.json").read_text())["metric"]
    assert metric.startswith("in-memory:strict_") and "gpo.api.metric_registry" not in sys.modules
    with pytest.raises(DataError, match="held by the Python call that runs the task"):
        resolve_metric(metric, str(folder / "t1"))  # the call is over: nothing holds it now
    again = gpo.evaluate("Label it.", task, scorer=answered("negative"), output_dir=tmp_path)
    assert again.score == 0.5 and [f.name for f in (tmp_path / "tasks").iterdir()] == [folder.name]


def test_an_importable_metric_is_named_by_its_import_path(tmp_path) -> None:
    task = gpo.Task.from_records("t1", LABELLED, LABELLED, LABELLED, metric=strict_metric)
    made = task.materialize(tmp_path)
    spec = json.loads((tmp_path / "tasks" / task.digest() / "t1" / "task.json").read_text())
    assert spec["metric"] == "python:test_api_records:strict_metric" and not made.held_metrics()


def strict_metric(answer: str, record: dict) -> float:
    return float(answer == record["output"])


def test_a_record_the_metric_cannot_grade_is_named_by_its_split_and_index(tmp_path) -> None:
    task = gpo.Task.from_records("t1", LABELLED, LABELLED, LABELLED, metric="choice")
    model = answered("(A)")
    with pytest.raises(gpo.ConfigError) as err:
        gpo.evaluate("Pick.", task, scorer=model, output_dir=tmp_path, **OPTIONS)
    message = str(err.value)
    assert message.startswith("train[0]: output 'positive' is not an option letter"), message
    assert str(tmp_path) not in message and model.calls == 0


def test_an_in_memory_metric_cannot_go_to_ray_workers(tmp_path) -> None:
    task = gpo.Task.from_records("t1", LABELLED, LABELLED, LABELLED, metric=lambda a, r: 1.0)
    with pytest.raises(gpo.ConfigError, match="runs in this process only; define it at module"):
        gpo.optimize(task, scorer="fake", output_dir=tmp_path, workers=2, **OPTIONS)
