"""A step that keeps the current prompt through the ranking's 0.0 placeholder (quirk 10.5): the
step log keeps the original's 0.0, while the report's score plot (run and experiment) and the
"best so far" table show the prompt's stored eval score with a distinct marker."""

from __future__ import annotations

import pytest

pytest.importorskip("matplotlib")

from gpo.reports.plots import (  # noqa: E402
    KEPT_IN_A_RUN_LEGEND,
    KEPT_LEGEND,
    KEPT_MARKER,
    score_figure,
)
from gpo.reports.series import eval_series, mean_eval_series  # noqa: E402
from gpo.results.reading import TaskLog  # noqa: E402
from gpo.results.records import (  # noqa: E402
    KEPT_CURRENT_PROMPT,
    CandidateRecord,
    ChosenRecord,
    RacingRecord,
    StepRecord,
    keeps_current_prompt,
    step_kept_current_prompt,
)
from gpo.results.shown_scores import chosen_scores  # noqa: E402

COT = "Let's think step by step."


def candidate(prompt: str, score: float | None, status: str) -> CandidateRecord:
    return CandidateRecord(prompt, score, False, status, 3, True, (), (), 0, False)


def step(t: int, current: str, chosen: str, score: float, *cands: CandidateRecord) -> StepRecord:
    return StepRecord(
        "navigate", t, 0, t, current, 0.0, None, None, 10, "meta", 0, 1.0, False,
        cands, ChosenRecord(chosen, score, 0 if chosen == current else 3, None),
        RacingRecord("off", 0, 0),
    )  # fmt: skip


def task_log(*steps: StepRecord, initial_eval: float = 0.25) -> TaskLog:
    initial = {"kind": "initial", "prompt": COT, "eval_score": initial_eval, "test_score": 0.5}
    return TaskLog("navigate", initial, tuple(s.to_dict() for s in steps), None)


# Step 1: both candidates score 0, so the rule keeps the initial prompt with its 0.0 placeholder.
# Step 2: "Be brief." reused (0.0); the initial prompt was chosen before: move to "Be brief.".
# Step 3: "Be exact." scores 0.5 and is chosen.
KEPT = step(0, COT, COT, 0.0, candidate("Be brief.", 0.0, "new"), candidate("No.", 0.0, "new"))
MOVE = step(1, COT, "Be brief.", 0.0, candidate("Be brief.", 0.0, "reused"))
UP = step(2, "Be brief.", "Be exact.", 0.5, candidate("Be exact.", 0.5, "new"))


def test_the_record_marks_a_step_that_keeps_the_current_prompt_with_the_placeholder() -> None:
    assert KEPT.kept_current_prompt and step_kept_current_prompt(KEPT.to_dict())
    assert not MOVE.kept_current_prompt and not UP.kept_current_prompt
    # U ranked as a candidate itself (reused with its stored score, or the initial prompt
    # regenerated and evaluated again): its score is real, not the placeholder
    assert not keeps_current_prompt(COT, COT, ["Be brief.", COT])
    assert keeps_current_prompt(COT, COT, ["Be brief."])
    rejected = step(0, COT, COT, 0.0, candidate(COT, None, "rejected"))
    assert rejected.kept_current_prompt
    assert KEPT.to_dict()["chosen"]["eval_score"] == 0.0  # the step log keeps the original's value


def test_plot_data_shows_the_kept_prompt_at_its_stored_eval_score_with_the_marker() -> None:
    log = task_log(KEPT, MOVE, UP)
    assert [(c.x, c.eval_score, c.kept) for c in chosen_scores(log)] == [
        (0, 0.25, False),
        (1, 0.25, True),  # the initial prompt's stored eval score, not the log's 0.0
        (2, 0.0, False),
        (3, 0.5, False),
    ]
    series = eval_series("navigate", log)
    assert list(series.x) == [0, 1, 2, 3] and list(series.y) == [25.0, 25.0, 0.0, 50.0]
    assert list(series.kept_x) == [1] and list(series.kept_y) == [25.0]
    ax = score_figure("Score per step", [series], n_steps=3).axes[0]
    markers = [line for line in ax.get_lines() if line.get_marker() == KEPT_MARKER]
    [drawn] = [m for m in markers if len(m.get_xdata())]
    assert list(drawn.get_xdata()) == [1] and list(drawn.get_ydata()) == [25.0]
    assert drawn.get_markerfacecolor() == "white"  # hollow: distinct from the line's dots
    assert drawn.get_markeredgecolor() == ax.get_lines()[0].get_color()  # the task's colour
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert KEPT_LEGEND in legend
    assert KEPT_LEGEND.replace("\n", " ") == KEPT_CURRENT_PROMPT


def test_a_kept_prompt_rechosen_later_keeps_its_own_stored_score() -> None:
    # "Be exact." (0.5) chosen at step 1, kept at step 2 (every candidate chosen before or 0)
    first = step(0, COT, "Be exact.", 0.5, candidate("Be exact.", 0.5, "new"))
    again = step(1, "Be exact.", "Be exact.", 0.0, candidate(COT, 0.25, "reused"))
    assert again.kept_current_prompt
    series = eval_series("navigate", task_log(first, again))
    assert list(series.y) == [25.0, 50.0, 50.0] and list(series.kept_x) == [2]


def test_mean_over_runs_uses_the_stored_score_and_marks_the_step() -> None:
    kept_run = task_log(KEPT, MOVE, UP)
    other = task_log(
        step(0, COT, "Be exact.", 0.5, candidate("Be exact.", 0.5, "new")), initial_eval=0.75
    )
    mean = mean_eval_series("GPO", [kept_run, other])
    assert mean is not None
    assert list(mean.x) == [0, 1, 2, 3]
    assert mean.y[1] == pytest.approx((25.0 + 50.0) / 2)  # 25 (stored), not 0 (placeholder)
    assert list(mean.kept_x) == [1] and mean.kept_y[0] == pytest.approx(37.5)
    assert mean.kept_label == KEPT_IN_A_RUN_LEGEND
    assert mean_eval_series("GPO", [other]).kept_x == []


def test_a_step_without_a_kept_prompt_has_no_marker() -> None:
    series = eval_series("navigate", task_log(UP))
    ax = score_figure("Score per step", [series], n_steps=1).axes[0]
    assert not [line for line in ax.get_lines() if line.get_marker() == KEPT_MARKER]
    assert KEPT_LEGEND not in [t.get_text() for t in ax.get_legend().get_texts()]
    assert list(series.kept_x) == []


def test_the_experiment_plot_uses_the_same_rule() -> None:
    from types import SimpleNamespace

    from gpo.reports.experiment_report import experiment_score_figure

    other = task_log(
        step(0, COT, "Be exact.", 0.5, candidate("Be exact.", 0.5, "new")), initial_eval=0.75
    )
    no_finals = SimpleNamespace(cells=(), runs={})  # only the stars read the cells
    fig = experiment_score_figure(no_finals, {"gpo": [task_log(KEPT, MOVE, UP), other]}, 3)
    ax = fig.axes[0]
    mean = ax.get_lines()[0]
    assert mean.get_label() == "GPO (eval)"
    assert mean.get_ydata()[1] == pytest.approx(37.5)  # (25 stored + 50) / 2, not (0 + 50) / 2
    [drawn] = [m for m in ax.get_lines() if m.get_marker() == KEPT_MARKER and len(m.get_xdata())]
    assert list(drawn.get_xdata()) == [1] and drawn.get_ydata()[0] == pytest.approx(37.5)
    assert KEPT_IN_A_RUN_LEGEND in [t.get_text() for t in ax.get_legend().get_texts()]
