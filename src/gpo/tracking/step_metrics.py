"""The numbers MLflow shows for a run, from the lines of its step logs (``steps.jsonl``): per
step, the chosen candidate's eval score, the best so far, the word budget K, the share of
candidates within it, tokens and requests per role and the cost (on each task's nested run);
each task's initial and best scores (on the run itself, ``best_test/<task>``); the run's
configuration as flat params.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from gpo.llm.pricing import cost_usd
from gpo.results.reading import TaskLog
from gpo.results.shown_scores import chosen_scores

ROLES = ("scorer", "optimizer")
MAX_PARAM_CHARS = 500
SUMMARY_PREFIX = {"initial": "initial", "final": "best"}  # step-log kind -> metric prefix
NOT_IN_METRIC_KEYS = re.compile(
    r"[^\w./: -]"
)  # MLflow's metric names: letters, digits, _-./: and space


def flat_params(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``run_config.json`` as MLflow params: nested keys dotted (``opt.gradient_name``), lists
    comma-joined, values cut at 500 characters. The config holds no secret (keys are never in
    it; the server URL is saved without credentials)."""
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out |= flat_params(value, f"{name}.")
        elif isinstance(value, (list, tuple)):
            out[name] = ",".join(str(v) for v in value)[:MAX_PARAM_CHARS]
        else:
            out[name] = str(value)[:MAX_PARAM_CHARS]
    return out


def usage_metrics(record: Mapping[str, Any], models: Mapping[str, tuple[str, str]]) -> dict:
    """Tokens and requests per role of one step-log line, and its cost when every role's model
    is priced (``models``: role -> (model name, backend))."""
    out: dict[str, float] = {}
    cost: float | None = 0.0
    for role, u in record.get("usage", {}).get("roles", {}).items():
        tokens = u.get("prompt_tokens", 0) + u.get("completion_tokens", 0)
        out[f"{role}_tokens"] = tokens
        out[f"{role}_requests"] = u.get("requests", 0)
        name, backend = models.get(role, ("", None))
        part = cost_usd(
            name, u.get("prompt_tokens", 0), u.get("completion_tokens", 0), backend=backend
        )
        cost = None if cost is None or part is None else cost + part
    if cost is not None and out:
        out["cost_usd"] = cost
    return out


def step_metrics(
    lines: Iterable[Mapping[str, Any]],
    models: Mapping[str, tuple[str, str]],
    after: int = -2,
) -> list[tuple[int, dict[str, float]]]:
    """(MLflow step, metrics) for each step line past global step ``after`` (the lines before
    count for the best so far), in order: step t (1..T) of the loop's global step t-1. The
    initial record (step 0) gives ``initial_eval``/``initial_test`` and starts the best so far;
    the final record gives ``best_eval``/``best_test`` at step T."""
    out: list[tuple[int, dict[str, float]]] = []
    best: float | None = None
    ordered = sorted(lines, key=lambda r: r["global_step"])
    shown = _shown_chosen_scores(ordered)
    for r in ordered:
        if r["global_step"] <= after:
            score = shown.get(r["global_step"], r.get("eval_score"))
            if r.get("kind") != "final" and score is not None:
                best = score if best is None else max(best, score)
            continue
        kind = r.get("kind")
        if kind == "initial":
            best = r["eval_score"]
            out.append((0, {"initial_eval": r["eval_score"], "initial_test": r["test_score"]}))
            continue
        if kind == "final":
            final = {"best_eval": r["eval_score"], "best_test": r["test_score"]}
            out.append((r["global_step"], final))
            continue
        # a kept prompt shows its stored score, not the log's 0.0 placeholder (shown_scores)
        chosen = shown.get(r["global_step"], r["chosen"]["eval_score"])
        best = chosen if best is None else max(best, chosen)
        m: dict[str, float] = {"chosen_eval": chosen, "best_so_far_eval": best}
        if r.get("step_size") is not None:
            m["step_size_k"] = r["step_size"]
        if r.get("within_budget_share") is not None:
            m["within_budget_share"] = r["within_budget_share"]
        out.append((r["global_step"] + 1, m | usage_metrics(r, models)))
    return out


def _shown_chosen_scores(lines: list[Mapping[str, Any]]) -> dict[int, float]:
    """Global step -> the chosen prompt's eval score as a person is shown it."""
    initial = next((dict(r) for r in lines if r.get("kind") == "initial"), None)
    steps = tuple(dict(r) for r in lines if r.get("kind") not in ("initial", "final"))
    log = TaskLog("", initial, steps, None)
    return {c.x - 1: c.eval_score for c in chosen_scores(log) if c.x > 0}


def metric_key(name: str) -> str:
    """``name`` (a task, a method such as GPO+) as part of an MLflow metric name: ``+`` spelled
    ``plus``, any other character MLflow refuses as ``_``."""
    return NOT_IN_METRIC_KEYS.sub(lambda m: "plus" if m.group() == "+" else "_", name.strip())


def summary_metrics(lines: Iterable[Mapping[str, Any]], task: str) -> dict[str, float]:
    """One task's result as metrics of the run itself (its steps are on the task's nested run):
    ``initial_eval/<task>``, ``initial_test/<task>``, ``best_eval/<task>``, ``best_test/<task>``
    from the step log's initial and final records, so the run's own page shows every task."""
    out: dict[str, float] = {}
    for r in lines:
        prefix = SUMMARY_PREFIX.get(r.get("kind", ""))
        for split in ("eval", "test") if prefix else ():
            if r.get(f"{split}_score") is not None:
                out[f"{prefix}_{split}/{metric_key(task)}"] = float(r[f"{split}_score"])
    return out
