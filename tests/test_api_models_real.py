"""A user's own client as the scorer, on the bundled model: an object implementing ``gpo.LLM``
that wraps the project's llama.cpp engine (SmolLM2-135M-Instruct) scores a prompt exactly as
the alias ``scorer="smollm2-135m"`` does, with the same prompts and the same settings. Tiny
sizes, one thread."""

from __future__ import annotations

import json

import pytest

import gpo
from gpo.llm.aliases import resolve_model
from gpo.llm.llamacpp import LlamaCppBackend
from gpo.llm.options import BackendOptions
from helpers import EXAMPLES, SMOLLM2

pytestmark = pytest.mark.real

SMALL = {"scorer_max_tokens": 8, "second_round_max_tokens": 4, "no_cache": True}
ENGINE = {"n_threads": 1, "n_parallel": 1}
PROMPT = "Is the review positive or negative? Answer with one word."


class MyEngineClient:
    """What a user writes: their own client (here around the project's llama.cpp engine) that
    answers gpo's batches and returns plain strings."""

    name = "my-smollm2"
    is_chat = True

    def __init__(self) -> None:
        self.engine = LlamaCppBackend(resolve_model(SMOLLM2), BackendOptions(**ENGINE))
        self.params: list[gpo.GenerationParams] = []

    def generate(self, prompts, params, sample_indices=None) -> list[str]:
        self.params.append(params)
        return [c.text for c in self.engine.generate(prompts, params, sample_indices)]

    def close(self) -> None:
        self.engine.close()


def test_a_user_client_object_scores_as_the_alias_does(tmp_path) -> None:
    lines = (EXAMPLES / "review_sentiment" / "test.jsonl").read_text().splitlines()
    test = [json.loads(line) for line in lines if line.strip()][:3]
    task = gpo.Task.from_records("sentiment", train=test, eval=test, test=test, metric="contains")
    client = MyEngineClient()
    try:
        assert isinstance(client.engine, gpo.LLM)
        mine = gpo.evaluate(PROMPT, task, scorer=client, output_dir=tmp_path / "mine", **SMALL)
    finally:
        client.close()
    alias = gpo.evaluate(
        PROMPT, task, scorer=SMOLLM2, output_dir=tmp_path / "alias", **SMALL, **ENGINE
    )
    assert len(mine.rows) == 3 and 0.0 <= mine.score <= 1.0
    assert mine.score == alias.score
    answers = [(r["raw_answer"], r.get("raw_answer_second_round")) for r in mine.rows]
    assert answers == [(r["raw_answer"], r.get("raw_answer_second_round")) for r in alias.rows]
    assert all(a for a, _ in answers)  # the model really answered
    assert {p.max_tokens for p in client.params} >= {8, 4} and client.params[0].max_tokens == 1
    usage = json.loads((mine.run_folder / "usage_summary.json").read_text())["roles"]["scorer"]
    assert usage["model"] == "my-smollm2" and usage["requests"] == 6  # 3 examples x 2 rounds
