"""The typed step-log records and the results_dict fold: the JSON the run folder has always had
(keys and their order), and one recorder that owns the task's files."""

from __future__ import annotations

import json

from gpo.evaluation.report import ScoreReport
from gpo.results.recorder import ResultsLog, TaskRecorder, empty_results, usage_summary
from gpo.results.records import (
    CandidateRecord,
    ChosenRecord,
    Cost,
    FinalRecord,
    InitialRecord,
    LogEntry,
    RacingRecord,
    StepRecord,
)
from gpo.results.run_folder import RunFolder

COST = Cost({"roles": {}, "total": {}}, 1.5)


def step_record() -> StepRecord:
    candidate = CandidateRecord("B.", 0.5, False, "new", 1, True, ("len",), ("too long",), 0, False)
    return StepRecord(
        "t", 0, 0, 0, "A.", 0.25, None, None, 10, "meta", 0, 1.0, False,
        (candidate,), ChosenRecord("B.", 0.5, 1, None), RacingRecord("off", 0, 0), COST,
    )  # fmt: skip


def test_records_keep_the_step_log_keys_in_order() -> None:
    initial = InitialRecord("t", "A.", 0.25, 0.5, COST).to_dict()
    assert list(initial) == [
        "task", "global_step", "kind", "prompt", "eval_score", "test_score", "usage", "seconds",
    ]  # fmt: skip
    assert (initial["global_step"], initial["kind"]) == (-1, "initial")
    step = step_record().to_dict()
    assert list(step) == [
        "task", "global_step", "epoch", "step", "current_prompt", "current_eval_score",
        "train_score", "gradient", "step_size", "meta_prompt", "resample_rounds",
        "within_budget_share", "budget_fallback", "candidates", "chosen", "racing", "usage",
        "seconds",
    ]  # fmt: skip
    assert step["candidates"] == [
        {
            "prompt": "B.", "eval_score": 0.5, "eval_partial": False, "status": "new",
            "edit_distance": 1, "within_budget": True, "rejected_by": ["len"],
            "reasons": ["too long"], "round": 0, "closest_kept": False,
        }
    ]  # fmt: skip
    assert step["chosen"] == {"prompt": "B.", "eval_score": 0.5, "edit_distance": 1,
                              "test_score": None}  # fmt: skip
    assert step["racing"] == {"mode": "off", "generations_saved": 0,
                              "generations_completing_partials": 0, "dropped": []}  # fmt: skip
    final = FinalRecord("t", 2, [], "B.", 0, 0, 0.5, 0.75, COST).to_dict()
    assert list(final) == [
        "task", "global_step", "kind", "budget_compliance", "prompt", "epoch", "step",
        "eval_score", "test_score", "usage", "seconds",
    ]  # fmt: skip
    assert json.loads(json.dumps(step)) == step


def test_results_log_folds_entries_in_the_original_layout() -> None:
    results = ResultsLog(empty_results({"few_shot": False}))
    results.fold(LogEntry("eval_log", ("A.", 0.25), -1, -1))
    results.fold(LogEntry("eval_partial_log", ("B.", 2, 8), 0, 0, 1))
    results.fold(LogEntry("eval_log", ("B.", 0.5), 0, 0, 1))
    results.fold(LogEntry("meta_prompts", ("meta",), 0, 0))
    results.fold(LogEntry("selected_para_history_list", ([["A.", 0.25]],), 0, 0))
    out = results.to_json()
    # the original's keys and order; eval_partial_log is created by its first entry, so last
    assert list(out)[-5:] == ["setting_dict", "train_log", "eval_log", "test_log",
                              "eval_partial_log"]  # fmt: skip
    assert out["eval_log"] == {"-1_-1": ["A.", 0.25, -1, -1], "0_0_1": ["B.", 0.5, 0, 0]}
    assert out["eval_partial_log"] == {"0_0_1": ["B.", 2, 8, 0, 0]}
    assert out["meta_prompts"] == [["meta", 0, 0]]
    assert out["selected_para_history_list"] == [[[["A.", 0.25]], 0, 0]]


def test_recorder_writes_csv_and_log_entry_and_sums_usage(tmp_path) -> None:
    folder = RunFolder(tmp_path)
    rec = TaskRecorder(folder, "t", {})
    report = ScoreReport(instruction="A.", split="test", rows=())  # score 0.0
    rec.report(report, 0, 1)
    assert (folder.task_dir("t") / "test" / "0" / "1").is_dir()
    assert rec.results.to_json()["test_log"] == {"0_1": ["A.", 0.0, 0, 1]}
    usage = {"requests": 2, "prompt_tokens": 10, "completion_tokens": 3, "cache_hits": 1,
             "deduplicated": 0, "backend_seconds": 0.5, "total_tokens": 13}  # fmt: skip
    cost = Cost({"roles": {"scorer": usage}, "total": usage}, 1.0)
    rec.finish(FinalRecord("t", 1, [], "A.", 0, 1, 0.5, 0.5, cost))
    rec.finish(FinalRecord("t", 1, [], "A.", 0, 1, 0.5, 0.5, cost))
    summary = usage_summary(folder, ["t"])
    assert summary["roles"]["scorer"]["requests"] == 4
    assert summary["total"]["total_tokens"] == 26
    assert json.loads((folder.task_dir("t") / "results_dict.json").read_text())["test_log"]
