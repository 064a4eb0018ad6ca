"""The user's own model as ``scorer=``/``optimizer=``: a plain callable ``(messages) -> str``
(``gpo.CallableLLM``) or an object implementing ``gpo.LLM``; with the usage ledger, the response
cache keyed by the user's name (none without a name) and resume.

The same on the bundled model (a user-written client around the project's llama.cpp engine) is
in ``test_api_models_real.py``.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Sequence

import pytest

import gpo
from gpo.results.io import read_json
from helpers import EXAMPLES, script_env

LABELLED = [
    {"input": "I loved it.", "output": "positive"},
    {"input": "Great value.", "output": "positive"},
    {"input": "It broke at once.", "output": "negative"},
    {"input": "Never again.", "output": "negative"},
]
OPTIONS = {"embedding_model": "fake", "no_cache": True}
ONE_STEP = {"num_search_epochs": 1, "num_generated_instructions_in_each_step": 2}
ONE_STEP |= {"opt_batch_size": 4}
SMOKE = "Reply with OK."  # the start-up request every model gets once (runtime.smoke_test)


def sentiment_task(**fields) -> gpo.Task:
    return gpo.Task.from_records(
        "sentiment", train=LABELLED, eval=LABELLED, test=LABELLED, metric="exact", **fields
    )


class Recorder:
    """A callable model that answers ``reply`` and keeps every conversation it was sent."""

    def __init__(self, reply: str) -> None:
        self.reply, self.seen = reply, []

    def __call__(self, messages: list[dict[str, str]]) -> str:
        self.seen.append(messages)
        return self.reply

    def work(self) -> list[list[dict[str, str]]]:
        """The conversations other than the start-up check."""
        return [m for m in self.seen if m[-1]["content"] != SMOKE]


class TokenClient:
    """A user's client implementing gpo.LLM: Completions with token counts (so a token budget
    can stop a run), sampled prompts answered per sample index."""

    backend = "my-client"
    is_chat = True

    def __init__(self, name: str | None, proposals: Sequence[str] = ()) -> None:
        self.name, self.proposals, self.batches = name, list(proposals), []

    def generate(self, prompts, params, sample_indices=None) -> list[gpo.Completion]:
        self.batches.append((list(prompts), params))
        out = []
        for i, prompt in enumerate(prompts):
            assert all(isinstance(m, gpo.ChatMessage) for m in prompt)
            if self.proposals and params.temperature > 0:
                k = (sample_indices[i] if sample_indices else 0) + params.seed
                text = f"<START>{self.proposals[k % len(self.proposals)]}<END>"
            else:
                text = "positive"
            out.append(gpo.Completion(text, prompt_tokens=10, completion_tokens=2))
        return out

    def close(self) -> None:
        raise AssertionError("gpo must not close the user's client")


def test_a_callable_scorer_scores_exactly_the_labels_it_matches(tmp_path) -> None:
    always = Recorder("positive")
    ev = gpo.evaluate(
        "Label the review.", sentiment_task(), scorer=always, output_dir=tmp_path, **OPTIONS
    )
    assert ev.score == 0.5 and len(ev.rows) == 4
    inputs = {m[0]["content"] for m in always.work()}
    assert all(any(r["input"] in text for text in inputs) for r in LABELLED)
    assert all(
        m[0]["role"] == "user" and "Label the review." in m[0]["content"] for m in always.work()
    )
    usage = read_json(ev.run_folder / "usage_summary.json")
    assert (
        usage["roles"]["scorer"]["requests"] == len(always.seen) - 1
    )  # the ledger counts its calls
    config = read_json(ev.run_folder / "run_config.json")
    assert config["scorer"]["backend"] == "python" and config["scorer"]["name"] == "unnamed"


def test_a_callable_optimizer_runs_one_step(tmp_path) -> None:
    proposer = Recorder("<START>Answer positive or negative.<END>")
    result = gpo.optimize(
        sentiment_task(),
        scorer=Recorder("positive"),
        optimizer=proposer,
        output_dir=tmp_path,
        **OPTIONS,
        **ONE_STEP,
    )
    assert result.state == "finished" and len(result.steps) == 1
    candidates = [c.prompt for c in result.steps[0].candidates]
    assert "Answer positive or negative." in candidates
    assert proposer.work() and all(m[-1]["role"] == "user" for m in proposer.work())
    assert result.tasks["sentiment"].initial_eval == 0.5


def test_a_named_model_is_cached_under_its_name_and_an_unnamed_one_is_not(tmp_path, caplog) -> None:
    cache = {"cache_dir": str(tmp_path / "cache")}
    named = Recorder("positive")
    model = gpo.CallableLLM(named, name="my-client")
    for run in ("a", "b"):
        ev = gpo.evaluate(
            "Label it.", sentiment_task(), scorer=model, output_dir=tmp_path / run, **cache
        )
        assert ev.score == 0.5
    assert (
        len(named.work()) == 8
    )  # 4 examples x 2 rounds; the second run is answered by the response cache
    assert read_json(ev.run_folder / "usage_summary.json")["roles"]["scorer"]["cache_hits"] == 8
    other = Recorder("negative")  # another model under another name: no reply of my-client
    ev = gpo.evaluate(
        "Label it.",
        sentiment_task(),
        scorer=gpo.CallableLLM(other, name="other"),
        output_dir=tmp_path / "c",
        **cache,
    )
    assert ev.score == 0.5 and len(other.work()) == 8
    unnamed = Recorder("positive")
    with caplog.at_level(logging.INFO, logger="gpo.runs.build"):
        for run in ("d", "e"):
            gpo.evaluate(
                "Label it.", sentiment_task(), scorer=unnamed, output_dir=tmp_path / run, **cache
            )
    assert len(unnamed.work()) == 16
    assert "has no name, so its replies are not cached" in caplog.text


def test_a_client_object_is_metered_and_resumed_with_the_same_object(tmp_path) -> None:
    client = TokenClient("my-client", ["Say positive or negative.", "Classify the review."])
    assert isinstance(client, gpo.LLM)
    options = {**OPTIONS, **ONE_STEP, "num_search_epochs": 2, "opt_batch_size": 2}
    with pytest.raises(gpo.GPOError, match="budget"):
        gpo.optimize(
            sentiment_task(), scorer=client, output_dir=tmp_path, max_tokens_budget=1, **options
        )
    [folder] = [p for p in tmp_path.iterdir() if p.name != "tasks"]
    assert read_json(folder / "status.json")["state"] == "stopped"
    with pytest.raises(
        gpo.ConfigError, match=r"resume it from Python: gpo.optimize\(None, resume="
    ):
        gpo.optimize(None, resume=folder, max_tokens_budget=10**9)
    with pytest.raises(gpo.ConfigError, match="was the model named 'my-client'"):
        gpo.optimize(None, resume=folder, scorer=TokenClient("another"), max_tokens_budget=10**9)
    result = gpo.optimize(None, resume=folder, scorer=client, max_tokens_budget=10**9)
    assert result.state == "finished" and result.run_folder == folder and len(result.steps) == 4
    roles = read_json(folder / "usage_summary.json")["roles"]
    assert roles["scorer"]["prompt_tokens"] > 0 and roles["optimizer"]["completion_tokens"] > 0
    sampled = [p for _, p in client.batches if p.temperature > 0]
    assert sampled and all(p.max_tokens > 0 for p in sampled)


@pytest.mark.parametrize(
    ("scorer", "options", "message"),
    [
        (42, {}, "scorer=42 is not a model; pass a model alias or path"),
        (Recorder("x"), {"workers": 2}, "a Python model object runs in this process only"),
    ],
)
def test_a_model_argument_that_cannot_run_is_a_config_error(
    tmp_path, scorer, options, message
) -> None:
    with pytest.raises(gpo.ConfigError, match=message):
        gpo.optimize(sentiment_task(), scorer=scorer, output_dir=tmp_path, **OPTIONS, **options)
    assert not any(p.name != "tasks" for p in tmp_path.iterdir())


def test_a_client_that_returns_too_few_replies_is_named_in_the_error(tmp_path) -> None:
    class Short(TokenClient):
        def generate(self, prompts, params, sample_indices=None):
            return ["positive"]

    with pytest.raises(gpo.GPOError, match=r"scorer=short: generate returned 1 replies for 4"):
        gpo.evaluate(
            "Label it.", sentiment_task(), scorer=Short("short"), output_dir=tmp_path, **OPTIONS
        )


def test_the_custom_model_example_runs(tmp_path) -> None:
    env = {**script_env(), "HOME": str(tmp_path)}  # its named model's cache under tmp_path
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "custom_model.py")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [ln for ln in proc.stdout.splitlines() if ln[:1].isdigit()] == ["1.0"] * 3
    assert len([p for p in (tmp_path / "out").iterdir() if p.name != "tasks"]) == 3
