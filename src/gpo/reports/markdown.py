"""Markdown pieces shared by the run and the experiment reports: a score cell, a prompt cell and
the score plot's note on steps that kept the current prompt."""

from __future__ import annotations

import math
from collections.abc import Sequence

from gpo.reports.series import kept_steps
from gpo.results.reading import TaskLog
from gpo.results.records import KEPT_CURRENT_PROMPT


def pct(v) -> str:
    """A score as x100 with one decimal; "-" when missing."""
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f}"


def quote(prompt: str, limit: int = 160) -> str:
    """A prompt as one Markdown table cell: on one line, pipes escaped, cut after ``limit``."""
    p = prompt.replace("\n", " ").replace("|", "\\|")
    p = p if len(p) <= limit else p[: limit - 1] + "…"
    return f"`{p}`" if p else "*(empty)*"


def kept_note(logs: Sequence[TaskLog]) -> str:
    """The score plot's note on kept-prompt steps ("" when no step kept the current prompt)."""
    n = sum(len(kept_steps(log)) for log in logs)
    if n == 0:
        return ""
    return (
        f" Hollow diamonds ({n} step{'s' if n > 1 else ''}): {KEPT_CURRENT_PROMPT}; drawn at that "
        "prompt's stored eval score, since the prompt did not change."
    )
