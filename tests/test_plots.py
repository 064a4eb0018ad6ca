"""The figures contain what they claim (lines, bands, axis labels) and are written as readable,
non-empty PNGs; the report is rebuilt from a folder's files alone."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from matplotlib.collections import PathCollection, PolyCollection  # noqa: E402
from matplotlib.image import imread  # noqa: E402

from gpo.reports.plots import (  # noqa: E402
    SCORE_AXIS_MARGIN,
    BudgetPanel,
    ScorePanel,
    Series,
    budget_figure,
    calls_figure,
    save_png,
    score_figure,
    score_panels_figure,
    usage_figure,
)


def assert_readable_png(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 300
    assert float(np.std(image[..., :3])) > 0.01  # not a blank canvas


def test_score_figure_lines_band_and_labels(tmp_path):
    fig = score_figure(
        "Score per step",
        [
            Series("GPO", [0, 1, 2], [10, 20, 30], [5, 15, 25], [15, 25, 35]),
            Series("APE", [0, 1, 2], [10, 12, 11]),
        ],
        [Series("GPO", [0, 2], [12, 28])],
        [Series("GPO", [3], [25], [20], [30])],
        n_steps=2,
    )
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[:3] == ["GPO (eval)", "APE (eval)", "GPO (test)"]
    assert list(ax.get_lines()[2].get_ydata()) == [12, 28]
    assert len([c for c in ax.collections if isinstance(c, PolyCollection)]) == 1  # GPO's band
    assert ax.get_xlabel().startswith("optimization step") and ax.get_ylabel() == "score x100"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["init", "1", "2", "best"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "GPO best prompt (test)" in legend
    assert "shaded: 95% interval of the mean" in legend
    assert_readable_png(save_png(fig, tmp_path / "scores.png"))


def test_budget_figure_shows_budget_chosen_and_candidates(tmp_path):
    with_lr = BudgetPanel(
        "GPO",
        Series("K", [1, 2, 3], [50, 30, 10]),
        Series("chosen candidate", [1, 2, 3], [12, 8, 4]),
        [1, 1, 2, 2, 3, 3],
        [12, 40, 8, 9, 4, 30],
    )
    without = BudgetPanel("APE", None, Series("chosen candidate", [1], [7]), [1, 1], [7, 9])
    fig = budget_figure("Word budget", [with_lr, without])
    ax_gpo, ax_ape = fig.axes[:2]
    assert [line.get_label() for line in ax_gpo.get_lines()] == [
        "chosen candidate",
        "word budget K (learning rate)",
    ]
    assert list(ax_gpo.get_lines()[1].get_ydata()) == [50, 50, 30, 30, 10, 10]
    # 40 > 50? no; 9 > 30? no; 30 > 10: one candidate over budget
    assert ax_gpo.get_title() == "GPO\n1 of 6 candidates over budget"  # above, not on the plot
    assert [t.get_text() for t in ax_gpo.get_xticklabels()] == ["1", "2", "3"]
    [dots] = [c for c in ax_gpo.collections if isinstance(c, PathCollection)]
    assert len(dots.get_offsets()) == 6
    assert len(ax_ape.get_lines()) == 1
    assert ax_ape.get_title() == "APE\nno word budget (wo_lr)"
    for ax in (ax_gpo, ax_ape):
        assert ax.get_xlabel() == "optimization step"
        assert ax.get_ylabel() == "words changed (word edit distance)"
    assert_readable_png(save_png(fig, tmp_path / "budget.png"))


def test_usage_figure_bars_per_role(tmp_path):
    fig = usage_figure(
        "Usage",
        ["init", "1", "final"],
        {"scorer": [8, 16, 4], "optimizer": [0, 2, 0]},
        {"scorer": [800, 1600, 400], "optimizer": [0, 900, 0]},
        "step",
    )
    ax_req, ax_tok = fig.axes
    assert ax_req.get_ylabel() == "model requests" and ax_tok.get_ylabel() == "tokens"
    assert ax_req.get_xlabel() == "step"
    heights = sorted(p.get_height() for p in ax_req.patches)
    assert heights == [0, 0, 2, 4, 8, 16]
    assert [t.get_text() for t in ax_req.get_legend().get_texts()] == ["scorer", "optimizer"]
    assert_readable_png(save_png(fig, tmp_path / "usage.png"))


def test_score_axes_span_0_to_100_whatever_the_scores(tmp_path):
    """A run scoring 0 everywhere draws its line on the floor of a 0..100 axis (not in the middle
    of -0.04..0.04), and so does every other score plot: the run's, the experiment's panels and
    the score against scorer calls."""
    zeros = [Series("GPO", [0, 1, 2], [0, 0, 0])]
    panel = ScorePanel("navigate", zeros, [Series("GPO", [0], [0])], [Series("GPO", [3], [0])], 2)
    banded = [Series("GPO", [0, 1], [50, 98], [40, 90], [60, 106])]  # a band past 100: clipped
    figures = {
        "scores.png": score_figure("all zero", zeros, n_steps=2),
        "panels.png": score_panels_figure("grid", [panel, ScorePanel("x", banded, n_steps=0)]),
        "calls.png": calls_figure("calls", [Series("navigate", [4, 8, 12], [0, 0, 0])]),
    }
    assert 0 < SCORE_AXIS_MARGIN <= 5
    for name, fig in figures.items():
        for ax in fig.axes:
            assert ax.get_ylim() == (-SCORE_AXIS_MARGIN, 100 + SCORE_AXIS_MARGIN), name
        assert_readable_png(save_png(fig, tmp_path / name))


def test_mean_calls_series_holds_each_runs_best_and_starts_at_its_first_point():
    from gpo.reports.series import mean_calls_series
    from gpo.results.reading import TaskLog

    def record(calls: int, score: float, kind: str | None = None) -> dict:
        usage = {"roles": {"scorer": {"requests": calls, "cache_hits": 0}}}
        r = {"usage": usage, "chosen": {"eval_score": score}}
        return {"usage": usage, "eval_score": score, "kind": kind} if kind else r

    # run a: 10 calls to 0.2, +10 to 0.6, then a worse step (best holds); run b: 20 calls to
    # 0.4, +30 to 1.0 (ends at 50)
    a = TaskLog("t", record(10, 0.2, "initial"), (record(10, 0.6), record(10, 0.1)), None)
    b = TaskLog("t", record(20, 0.4, "initial"), (record(30, 1.0),), None)
    s = mean_calls_series("m", [a, b])
    at = dict(zip(s.x, s.y))
    assert s.x[0] == 10 and s.x[-1] == 50
    assert at[10] == pytest.approx(20.0)  # only run a has started
    assert at[20] == pytest.approx((60 + 40) / 2)
    assert at[30] == pytest.approx((60 + 40) / 2)  # a's worse step does not lower its best
    assert at[50] == pytest.approx((60 + 100) / 2)  # a held at its best after its end
    assert mean_calls_series("m", []) is None
