"""First-order momentum: the update direction built from history (GPO_REFERENCE 5.3 steps 2-3).

GPO's analogue of momentum keeps past parameters (prompts, ``para``) or past gradients
(feedback texts, ``feedback``) and feeds them to the next update in one of two ways:

* ``k-list``: show k selected history items (:mod:`gpo.optimization.selection`). For ``para``
  this is the k-list string of prompts with scores; for ``feedback`` the selected gradient
  texts joined by blank lines (no header).
* ``real-time``: keep one running summary that the optimizer LLM (greedy) merges with the newest
  item at every step, like an exponential moving average.

Every momentum implements one protocol, ``apply(MomentumContext) -> MomentumResult``: its text,
its new buffer and its own results_dict.json entries. All state is explicit: the caller keeps the
buffers (``ScoredPrompt`` / ``str``) and the histories, plain JSON-serialisable dataclasses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, Union

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
from gpo.results.records import LogEntry

log = logging.getLogger(__name__)

PARA_NAMES = ("para", "feedback")  # --momentum_para_name: momentum over prompts or gradients
UPDATE_NAMES = ("k-list", "real-time")


def _greedy(max_tokens: int) -> GenerationParams:
    """The real-time summaries are asked at temperature 0 (GPO_REFERENCE 6)."""
    return GenerationParams(temperature=0.0, max_tokens=max_tokens)


@dataclass(frozen=True)
class MomentumContext:
    """What a momentum may read at step (epoch, step): the histories, its buffer, the current
    prompt U with its shown eval score, the optimizer LLM and how to score a prompt on eval."""

    llm: LLM
    trajectory: Sequence[TrajectoryEntry]
    gradients: Sequence[GradientEntry]  # the newest one is this step's gradient
    para_buffer: ScoredPrompt | None
    gradient_buffer: str | None
    current_prompt: str
    current_score: float
    score_prompt: Callable[[str], float] | None
    epoch: int
    step: int


@dataclass(frozen=True)
class MomentumResult:
    """What a momentum gives the update: ``text`` (the k-list string of prompts, or the gradient
    text in use), its new ``buffer`` (real-time only; None for k-list, which keeps none) and its
    own results_dict.json entries."""

    text: str | None
    buffer: ScoredPrompt | str | None
    log: tuple[LogEntry, ...]


class Momentum(Protocol):
    """Every momentum, over prompts (para) or gradients (feedback), k-list or real-time."""

    def apply(self, ctx: MomentumContext) -> MomentumResult: ...


def _entry(ctx: MomentumContext, key: str, *fields: object) -> LogEntry:
    return LogEntry(key, fields, ctx.epoch, ctx.step)


@dataclass(frozen=True)
class KListParaMomentum:
    """k-list over the trajectory (the GPO configuration: relevance, k = 3)."""

    selection: Selection
    k: int
    scores_as_percent: bool = False

    def apply(self, ctx: MomentumContext) -> MomentumResult:
        selected = self.selection.select(ctx.trajectory, self.k)
        items = [ScoredPrompt(e.prompt, e.score) for e in selected]
        text = k_list_string(items, scores_as_percent=self.scores_as_percent)
        chosen = [[e.prompt, e.score] for e in selected]
        return MomentumResult(text, None, (_entry(ctx, "selected_para_history_list", chosen),))


@dataclass(frozen=True)
class KListFeedbackMomentum:
    """k-list over the gradient history; the gradient in use becomes the joined texts.

    The newest gradient's improvement is not known yet (its step has not chosen), so importance
    keeps it first and ranks only the older gradients."""

    selection: Selection
    k: int

    def apply(self, ctx: MomentumContext) -> MomentumResult:
        selected = self.selection.select(ctx.gradients, self.k, newest_pending=True)
        entry = _entry(ctx, "selected_gradient_history_list", [g.text for g in selected])
        return MomentumResult("\n\n".join(e.text for e in selected), None, (entry,))


@dataclass(frozen=True)
class RealTimeParaMomentum:
    """Running summary prompt, merged with the current prompt by the optimizer at temperature 0.

    Bug 10.13 is optional: the original scores U instead of the summary. ``score_summary=True``
    (our default, the fix) scores the summary with the context's ``score_prompt`` (eval split);
    ``False`` reproduces the original and needs no callback (the momentum gets U's score).
    The first call sets the momentum to (U, round(score, 2)) without a request. ``text`` is
    None: the update shows the buffer itself.
    """

    score_summary: bool = True
    scores_as_percent: bool = False
    max_tokens: int = OPTIMIZER_MAX_TOKENS  # --optimizer_max_tokens

    def apply(self, ctx: MomentumContext) -> MomentumResult:
        current = ScoredPrompt(ctx.current_prompt, round(ctx.current_score, 2))
        if ctx.para_buffer is None:
            return MomentumResult(None, current, (_texts_entry(ctx, current),))
        meta_prompt = realtime_para_momentum_prompt(
            ctx.para_buffer, current, scores_as_percent=self.scores_as_percent
        )
        summary = parse_candidate(ask(ctx.llm, meta_prompt, _greedy(self.max_tokens)))
        if self.score_summary:
            if ctx.score_prompt is None:
                raise ValueError("score_summary=True needs a score_prompt callback")
            score = ctx.score_prompt(summary)
        else:  # bug 10.13 kept on request: the summary is given U's score
            score = ctx.current_score
        buffer = ScoredPrompt(summary, round(score, 2))
        log = (_entry(ctx, "meta_fo_momentum_para_prompts", meta_prompt), _texts_entry(ctx, buffer))
        return MomentumResult(None, buffer, log)


def _texts_entry(ctx: MomentumContext, buffer: ScoredPrompt) -> LogEntry:
    return _entry(ctx, "meta_fo_momentum_para_texts", buffer.prompt, buffer.score)


@dataclass(frozen=True)
class RealTimeFeedbackMomentum:
    """Running summary of problems: earlier momentum merged with the newest gradient (greedy).

    The first call sets the momentum to the gradient without a request; the momentum is also
    the gradient text in use.
    """

    max_tokens: int = OPTIMIZER_MAX_TOKENS  # --optimizer_max_tokens

    def apply(self, ctx: MomentumContext) -> MomentumResult:
        gradient = ctx.gradients[-1].text
        if ctx.gradient_buffer is None:
            texts = _entry(ctx, "meta_fo_momentum_gradient_texts", gradient)
            return MomentumResult(gradient, gradient, (texts,))
        meta_prompt = realtime_gradient_momentum_prompt(ctx.gradient_buffer, gradient)
        merged = parse_candidate(ask(ctx.llm, meta_prompt, _greedy(self.max_tokens)))
        log = (
            _entry(ctx, "meta_fo_momentum_gradient_prompts", meta_prompt),
            _entry(ctx, "meta_fo_momentum_gradient_texts", merged),
        )
        return MomentumResult(merged, merged, log)


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
