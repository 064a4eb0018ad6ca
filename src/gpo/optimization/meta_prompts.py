"""Meta-prompts: every text the GPO optimizer LLM is sent (GPO_REFERENCE 5.3-5.6).

The paper's optimizer is an LLM prompted with a *meta-prompt*. This module holds all of that
wording in one place, written in our own words from the block structure of the original:

* the feedback "gradient" prompt (error analysis of the current prompt),
* the real-time momentum prompts (gradient momentum and parameter momentum),
* the k-list string (the update direction: earlier prompts with their scores),
* the exemplar block (worked task examples with the ``<Prompt>`` slot),
* the four candidate builders (update methods): ``edit``, ``generate``, ``edit_without`` and
  ``generate_without``,
* the word-budget line (the learning rate).

Everything here is a pure function of its arguments; golden tests pin every variant verbatim.
Sections are separated by one blank line. The last line of every candidate meta-prompt is the
``<START>``/``<END>`` wrap line, so the learning rate can insert its budget line just before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gpo.data.base import Example
from gpo.errors import ConfigError

# --- shared data ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoredPrompt:
    """A prompt with the score shown next to it (also the real-time para momentum buffer)."""

    prompt: str
    score: float


@dataclass(frozen=True)
class WrongExample:
    """One train example the current prompt got wrong, as shown in the feedback prompt."""

    question: str
    prediction: str
    answer: str


POSITION_PHRASES = {
    "Q_end": "at the end of the question",
    "Q_begin": "at the beginning of the question",
    "A_begin": "at the beginning of the answer",
}

# --util_gradient_name: the four meta-prompt builders; the first two show the feedback gradient
GRADIENT_BUILDERS = ("edit", "generate")
BUILDER_NAMES = (*GRADIENT_BUILDERS, "edit_without", "generate_without")

# --- wording (our own sentences, structure per GPO_REFERENCE 5.4-5.6) ------------------------

SCORE_NOTE = "Scores go from 0 to 100; the higher the score, the better the prompt."
K_LIST_HEADER = f"Here are some earlier prompts, each with its score. {SCORE_NOTE}"
CURRENT_WITH_SCORE = f"Here is the current prompt with its score. {SCORE_NOTE}"
PREVIOUS_WITH_SCORE = f"Here is the previous prompt with its score. {SCORE_NOTE}"
CURRENT_PROMPT_INTRO = "The current prompt is:"
PROBLEMS_INTRO = "The current prompt has the following problems:"

TASK_GENERATE = (
    "Your job is to write a prompt that will be put in place of <Prompt> in the task examples "
    "below."
)
TASK_EDIT = (
    "Your job is to modify the current prompt so that it can be put in place of <Prompt> "
    "in the task examples below."
)
EXPLANATION = (
    "The examples below show how the prompt is used: <Prompt> in each input is replaced with "
    "{subject}, the input is read, and an output is produced. An output that differs from the "
    "given output counts as wrong, and an output that matches it counts as correct."
)
STUDY_PREVIOUS_PROMPTS = "Look carefully at the previous prompts and their scores, then "
STUDY_PREVIOUS_PROMPT = "Look carefully at the previous prompt and its score, then "
ACTION_GENERATE = (
    "write a new, better prompt to put in place of <Prompt> {position} in the task examples."
)
ACTION_EDIT = (
    "modify the current prompt into a better one to put in place of <Prompt> {position} "
    "in the task examples."
)
WRAP_GENERATE = "Put the new prompt between <START> and <END>."
WRAP_EDIT = "Put the modified prompt between <START> and <END>."
WORD_BUDGET = "You may change at most {k} words of the current prompt."

FEEDBACK_TASK = (
    "Your job is to find out what is wrong with the current prompt by looking at the examples "
    "it gets wrong."
)
FEEDBACK_WRONG = (
    "With this prompt, the examples below are answered wrongly. Compare each wrong prediction "
    "with its ground-truth answer, and think about why the prompt led to these mistakes."
)
FEEDBACK_HEADER = (
    "Each example below lists the question, the wrong prediction and the ground-truth answer."
)
FEEDBACK_REQUEST = (
    "Give one reason why the prompt could lead to these wrong answers, and put it between "
    "<START> and <END>."
)

GRADIENT_MOMENTUM_TASK = (
    "Your job is to combine the problems of the previous prompts with the problems of the "
    "current prompt."
)
GRADIENT_MOMENTUM_PREVIOUS = "The problems of the previous prompts are:"
GRADIENT_MOMENTUM_CURRENT = "The problems of the current prompt are:"
GRADIENT_MOMENTUM_INSTRUCTION = "Merge the two sets of problems into one summary of problems."
GRADIENT_MOMENTUM_WRAP = "Put the merged problems between <START> and <END>."

PARA_MOMENTUM_TASK = (
    "Your job is to summarise the previous prompt and the current prompt, taking their scores "
    f"into account, and to create a new prompt from them. {SCORE_NOTE}"
)
PARA_MOMENTUM_PREVIOUS = "The previous prompt with its score:"
PARA_MOMENTUM_CURRENT = "The current prompt with its score:"
PARA_MOMENTUM_INSTRUCTION = "Using both prompts and their scores, create a new prompt."
PARA_MOMENTUM_WRAP = "Put the new prompt between <START> and <END>."


# --- small renderers ------------------------------------------------------------------------


def format_score(score: float, *, as_percent: bool = False, ndigits: int | None = None) -> str:
    """Render a score for the optimizer.

    By default the raw eval fraction is printed with Python ``str`` (full float precision, or
    ``round(score, ndigits)``), although the meta-prompt announces a 0-100 scale: quirk 10.4,
    kept for parity. ``as_percent`` prints ``score * 100`` with two decimals instead.
    """
    if as_percent:
        return f"{score * 100:.2f}"
    return str(score if ndigits is None else round(score, ndigits))


def _scored_block(prompt: str, score: str) -> str:
    return f"Prompt: {prompt}\nScore: {score}"


def k_list_string(items: Sequence[ScoredPrompt], *, scores_as_percent: bool = False) -> str:
    """The para k-list: header, blank line, ``Prompt:``/``Score:`` blocks separated by blank
    lines, and a closing blank line. Scores print at full precision (quirk 10.4).

    As in the original, the blocks are joined and ``"\\n\\n"`` is always appended, so an empty
    selection gives the header followed by four newlines.
    """
    blocks = "\n\n".join(
        _scored_block(it.prompt, format_score(it.score, as_percent=scores_as_percent))
        for it in items
    )
    return f"{K_LIST_HEADER}\n\n{blocks}\n\n"


def word_budget_line(k: int) -> str:
    """The learning-rate sentence of ``w_lr`` (GPO_REFERENCE 5.3 step 6)."""
    return WORD_BUDGET.format(k=k)


def exemplar_block(exemplars: Sequence[Example], instruction_pos: str) -> str:
    """Worked examples with the ``<Prompt>`` slot, separated by blank lines.

    Answers are rendered with ``str()``, so WebNLG shows a list literal and GSM8K a number.
    """
    if instruction_pos not in POSITION_PHRASES:
        raise ConfigError(unsupported_position_message(instruction_pos))
    blocks = []
    for ex in exemplars:
        if instruction_pos == "Q_end":
            body = f"{ex.question}\n<Prompt>"
        elif instruction_pos == "Q_begin":
            body = f"<Prompt>\n{ex.question}"
        else:  # A_begin
            body = f"Q: {ex.question}\nA: <Prompt>"
        blocks.append(f"Input:\n{body}\nOutput:\n{ex.answer!s}")
    return "\n\n".join(blocks)


def unsupported_position_message(instruction_pos: str) -> str:
    return (
        f"--instruction_pos={instruction_pos} is not supported by the optimizer meta-prompts; "
        f"use one of {', '.join(POSITION_PHRASES)}"
    )


def unsupported_layout_message(builder: str, instruction_pos: str, include_qa: bool) -> str | None:
    """Why ``builder`` cannot lay out exemplars for this position/include_qa, or None if it can.

    ``edit_without`` only knows (include_qa, A_begin) and (no include_qa, Q_begin/Q_end); the
    original crashes on the other pairs (10.11), we refuse them up front.
    """
    if instruction_pos not in POSITION_PHRASES:
        return unsupported_position_message(instruction_pos)
    if builder != "edit_without":
        return None
    if include_qa and instruction_pos != "A_begin":
        return (
            f"--util_gradient_name=edit_without with --include_qa=true needs "
            f"--instruction_pos=A_begin (got {instruction_pos}); or set --include_qa=false"
        )
    if not include_qa and instruction_pos == "A_begin":
        return (
            "--util_gradient_name=edit_without with --instruction_pos=A_begin needs "
            "--include_qa=true; or use --instruction_pos=Q_end"
        )
    return None


# --- feedback and real-time momentum prompts -------------------------------------------------


def feedback_gradient_prompt(current_prompt: str, wrong: Sequence[WrongExample]) -> str:
    """The feedback "gradient" request (GPO_REFERENCE 5.4).

    With no wrong examples the request is still sent (quirk 10.14), and the empty examples block
    keeps its separators as in the original: three blank lines between header and request.
    """
    examples = "".join(
        f"Question: {w.question}\nWrong prediction: {w.prediction}\n"
        f"Ground truth answer: {w.answer}\n\n"
        for w in wrong
    )
    if not examples:
        examples = "\n\n"  # the empty block and its trailing blank line
    return (
        f"{FEEDBACK_TASK}\n\n{CURRENT_PROMPT_INTRO}\n{current_prompt}\n\n{FEEDBACK_WRONG}\n\n"
        f"{FEEDBACK_HEADER}\n\n{examples}{FEEDBACK_REQUEST}"
    )


def realtime_gradient_momentum_prompt(previous_problems: str, current_problems: str) -> str:
    """Ask to integrate the momentum problems with the newest gradient (real-time feedback)."""
    return (
        f"{GRADIENT_MOMENTUM_TASK}\n\n{GRADIENT_MOMENTUM_PREVIOUS}\n{previous_problems}\n\n"
        f"{GRADIENT_MOMENTUM_CURRENT}\n{current_problems}\n\n"
        f"{GRADIENT_MOMENTUM_INSTRUCTION}\n{GRADIENT_MOMENTUM_WRAP}"
    )


def realtime_para_momentum_prompt(
    previous: ScoredPrompt, current: ScoredPrompt, *, scores_as_percent: bool = False
) -> str:
    """Ask to summarise the previous and current prompts by their scores (real-time para).

    Scores print with ``str`` as given (the caller passes values rounded to 2 decimals).
    """
    pct = scores_as_percent
    prev = _scored_block(previous.prompt, format_score(previous.score, as_percent=pct))
    cur = _scored_block(current.prompt, format_score(current.score, as_percent=pct))
    return (
        f"{PARA_MOMENTUM_TASK}\n\n{PARA_MOMENTUM_PREVIOUS}\n{prev}\n\n"
        f"{PARA_MOMENTUM_CURRENT}\n{cur}\n\n{PARA_MOMENTUM_INSTRUCTION}\n{PARA_MOMENTUM_WRAP}"
    )


# --- candidate builders (update methods, GPO_REFERENCE 5.6) ----------------------------------


@dataclass(frozen=True)
class CandidateInputs:
    """Everything a candidate builder reads.

    ``current_score`` is the raw eval fraction; builders print ``round(score, 2)`` for it.
    The variant is chosen from the momentum inputs: ``k_list`` (a k-list string) wins, then a
    ``realtime`` buffer (even with an empty summary), else the no-momentum variant.
    ``gradient`` is read only by ``edit`` and ``generate``.
    """

    current_prompt: str
    current_score: float
    exemplars: tuple[Example, ...]
    instruction_pos: str
    include_qa: bool = False
    k_list: str | None = None
    realtime: ScoredPrompt | None = None
    gradient: str | None = None
    scores_as_percent: bool = False


def _variant(inputs: CandidateInputs) -> str:
    if inputs.k_list is not None:
        return "k-list"
    # As in the original, which tests the momentum buffer, not its text: an empty summary still
    # gives the "previous prompt" variant ("Prompt: " with an empty text).
    if inputs.realtime is not None:
        return "real-time"
    return "none"


def _momentum_section(inputs: CandidateInputs, variant: str) -> str:
    """Block 2; always ends with a blank line (the k-list string is inserted verbatim)."""
    if variant == "k-list":
        return inputs.k_list or ""
    pct = inputs.scores_as_percent
    if variant == "real-time":
        rt = inputs.realtime
        assert rt is not None
        block = _scored_block(rt.prompt, format_score(rt.score, as_percent=pct))
        return f"{PREVIOUS_WITH_SCORE}\n{block}\n\n"
    score = format_score(inputs.current_score, as_percent=pct, ndigits=2)
    return f"{CURRENT_WITH_SCORE}\n{_scored_block(inputs.current_prompt, score)}\n\n"


def _closing(variant: str, *, edit: bool, position: str) -> str:
    action = (ACTION_EDIT if edit else ACTION_GENERATE).format(position=position)
    if variant == "k-list":
        return STUDY_PREVIOUS_PROMPTS + action
    if variant == "real-time":
        return STUDY_PREVIOUS_PROMPT + action
    return action[0].upper() + action[1:]


def _build(inputs: CandidateInputs, builder: str) -> str:
    problem = unsupported_layout_message(builder, inputs.instruction_pos, inputs.include_qa)
    if problem:
        raise ConfigError(problem)
    edit = builder.startswith("edit")
    with_gradient = builder in GRADIENT_BUILDERS
    if with_gradient and inputs.gradient is None:
        raise ConfigError(f"--util_gradient_name={builder} needs --gradient_name=feedback")
    variant = _variant(inputs)
    # Quirk kept (5.6): edit_without's k-list and real-time variants say "your text".
    your_text = builder == "edit_without" and variant != "none"
    subject = "your text" if your_text else "your new prompt"
    gradient = f"{PROBLEMS_INTRO}\n\n{inputs.gradient}\n\n" if with_gradient else ""
    position = POSITION_PHRASES[inputs.instruction_pos]
    return (
        f"{TASK_EDIT if edit else TASK_GENERATE}\n\n"
        f"{_momentum_section(inputs, variant)}"
        f"{CURRENT_PROMPT_INTRO}\n{inputs.current_prompt}\n\n"
        f"{gradient}"
        f"{EXPLANATION.format(subject=subject)}\n\n"
        f"{exemplar_block(inputs.exemplars, inputs.instruction_pos)}\n\n"
        f"{_closing(variant, edit=edit, position=position)}\n"
        f"{WRAP_EDIT if edit else WRAP_GENERATE}"
    )


def edit(inputs: CandidateInputs) -> str:
    """Feedback-driven editing of the current prompt (APO, SGDM)."""
    return _build(inputs, "edit")


def generate(inputs: CandidateInputs) -> str:
    """Feedback-driven generation of a new prompt."""
    return _build(inputs, "generate")


def edit_without(inputs: CandidateInputs) -> str:
    """Editing of the current prompt without feedback text."""
    return _build(inputs, "edit_without")


def generate_without(inputs: CandidateInputs) -> str:
    """Generation of a new prompt without feedback text (the GPO update method)."""
    return _build(inputs, "generate_without")
