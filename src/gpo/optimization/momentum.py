"""First-order momentum: the update direction built from history (GPO_REFERENCE 5.3 steps 2-3).

GPO's analogue of momentum keeps past parameters (prompts, ``para``) or past gradients
(feedback texts, ``feedback``) and feeds them to the next update in one of two ways:

* ``k-list``: show k selected history items (:mod:`gpo.optimization.selection`). For ``para``
  this is the k-list string of prompts with scores; for ``feedback`` the selected gradient
  texts joined by blank lines (no header).
* ``real-time``: keep one running summary that the optimizer LLM (greedy) merges with the newest
  item at every step, like an exponential moving average.

All state is explicit: the caller keeps the buffers (``ScoredPrompt`` / ``str``) and the
histories, which are plain, JSON-serialisable dataclasses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Union

from gpo.errors import ConfigError
from gpo.llm.base import LLM, GenerationParams
from gpo.llm.embedder import Embedder
from gpo.optimization.meta_prompts import (
    ScoredPrompt,
    k_list_string,
    realtime_gradient_momentum_prompt,
    realtime_para_momentum_prompt,
)
from gpo.optimization.proposal import OPTIMIZER_MAX_TOKENS, ask, parse_candidate
from gpo.optimization.selection import (
    GradientEntry,
    Selection,
    TrajectoryEntry,
    build_selection,
)

log = logging.getLogger(__name__)

PARA_NAMES = ("para", "feedback")  # --momentum_para_name: momentum over prompts or gradients
UPDATE_NAMES = ("k-list", "real-time")


def _greedy(max_tokens: int) -> GenerationParams:
    """The real-time summaries are asked at temperature 0 (GPO_REFERENCE 6)."""
    return GenerationParams(temperature=0.0, max_tokens=max_tokens)


@dataclass(frozen=True)
class ParaKList:
    """The selected trajectory entries and their k-list string (block 2 of the meta-prompt)."""

    selected: tuple[TrajectoryEntry, ...]
    text: str


@dataclass(frozen=True)
class FeedbackKList:
    """The selected gradients and the gradient text in use (texts joined by blank lines)."""

    selected: tuple[GradientEntry, ...]
    text: str


@dataclass(frozen=True)
class RealTimePara:
    """The new para momentum buffer and the summary request sent (None at the first call)."""

    momentum: ScoredPrompt
    meta_prompt: str | None


@dataclass(frozen=True)
class RealTimeFeedback:
    """The new gradient momentum (also the gradient in use) and the request sent, if any."""

    momentum: str
    meta_prompt: str | None


@dataclass(frozen=True)
class KListParaMomentum:
    """k-list over the trajectory (the GPO configuration: relevance, k = 3)."""

    selection: Selection
    k: int
    scores_as_percent: bool = False

    def apply(self, trajectory: Sequence[TrajectoryEntry]) -> ParaKList:
        selected = tuple(self.selection.select(trajectory, self.k))
        items = [ScoredPrompt(e.prompt, e.score) for e in selected]
        return ParaKList(selected, k_list_string(items, scores_as_percent=self.scores_as_percent))


@dataclass(frozen=True)
class KListFeedbackMomentum:
    """k-list over the gradient history; the gradient in use becomes the joined texts."""

    selection: Selection
    k: int

    def apply(self, gradients: Sequence[GradientEntry]) -> FeedbackKList:
        selected = tuple(self.selection.select(gradients, self.k))
        return FeedbackKList(selected, "\n\n".join(e.text for e in selected))


@dataclass(frozen=True)
class RealTimeParaMomentum:
    """Running summary prompt, merged with the current prompt by the optimizer at temperature 0.

    Bug 10.13 is optional: the original scores U instead of the summary. ``score_summary=True``
    (our default, the fix) scores the summary with the ``score_prompt`` callback (eval split);
    ``False`` reproduces the original and needs no callback (the momentum gets U's score).
    The first call sets the momentum to (U, round(score, 2)) without a request.
    """

    score_summary: bool = True
    scores_as_percent: bool = False
    max_tokens: int = OPTIMIZER_MAX_TOKENS  # --optimizer_max_tokens

    def apply(
        self,
        llm: LLM,
        momentum: ScoredPrompt | None,
        current_prompt: str,
        current_score: float,
        score_prompt: Callable[[str], float] | None = None,
    ) -> RealTimePara:
        if momentum is None:
            return RealTimePara(ScoredPrompt(current_prompt, round(current_score, 2)), None)
        current = ScoredPrompt(current_prompt, round(current_score, 2))
        meta_prompt = realtime_para_momentum_prompt(
            momentum, current, scores_as_percent=self.scores_as_percent
        )
        summary = parse_candidate(ask(llm, meta_prompt, _greedy(self.max_tokens)))
        if self.score_summary:
            if score_prompt is None:
                raise ValueError("score_summary=True needs a score_prompt callback")
            score = score_prompt(summary)
        else:  # bug 10.13 kept on request: the summary is given U's score
            score = current_score
        return RealTimePara(ScoredPrompt(summary, round(score, 2)), meta_prompt)


@dataclass(frozen=True)
class RealTimeFeedbackMomentum:
    """Running summary of problems: earlier momentum merged with the newest gradient (greedy).

    The first call sets the momentum to the gradient without a request.
    """

    max_tokens: int = OPTIMIZER_MAX_TOKENS  # --optimizer_max_tokens

    def apply(self, llm: LLM, momentum: str | None, gradient: str) -> RealTimeFeedback:
        if momentum is None:
            return RealTimeFeedback(gradient, None)
        meta_prompt = realtime_gradient_momentum_prompt(momentum, gradient)
        merged = parse_candidate(ask(llm, meta_prompt, _greedy(self.max_tokens)))
        return RealTimeFeedback(merged, meta_prompt)


ParaMomentum = Union[KListParaMomentum, RealTimeParaMomentum]
FeedbackMomentum = Union[KListFeedbackMomentum, RealTimeFeedbackMomentum]


def _k_list_selection(selection_name: str, embedder: Embedder | None) -> Selection | None:
    return None if selection_name == "-" else build_selection(selection_name, embedder)


def build_para_momentum(
    update_name: str,
    selection_name: str,
    k: int,
    embedder: Embedder | None = None,
    *,
    scores_as_percent: bool = False,
    score_summary: bool = True,
    max_tokens: int = OPTIMIZER_MAX_TOKENS,
) -> ParaMomentum | None:
    """Momentum over the trajectory, or None when off (update ``-``, or k-list without a
    selection method: the original builds no momentum object then, 5.2)."""
    if update_name == "-":
        return None
    if check_update_name(update_name) == "real-time":
        return RealTimeParaMomentum(score_summary, scores_as_percent, max_tokens)
    selection = _k_list_selection(selection_name, embedder)
    return None if selection is None else KListParaMomentum(selection, k, scores_as_percent)


def build_feedback_momentum(
    update_name: str,
    selection_name: str,
    k: int,
    embedder: Embedder | None = None,
    max_tokens: int = OPTIMIZER_MAX_TOKENS,
) -> FeedbackMomentum | None:
    """Momentum over the gradient history, or None when off (as ``build_para_momentum``)."""
    if update_name == "-":
        return None
    if check_update_name(update_name) == "real-time":
        return RealTimeFeedbackMomentum(max_tokens)
    selection = _k_list_selection(selection_name, embedder)
    return None if selection is None else KListFeedbackMomentum(selection, k)


def check_update_name(name: str) -> str:
    """Validate ``--momentum_update_name`` (``k-list`` or ``real-time``)."""
    if name not in UPDATE_NAMES:
        raise ConfigError(
            f"--momentum_update_name={name!r} is not valid; choices: {', '.join(UPDATE_NAMES)}"
        )
    return name
