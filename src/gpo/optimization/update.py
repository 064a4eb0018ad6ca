"""The update strategy: which meta-prompt family produces candidates (GPO_REFERENCE 5.6, 10.11).

The paper distinguishes editing-based and generation-based refinement, with or without the
feedback gradient: ``edit``, ``generate``, ``edit_without`` and ``generate_without`` (GPO).
``UpdateStrategy`` fixes the task-level inputs (exemplars, instruction position) and builds a
step's meta-prompt. ``validate_combination`` lists the flag combinations the original crashes
on (10.11, 10.12), so the CLI can refuse them before any model loads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gpo.data.base import Example
from gpo.optimization import meta_prompts
from gpo.optimization.learning_rate import learning_rate_problem
from gpo.optimization.meta_prompts import (
    BUILDER_NAMES,
    GRADIENT_BUILDERS,
    CandidateInputs,
    ScoredPrompt,
    unsupported_layout_message,
)

# --util_gradient_name -> the meta-prompt builder of that name (meta_prompts owns the names)
BUILDERS: dict[str, Callable[[CandidateInputs], str]] = {
    name: getattr(meta_prompts, name) for name in BUILDER_NAMES
}


NO_METHOD_MESSAGE = (
    "no optimization method is configured (the original's defaults set none): add "
    "--preset=gpo for the paper's method (or ape, apo, opro, pe2, sgdm), or set one by hand "
    "with --util_gradient_name=generate_without|edit_without|generate|edit and, as needed, "
    "--gradient_name, --momentum_para_name, --momentum_update_name, --momentum_selection_name, "
    "--learning_rate_name and --decay_strategy; --only_evaluate scores a prompt without one"
)


def util_gradient_message(name: str) -> str:
    if name == "-":
        return NO_METHOD_MESSAGE
    return (
        f"--util_gradient_name={name!r} is not valid; set it to one of {', '.join(BUILDER_NAMES)}"
    )


@dataclass(frozen=True)
class UpdateStrategy:
    """A candidate meta-prompt builder chosen by ``--util_gradient_name`` (the combination is
    checked once, by ``validate_combination`` in the run's preflight)."""

    name: str
    exemplars: tuple[Example, ...]
    instruction_pos: str
    include_qa: bool = False
    scores_as_percent: bool = False

    @property
    def uses_gradient(self) -> bool:
        """Whether the builder shows the feedback (``*_without`` ignore it; quirk 10.11)."""
        return self.name in GRADIENT_BUILDERS

    def meta_prompt(
        self,
        current_prompt: str,
        current_score: float,
        *,
        gradient: str | None = None,
        k_list: str | None = None,
        realtime: ScoredPrompt | None = None,
    ) -> str:
        """The step's meta-prompt for the current prompt and its raw eval score."""
        inputs = CandidateInputs(
            current_prompt=current_prompt,
            current_score=current_score,
            exemplars=self.exemplars,
            instruction_pos=self.instruction_pos,
            include_qa=self.include_qa,
            k_list=k_list,
            realtime=realtime,
            gradient=gradient,
            scores_as_percent=self.scores_as_percent,
        )
        return BUILDERS[self.name](inputs)


def validate_combination(
    util_gradient_name: str,
    gradient_name: str,
    instruction_pos: str,
    include_qa: bool,
    learning_rate_name: str,
    decay_strategy: str,
) -> list[str]:
    """Messages (each naming the fix) for flag combinations that cannot run; [] if valid."""
    problems: list[str] = []
    if util_gradient_name not in BUILDERS:
        problems.append(util_gradient_message(util_gradient_name))
    elif util_gradient_name in GRADIENT_BUILDERS and gradient_name != "feedback":
        problems.append(
            f"--util_gradient_name={util_gradient_name} needs --gradient_name=feedback; "
            f"or use --util_gradient_name={util_gradient_name}_without"
        )
    layout = unsupported_layout_message(util_gradient_name, instruction_pos, include_qa)
    if layout:
        problems.append(layout)
    rate = learning_rate_problem(learning_rate_name, decay_strategy)
    if rate:
        problems.append(rate)
    return problems
