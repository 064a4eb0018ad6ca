"""Figures of a run or an experiment: score per step, word budget (the learning rate) against the
measured edit distance, and requests/tokens per role.

Figures are built with ``matplotlib.figure.Figure`` (the Agg canvas; pyplot is never imported, so
nothing is ever shown and no global backend state is touched) and written to PNG files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from gpo.results.records import KEPT_CURRENT_PROMPT

ROLE_COLORS = {"scorer": "#1f77b4", "optimizer": "#ff7f0e"}
SCORE_AXIS_MARGIN = 4.0  # score axes span -4..104: points on 0 and 100 stay whole


# The legend entry of the kept-prompt marker (wrapped to fit the legend column).
KEPT_LEGEND = KEPT_CURRENT_PROMPT.replace(" (", "\n(").replace(" 0.0 in", "\n0.0 in")
KEPT_IN_A_RUN_LEGEND = KEPT_LEGEND + "\nin at least one run; the mean uses\nits stored score"
KEPT_MARKER = "D"  # a hollow diamond on the eval line


@dataclass(frozen=True)
class Series:
    """One line: y over x, with an optional band (low, high) around it.

    ``kept_x``/``kept_y``: the points of steps that kept the current prompt (the step log's
    placeholder 0.0), already at the prompt's stored eval score; drawn with ``KEPT_MARKER``
    and ``kept_label`` in the legend.
    """

    label: str
    x: Sequence[float]
    y: Sequence[float]
    low: Sequence[float] | None = None
    high: Sequence[float] | None = None
    kept_x: Sequence[float] = ()
    kept_y: Sequence[float] = ()
    kept_label: str = KEPT_LEGEND


@dataclass(frozen=True)
class BudgetPanel:
    """Word budget K per step against the word edit distance of the chosen and all candidates."""

    title: str
    budget: Series | None  # None without a word budget (wo_lr)
    chosen: Series
    candidates_x: Sequence[float]
    candidates_y: Sequence[float]


@dataclass(frozen=True)
class ScorePanel:
    """What one score plot draws: eval lines, test lines, best points and the step count."""

    title: str
    eval_lines: Sequence[Series]
    test_lines: Sequence[Series] = ()
    best_points: Sequence[Series] = ()
    n_steps: int = 0


@dataclass(frozen=True)
class CallsPanel:
    """Best eval score so far against cumulative scorer calls, one (banded) line per method."""

    title: str
    lines: Sequence[Series]


def score_figure(
    title: str,
    eval_lines: Sequence[Series],
    test_lines: Sequence[Series] = (),
    best_points: Sequence[Series] = (),
    n_steps: int = 0,
) -> Figure:
    """Eval score of the chosen prompt per step (solid, with its band), test where measured
    (dashed), and the test score of the final best prompt at the "best" position (stars)."""
    fig = Figure(figsize=(9.5, 4.5), layout="constrained")
    ax = fig.add_subplot()
    draw_scores(ax, ScorePanel(title, eval_lines, test_lines, best_points, n_steps))
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: no overlap
    return fig


def method_colors(panels: Sequence[ScorePanel], calls: Sequence[CallsPanel] = ()) -> dict[str, str]:
    """One colour per method label across every panel (a method drawn only against scorer
    calls, such as GEPA, gets its own too)."""
    colors: dict[str, str] = {}
    for panel in panels:
        for s in [*panel.eval_lines, *panel.best_points]:
            colors.setdefault(s.label, f"C{len(colors) % 10}")
    for c in calls:
        for s in c.lines:
            colors.setdefault(s.label, f"C{len(colors) % 10}")
    return colors


def score_panels_figure(
    title: str, panels: Sequence[ScorePanel], calls: Sequence[CallsPanel] = ()
) -> Figure:
    """Several score plots side by side (one per experiment), one shared legend below them;
    with ``calls``, a second row of best-score-vs-scorer-calls panels under them."""
    rows = 2 if calls else 1
    # never narrower than the two-line title and the four-column legend (one panel cut both)
    width = max(5.2 * len(panels), 9.0)
    fig = Figure(figsize=(width, 5.4 + 4.0 * (rows - 1)), layout="constrained")
    grid = fig.subplots(rows, len(panels), squeeze=False)
    axes = grid[0]
    legend: dict[str, object] = {}
    colors = method_colors(panels, calls)
    for ax, panel in zip(grid[1] if calls else (), calls):
        draw_calls(ax, panel, colors)
    for ax, panel in zip(axes, panels):
        draw_scores(ax, panel, compact=True, colors=colors)
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label == KEPT_IN_A_RUN_LEGEND:  # the long form is the single plot's
                label = "kept the current prompt (in at least one run)"
            legend.setdefault(label, handle)
    fig.suptitle(title, fontsize=10 if calls else None)
    fig.legend(list(legend.values()), list(legend), loc="outside lower center", ncol=4, fontsize=8)
    return fig


def draw_scores(
    ax: Axes, panel: ScorePanel, compact: bool = False, colors: dict[str, str] | None = None
) -> None:
    """One score plot on ``ax`` (``compact``: a short x label, for side-by-side panels;
    ``colors``: each series label's colour, else by position)."""
    colors = {**(colors or {}), **plot_eval_lines(ax, panel.eval_lines, colors)}
    for s in panel.test_lines:
        ax.plot(
            s.x,
            s.y,
            ls="--",
            marker="s",
            ms=5,
            mfc="none",
            color=colors.get(s.label, "k"),
            label=f"{s.label} (test)",
        )
    plot_best_points(ax, panel.best_points, colors)
    n_steps = panel.n_steps
    ticks = list(range(n_steps + 2))
    ax.set_xticks(ticks, ["init", *[str(t) for t in range(1, n_steps + 1)], "best"])
    if n_steps > 20:  # thin the labels of long runs
        for k, label in enumerate(ax.get_xticklabels()):
            label.set_visible(k in (0, n_steps + 1) or k % 5 == 0)
    ax.set_xlabel(
        "step (init: initial prompt; best: final prompt, test)"
        if compact
        else "optimization step (init = initial prompt, best = final best-on-eval prompt)"
    )
    ax.set_ylabel("score x100")
    score_axis(ax)
    ax.set_title(panel.title, fontsize=10 if compact else None)
    ax.grid(alpha=0.3)


def plot_eval_lines(
    ax: Axes, eval_lines: Sequence[Series], fixed: dict[str, str] | None = None
) -> dict[str, str]:
    """One solid line per series, its band shaded (the band's legend entry once); returns each
    label's colour, which its test line and best point reuse."""
    colors = {}
    banded = False
    kept_labels: set[str] = set()
    for i, s in enumerate(eval_lines):
        color = (fixed or {}).get(s.label, f"C{i % 10}")
        (line,) = ax.plot(s.x, s.y, marker="o", ms=3, label=f"{s.label} (eval)", color=color)
        colors[s.label] = line.get_color()
        if s.kept_x:
            _kept_markers(ax, s.kept_x, s.kept_y, line.get_color(), None)
            kept_labels.add(s.kept_label)
        if s.low is not None and s.high is not None:
            ax.fill_between(
                s.x,
                s.low,
                s.high,
                color=line.get_color(),
                alpha=0.15,
                lw=0,
                label=None if banded else "shaded: 95% interval of the mean",
            )
            banded = True
    for label in sorted(kept_labels):  # one legend entry each, in a neutral colour
        _kept_markers(ax, [], [], "0.25", label)
    return colors


def _kept_markers(
    ax: Axes, x: Sequence[float], y: Sequence[float], color: str, label: str | None
) -> None:
    """Hollow diamonds at the kept-prompt steps (an empty one is the legend's entry)."""
    ax.plot(
        x,
        y,
        ls="none",
        marker=KEPT_MARKER,
        ms=8,
        mfc="white",
        mec=color,
        mew=1.8,
        zorder=3,
        label=label if label is not None else "_nolegend_",
    )


def plot_best_points(ax: Axes, best_points: Sequence[Series], colors: dict[str, str]) -> None:
    """Stars with their interval, side by side at the "best" position."""
    for k, s in enumerate(best_points):
        shift = 0.08 * (k - (len(best_points) - 1) / 2)  # side by side, not on top of each other
        yerr = None
        if s.low is not None and s.high is not None:
            yerr = [[y - lo for y, lo in zip(s.y, s.low)], [hi - y for y, hi in zip(s.y, s.high)]]
        ax.errorbar(
            [x + shift for x in s.x],
            s.y,
            yerr=yerr,
            fmt="*",
            ms=11,
            capsize=3,
            color=colors.get(s.label, "k"),
            label=f"{s.label} best prompt (test)",
            ls="none",
        )


def step_outline(x: Sequence[float], y: Sequence[float]) -> tuple[list[float], list[float]]:
    """A staircase through (x, y): each value held over [x - 0.5, x + 0.5], so that even a single
    step shows as a segment."""
    xs: list[float] = []
    ys: list[float] = []
    for xi, yi in zip(x, y):
        xs += [xi - 0.5, xi + 0.5]
        ys += [yi, yi]
    return xs, ys


def over_budget(panel: BudgetPanel) -> int:
    """Candidates whose word edit distance exceeds the step's budget K."""
    if panel.budget is None:
        return 0
    limit = dict(zip(panel.budget.x, panel.budget.y))
    return sum(
        1 for x, y in zip(panel.candidates_x, panel.candidates_y) if x in limit and y > limit[x]
    )


def budget_figure(title: str, panels: Sequence[BudgetPanel]) -> Figure:
    """One panel per method/run: does the optimizer obey the learning rate (word budget K)?"""
    n = len(panels)
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    fig = Figure(figsize=(4.4 * cols + 0.6, 3.6 * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, p in zip(axes.flat, panels):
        ax.scatter(
            p.candidates_x, p.candidates_y, s=14, color="0.55", alpha=0.6, label="all candidates"
        )
        ax.plot(p.chosen.x, p.chosen.y, marker="o", ms=5, color="C0", label=p.chosen.label)
        if p.budget is not None:
            ax.plot(
                *step_outline(p.budget.x, p.budget.y),
                color="C3",
                lw=2,
                label="word budget K (learning rate)",
            )
            note = f"{over_budget(p)} of {len(p.candidates_y)} candidates over budget"
        else:
            note = "no word budget (wo_lr)"
        steps = [*p.candidates_x, *p.chosen.x]
        if steps:
            first, last = int(min(steps)), int(max(steps))
            ax.set_xlim(first - 0.7, last + 0.7)
            if last - first <= 20:
                ax.set_xticks(range(first, last + 1))
            else:
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        top = max([*p.candidates_y, *p.chosen.y, *(p.budget.y if p.budget else [])], default=1)
        ax.set_ylim(0, top * 1.3 + 1)  # room for the legend
        ax.set_title(f"{p.title}\n{note}", fontsize=10)  # the note above the plot: no overlap
        ax.set_xlabel("optimization step")
        ax.set_ylabel("words changed (word edit distance)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper right")
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle(title)
    return fig


def usage_figure(
    title: str,
    categories: Sequence[str],
    requests: dict[str, Sequence[float]],
    tokens: dict[str, Sequence[float]],
    xlabel: str,
) -> Figure:
    """Grouped bars per role: model requests (left) and prompt+completion tokens (right)."""
    fig = Figure(figsize=(max(7.5, 0.35 * len(categories) * 2 + 3), 4.2), layout="constrained")
    ax_req, ax_tok = fig.subplots(1, 2)
    roles = [r for r in ROLE_COLORS if r in requests] + [
        r for r in requests if r not in ROLE_COLORS
    ]
    width = 0.8 / max(1, len(roles))
    xs = range(len(categories))
    for ax, values, ylabel in ((ax_req, requests, "model requests"), (ax_tok, tokens, "tokens")):
        for k, role in enumerate(roles):
            offset = (k - (len(roles) - 1) / 2) * width
            ax.bar(
                [x + offset for x in xs],
                values[role],
                width,
                label=role,
                color=ROLE_COLORS.get(role, f"C{k + 2}"),
            )
        ax.set_xticks(
            list(xs),
            list(categories),
            rotation=45 if len(categories) > 8 else 0,
            ha="right" if len(categories) > 8 else "center",
            fontsize=8,
        )
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    ax_req.set_title("requests sent to the model (cache hits excluded)", fontsize=9)
    ax_tok.set_title("prompt + completion tokens", fontsize=9)
    fig.suptitle(title)
    return fig


def score_axis(ax: Axes) -> None:
    """Scores live in 0..100: the y axis always shows that range (a small margin each side), so
    a run scoring 0 everywhere draws a line on the floor, not in the middle of -0.04..0.04."""
    ax.set_ylim(-SCORE_AXIS_MARGIN, 100 + SCORE_AXIS_MARGIN)


def save_png(fig: Figure, path: Path) -> Path:
    """Write the figure as PNG (atomically: a partial file never replaces a good one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, dpi=110, format="png")
    tmp.replace(path)
    return path


def draw_calls(ax: Axes, panel: CallsPanel, colors: dict[str, str]) -> None:
    """A best-score-vs-scorer-calls panel: each method's mean line (a staircase: the best so far
    holds between calls) with its band; its own legend of method names."""
    for k, s in enumerate(panel.lines):
        color = colors.get(s.label, f"C{k % 10}")
        ax.step(s.x, s.y, where="post", color=color, lw=1.8, label=s.label)
        if s.low is not None and s.high is not None:
            ax.fill_between(s.x, s.low, s.high, step="post", color=color, alpha=0.12, lw=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("cumulative scorer calls per run (requests + cache hits)")
    ax.set_ylabel("best eval score so far x100")
    score_axis(ax)
    ax.set_title(panel.title, fontsize=10)
    ax.grid(alpha=0.3)
    if panel.lines:
        ax.legend(fontsize=7, loc="lower right")


def calls_panels_figure(title: str, panels: Sequence[CallsPanel]) -> Figure:
    """Best-score-vs-scorer-calls panels side by side."""
    fig = Figure(figsize=(max(7.0, 5.2 * len(panels)), 4.4), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    colors = method_colors((), panels)
    for ax, panel in zip(axes, panels):
        draw_calls(ax, panel, colors)
    fig.suptitle(title)
    return fig


def calls_figure(title: str, lines: Sequence[Series]) -> Figure:
    """Best eval score so far (y) against cumulative scorer calls (x), one line per task: what a
    budget of scorer calls buys. Each point is the end of the initial evaluation, of a step or
    of the final test scoring."""
    fig = Figure(figsize=(8.5, 4.2), layout="constrained")
    ax = fig.add_subplot()
    for k, s in enumerate(lines):
        ax.step(s.x, s.y, where="post", color=f"C{k}", label=s.label)
        ax.plot(s.x, s.y, "o", ms=4, color=f"C{k}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("cumulative scorer calls (model requests + cache hits)")
    ax.set_ylabel("best eval score so far x100")
    score_axis(ax)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(lines) > 1 or (lines and lines[0].label):
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig
