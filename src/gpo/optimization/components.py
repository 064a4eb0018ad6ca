"""The GPO components of one run, built from the config (the optimizer's composition root).

Each field is one ingredient of the paper's analogy: the gradient (feedback), the momentum over
parameters or gradients, the step-size schedule, the learning-rate text and the update strategy.
``validate_components`` checks the combination; the run's preflight (``gpo.runs.preflight``) calls
it once, before any model loads, so ``build_components`` only builds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from gpo.config import OptimizerConfig, ScoringConfig
from gpo.data.base import Example
from gpo.errors import ConfigError
from gpo.llm.base import GenerationParams
from gpo.llm.embedder import Embedder
from gpo.names import OFF
from gpo.optimization.gradient import FeedbackGradient
from gpo.optimization.learning_rate import LearningRate
from gpo.optimization.momentum import (
    FeedbackMomentum,
    ParaMomentum,
    build_feedback_momentum,
    build_para_momentum,
)
from gpo.optimization.step_size import StepSizeSchedule
from gpo.optimization.update import UpdateStrategy, validate_combination

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Components:
    gradient: FeedbackGradient | None
    feedback_momentum: FeedbackMomentum | None
    para_momentum: ParaMomentum | None
    schedule: StepSizeSchedule | None
    learning_rate: LearningRate
    update: UpdateStrategy


def needs_embedder(o: OptimizerConfig) -> bool:
    return (
        o.momentum_selection_name == "relavance"
        and o.momentum_update_name == "k-list"
        and (o.momentum_para_name != "-")
    )


def validate_components(o: OptimizerConfig, s: ScoringConfig) -> None:
    """Every flag combination that crashed the original is rejected with the fix (10.11, 10.12);
    combinations that the original silently ran without momentum are logged as warnings."""
    problems = validate_combination(
        o.util_gradient_name,
        o.gradient_name,
        s.instruction_pos,
        s.include_qa,
        o.learning_rate_name,
        o.decay_strategy,
    )
    if problems:
        raise ConfigError("; ".join(problems))
    if o.enforce_step_size and o.learning_rate_name != "w_lr":
        raise ConfigError(
            f"--enforce_step_size needs a word budget K, and --learning_rate_name="
            f"{o.learning_rate_name} has none: use --learning_rate_name=w_lr with a "
            "--decay_strategy, or drop --enforce_step_size"
        )
    for problem in momentum_warnings(o):
        log.warning("%s", problem)


def momentum_warnings(o: OptimizerConfig) -> list[str]:
    """Momentum flags that have no effect (the original ignores them the same way)."""
    out = []
    if o.momentum_para_name == "feedback" and o.gradient_name != "feedback":
        out.append("--momentum_para_name=feedback has no effect without --gradient_name=feedback")
    if o.momentum_para_name != "-" and o.momentum_update_name == "-":
        out.append(
            f"--momentum_para_name={o.momentum_para_name} has no effect without "
            "--momentum_update_name=k-list or real-time"
        )
    if o.momentum_update_name == "k-list" and o.momentum_selection_name == "-":
        out.append(
            "--momentum_update_name=k-list has no effect without "
            "--momentum_selection_name=recency, relavance or importance"
        )
    return out


def step_size_schedule(o: OptimizerConfig) -> StepSizeSchedule | None:
    """The word budget's schedule: ``w_lr`` with a decay strategy, else None (``wo_lr``)."""
    if o.learning_rate_name != "w_lr" or o.decay_strategy == OFF:
        return None
    return StepSizeSchedule(
        o.decay_strategy,
        o.initial_step_size,
        o.final_step_size,
        o.use_warmup_strategy,
        o.warmup_steps,
    )


def _momenta(
    o: OptimizerConfig, embedder: Embedder | None, max_tokens: int
) -> tuple[FeedbackMomentum | None, ParaMomentum | None]:
    """(feedback momentum, para momentum) for ``--momentum_para_name`` (at most one is set)."""
    update, selection, k = (
        o.momentum_update_name,
        o.momentum_selection_name,
        o.momentum_selection_num,
    )
    if o.momentum_para_name == "feedback":
        return build_feedback_momentum(update, selection, k, embedder, max_tokens), None
    if o.momentum_para_name == "para":
        para = build_para_momentum(
            update,
            selection,
            k,
            embedder,
            scores_as_percent=o.scores_as_percent,
            max_tokens=max_tokens,
        )
        return None, para
    return None, None


def build_components(
    o: OptimizerConfig,
    s: ScoringConfig,
    exemplars: tuple[Example, ...],
    embedder: Embedder | None,
    optimizer_max_tokens: int = 512,
) -> Components:
    """The task's components (the run's validation has checked the combination)."""
    gradient = None
    if o.gradient_name == "feedback":
        gradient = FeedbackGradient(
            GenerationParams(temperature=0.0, max_tokens=optimizer_max_tokens)
        )
    feedback_momentum, para_momentum = _momenta(o, embedder, optimizer_max_tokens)
    update = UpdateStrategy(
        o.util_gradient_name, exemplars, s.instruction_pos, s.include_qa, o.scores_as_percent
    )
    return Components(
        gradient,
        feedback_momentum,
        para_momentum,
        step_size_schedule(o),
        LearningRate(o.learning_rate_name),
        update,
    )
