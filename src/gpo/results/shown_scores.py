"""The eval score of each step's chosen prompt as a person is shown it, read from a step log.

The step log keeps the original's values: when a step keeps the current prompt through the
ranking's 0.0 placeholder (quirk 10.5; :func:`gpo.results.records.keeps_current_prompt`), its
``chosen.eval_score`` is that 0.0, as in results_dict.json. The prompt did not get worse, so
plots, tables and summaries show its real stored eval score instead (the original's
instruction_score_dict: the score from its last evaluation), marked as kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gpo.results.reading import TaskLog
from gpo.results.records import RANKED_STATUSES, step_kept_current_prompt


@dataclass(frozen=True)
class ChosenScore:
    """The prompt in use after step ``x`` (0 = the initial prompt) and its eval score.

    ``eval_score`` is a fraction: the logged score, or for a kept prompt (``kept``) its stored
    eval score (the log holds the placeholder 0.0 there).
    """

    x: int
    prompt: str
    eval_score: float
    kept: bool = False


def _ranked_scores(record: dict[str, Any]) -> dict[str, float]:
    """The full eval scores a step stored: its new and reused candidates (partial ones apart)."""
    return {
        c["prompt"]: c["eval_score"]
        for c in record["candidates"]
        if c["status"] in RANKED_STATUSES
        and c.get("eval_score") is not None
        and not c.get("eval_partial")
    }


def chosen_scores(log: TaskLog) -> list[ChosenScore]:
    """The initial prompt (x = 0), then the prompt chosen at each logged step (x = t)."""
    stored: dict[str, float] = {}  # instruction_score_dict, rebuilt from the log
    out: list[ChosenScore] = []
    if log.initial is not None:
        stored[log.initial["prompt"]] = log.initial["eval_score"]
        out.append(ChosenScore(0, log.initial["prompt"], log.initial["eval_score"]))
    for r in log.steps:
        stored |= _ranked_scores(r)
        prompt, score = r["chosen"]["prompt"], r["chosen"]["eval_score"]
        kept = step_kept_current_prompt(r)
        if kept:
            score = stored.get(prompt, score)
        else:
            stored[prompt] = score
        out.append(ChosenScore(r["global_step"] + 1, prompt, score, kept))
    return out
