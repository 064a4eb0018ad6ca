"""Two ``gpo.evaluate`` calls in two threads, on two tasks, with the bundled model
(SmolLM2-135M-Instruct, llama.cpp) and no response cache: no lock holds one back, so together
they finish well under the time of the same calls one after another, with the same scores.

Each call loads its own engine of one thread (a loaded engine is lent to one call at a time), so
on two cores the two calls run side by side."""

from __future__ import annotations

import threading
import time

import pytest

import gpo
from helpers import SMOLLM2

pytestmark = pytest.mark.real

# One slot per engine: llama.cpp's continuous batching makes a reply depend (in a last digit, then
# a word) on which requests share a batch, and that depends on timing; one request at a time
# gives the same replies in any thread.
SETTINGS = {
    "max_examples": 16,
    "scorer_max_tokens": 16,
    "second_round_max_tokens": 6,
    "no_cache": True,
    "n_threads": 1,
    "n_parallel": 1,
}
PROMPT = "Answer the question. Finish with the answer alone."


def evaluate(task: gpo.Task, out) -> float:
    return gpo.evaluate(PROMPT, task, scorer=SMOLLM2, output_dir=out, **SETTINGS).score


def test_two_threads_evaluate_side_by_side_with_the_scores_of_sequential_calls(
    tmp_path, data_dir
) -> None:
    tasks = {
        name: gpo.Task.benchmark("bbh", name, data_dir=data_dir)
        for name in ("navigate", "boolean_expressions")
    }
    sequential, one_after_another = {}, 0.0
    for name, task in tasks.items():
        gpo.release_models()  # every call loads its engine, as each thread below does
        started = time.monotonic()
        sequential[name] = evaluate(task, tmp_path / "one")
        one_after_another += time.monotonic() - started
    gpo.release_models()
    together: dict[str, float] = {}
    errors: list[BaseException] = []

    def call(name: str) -> None:
        try:
            together[name] = evaluate(tasks[name], tmp_path / "two")
        except BaseException as e:  # noqa: BLE001 - reported by the test below
            errors.append(e)

    threads = [threading.Thread(target=call, args=(name,)) for name in tasks]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    side_by_side = time.monotonic() - started
    gpo.release_models()
    print(
        f"\ntwo gpo.evaluate calls: one after another {one_after_another:.1f} s, in two threads "
        f"{side_by_side:.1f} s ({one_after_another / side_by_side:.2f}x); scores {sequential}"
    )
    assert not errors, errors
    assert together == sequential
    assert side_by_side < 0.75 * one_after_another
