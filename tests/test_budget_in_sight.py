"""Budget in sight: the step bar's text (calls done against the dry-run plan, tokens, cost for
priced models, ETA) and the report's plot of the best score against cumulative scorer calls."""

from __future__ import annotations

import json
from collections import Counter

import gpo
from gpo.llm.accounting import Ledger, Usage
from gpo.reports.series import calls_series
from gpo.results.reading import read_task_log
from gpo.runs.progress import BudgetBar, short_count, short_time
from test_api import FAKE, TINY
from test_runtime import counting_runtime


def test_bar_counts_calls_against_the_plan_with_tokens_cost_and_eta() -> None:
    ledger = Ledger()
    ledger.register_model("scorer", "llamacpp", "smollm2-135m")  # local: costs 0
    ledger.record("scorer", Usage(requests=5, prompt_tokens=1000, completion_tokens=50))
    bar = BudgetBar(ledger, (100, 20), total_steps=4)  # 5 calls before the task: not its own
    assert bar(None, 0) == "calls 0/100 | 0 tok"
    ledger.register_model("optimizer", "openai", "gpt-3.5-turbo")
    ledger.record("optimizer", Usage(requests=10, prompt_tokens=2000, completion_tokens=500))
    ledger.record("scorer", Usage(requests=10, cache_hits=5, prompt_tokens=400))
    text = bar(None, 0)
    assert text.startswith("calls 25/100 | 2.9k tok | $") and "| ETA " in text
    cached = BudgetBar(ledger, (100, 20), total_steps=4)
    ledger.record("scorer", Usage(cache_hits=7))
    assert cached(None, 0) == "calls 7/100 | 0 tok | $0.0018"  # cache hits: no rate, no ETA
    resumed = BudgetBar(ledger, (100, 20), total_steps=4)
    assert resumed(None, 2).startswith("calls 0/50 |")  # 2 of 4 steps left + the final scoring
    assert (short_count(1234567), short_time(30), short_time(600)) == ("1.2M", "30s", "10m")
    # the eval score it is given is the shown one (a kept prompt's stored score, not 0.0)
    assert resumed(0.25, 2).endswith("| eval 0.250")


def test_a_run_shows_the_bar_and_reports_best_score_against_scorer_calls(
    tmp_path, data_dir, capsys
) -> None:
    task = gpo.Task.benchmark("bbh", "navigate", data_dir=data_dir)
    result = gpo.optimize(
        task,
        scorer="fake-scorer",
        optimizer="fake-optimizer",
        output_dir=tmp_path,
        runtime=counting_runtime(Counter(), []),
        **{**FAKE, **TINY, "max_examples": 8, "num_search_epochs": 2},
    )
    err = capsys.readouterr().err
    assert "calls " in err and " tok" in err  # the step bar (tqdm, stderr)
    report = (result.run_folder / "report.md").read_text()
    assert "## Best score vs scorer calls" in report
    assert (result.run_folder / "plots" / "best_vs_scorer_calls.png").stat().st_size > 1000
    log = read_task_log(
        result.run_folder / "result_by_instruction/navigate/steps.jsonl", "navigate"
    )
    series = calls_series(log)
    assert len(series.x) == len(result.steps) + 2  # initial, each step, final
    assert series.x == sorted(series.x) and series.y == sorted(series.y)  # best so far
    assert series.y[-1] == 100 * result.best_eval
    scorer = json.loads((result.run_folder / "usage_summary.json").read_text())["roles"]["scorer"]
    assert series.x[-1] == scorer["requests"] + scorer["cache_hits"]  # every scorer call counted


def _step_line(g: int, current: str, prompt: str, score: float, ranked: bool = True) -> dict:
    """A steps.jsonl step line, as far as the tracked metrics read it."""
    candidates = [{"prompt": prompt, "status": "new", "eval_score": score}] if ranked else []
    return {
        "global_step": g,
        "current_prompt": current,
        "chosen": {"prompt": prompt, "eval_score": score},
        "candidates": candidates,
        "step_size": None,
    }


INITIAL_LINE = {
    "global_step": -1,
    "kind": "initial",
    "prompt": "p0",
    "eval_score": 0.5,
    "test_score": 0.4,
}


def test_tracked_best_so_far_counts_the_steps_logged_before() -> None:
    from gpo.tracking.step_metrics import step_metrics

    lines = [INITIAL_LINE, _step_line(0, "p0", "p1", 0.2), _step_line(1, "p1", "p2", 0.3)]
    assert step_metrics(lines, {}, after=0) == [(2, {"chosen_eval": 0.3, "best_so_far_eval": 0.5})]
    assert [m["best_so_far_eval"] for _, m in step_metrics(lines, {})[1:]] == [0.5, 0.5]


def test_tracked_chosen_eval_of_a_kept_prompt_is_its_stored_score() -> None:
    """A step that keeps the current prompt logs the placeholder 0.0; MLflow shows 0.5."""
    from gpo.tracking.step_metrics import step_metrics

    kept = _step_line(0, "p0", "p0", 0.0, ranked=False)
    assert step_metrics([INITIAL_LINE, kept], {})[1] == (
        1,
        {"chosen_eval": 0.5, "best_so_far_eval": 0.5},
    )
