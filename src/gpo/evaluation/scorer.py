"""The Scorer: the paper's "task model" evaluation that gives every prompt its score.

A prompt's score on a split is the mean per-example score of the scorer LLM's answers
(GPO_REFERENCE 3.2-3.4): assemble each example's input around the instruction, generate greedily,
optionally ask again for the answer in the task's format (second round), normalise and grade.
Scoring is batch-first: all instructions x all examples go to the LLM in one call per round, and
identical prompts are sent only once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from gpo.data.base import Example, TaskData
from gpo.data.registry import Benchmark
from gpo.errors import BackendError, ConfigError
from gpo.evaluation.conversations import Replies, converse
from gpo.evaluation.metrics import grade_example
from gpo.evaluation.prompts import (
    build_few_shot_prompt,
    build_user_text,
    render_prompt,
    second_round_conversation,
)
from gpo.evaluation.racing import ChoiceRule, RaceOutcome, RacingSettings, race
from gpo.evaluation.report import ScoredExample, ScoreReport
from gpo.llm.base import LLM, GenerationParams, Prompt, user_message

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScorerSettings:
    """How scorer inputs are built and decoded (the original's scoring flags)."""

    instruction_pos: str = "Q_end"
    include_qa: bool = False
    few_shot: bool = False  # --evaluate_generated_ins_on_few_shot
    few_shot_number: int = 5
    # The composition root decides: True for local chat models, False for OpenAI GPT scorers
    # (mirrors the original's "Llama-2-chat only" gate of the second round).
    second_round: bool = True
    # Few-shot layouts: the original treats only Llama-2-chat scorers as chat. The composition
    # root sets False for GPT scorers, which then get the non-chat few-shot string as one user
    # message and have their answer cut to its first line (and may use Q_begin).
    chat_few_shot: bool = True
    max_tokens: int = 256
    second_round_max_tokens: int = 100

    def __post_init__(self) -> None:
        if self.few_shot_number < 0:
            raise ConfigError(f"--few_shot_number={self.few_shot_number} must be >= 0")
        if self.max_tokens < 1 or self.second_round_max_tokens < 1:
            raise ConfigError("scorer max_tokens and second_round_max_tokens must be >= 1")

    def few_shot_layout_is_chat(self, is_chat: bool) -> bool:
        """Whether few-shot prompts use the chat layout (a Llama-2-chat-like scorer)."""
        return is_chat and self.chat_few_shot


@dataclass(frozen=True)
class _Item:
    """One (instruction, example) pair of a scoring batch and its first-round input."""

    instruction: str
    example: Example
    user_text: str  # zero-shot user text, or the rendered few-shot prompt
    prompt: Prompt


def generate_unique(llm: LLM, prompts: Sequence[Prompt], max_tokens: int) -> list[str]:
    """Greedy replies to ``prompts``, sending each distinct prompt once and fanning out after."""
    unique = list(dict.fromkeys(prompts))
    if not unique:
        return []
    say = logger.info if len(prompts) > 1 else logger.debug  # one prompt: a conversation's turn
    say("scorer %s: %d prompts (%d distinct)", llm.name, len(prompts), len(unique))
    params = GenerationParams(temperature=0.0, max_tokens=max_tokens)
    completions = llm.generate(unique, params)
    if len(completions) != len(unique):
        raise BackendError(
            f"scorer {llm.name} returned {len(completions)} replies for {len(unique)} prompts; "
            "check the backend"
        )
    by_prompt = {p: c.text for p, c in zip(unique, completions)}
    return [by_prompt[p] for p in prompts]


class Scorer:
    """Scores instructions on a benchmark split with a scorer LLM (``settings`` as checked by
    ``validate_scoring_settings`` in the run's preflight).

    ``replies`` sends one round of greedy prompts (default ``generate_unique``); the benchmark
    passes an instrumented one (``gpo.cli.runtime.Runtime.scorer_replies``)."""

    def __init__(
        self,
        llm: LLM,
        benchmark: Benchmark,
        settings: ScorerSettings,
        replies: Replies = generate_unique,
    ) -> None:
        self.llm = llm
        self.replies = replies
        self.benchmark = benchmark
        self.settings = settings

    def score(
        self,
        instruction: str,
        task: TaskData,
        split: str,
        indices: Sequence[int] | None = None,
    ) -> ScoreReport:
        """Score one instruction on ``split`` (or on the examples at ``indices`` in it)."""
        return self.score_many([instruction], task, split, indices)[0]

    def score_many(
        self,
        instructions: Sequence[str],
        task: TaskData,
        split: str,
        indices: Sequence[int] | None = None,
    ) -> list[ScoreReport]:
        """Score every instruction on every selected example: one LLM call per round."""
        examples = _select(task.split(split), indices, split)
        items = [self._item(ins, ex, task) for ins in instructions for ex in examples]
        second: list[tuple[str, str] | None] = [None] * len(items)
        if self._second_round(task):
            first, second = self._run_two_rounds(items, task)
        else:
            first = self.replies(self.llm, [it.prompt for it in items], self.settings.max_tokens)
        rows = [
            self._row(it, answer, extra, task) for it, answer, extra in zip(items, first, second)
        ]
        n = len(examples)
        return [
            ScoreReport(ins, split, tuple(rows[k * n : (k + 1) * n]))
            for k, ins in enumerate(instructions)
        ]

    def race(
        self,
        instructions: Sequence[str],
        task: TaskData,
        split: str,
        rule: ChoiceRule,
        settings: RacingSettings,
    ) -> RaceOutcome:
        """Score instructions on ``split`` in rounds, dropping those ``rule`` cannot choose
        (``gpo.evaluation.racing``); with racing off, one full ``score_many``."""
        return race(
            lambda ins, positions: self.score_many(ins, task, split, positions),
            instructions,
            split,
            len(task.split(split)),
            rule,
            settings,
            self.generations_per_example(task),
        )

    def generations_per_example(self, task: TaskData) -> int:
        """Scorer generations per (instruction, example): 2 with the second round, else 1."""
        return 2 if self._second_round(task) else 1

    def _second_round(self, task: TaskData) -> bool:
        s = self.settings
        return task.spec.second_round and s.second_round and self.llm.is_chat and not s.few_shot

    def _item(self, instruction: str, example: Example, task: TaskData) -> _Item:
        s = self.settings
        if s.few_shot:
            demos = task.few_shot[: s.few_shot_number]
            shots = build_few_shot_prompt(
                example.question,
                instruction,
                demos,
                s.instruction_pos,
                s.include_qa,
                s.few_shot_layout_is_chat(self.llm.is_chat),
            )
            text = render_prompt(shots)
            if isinstance(shots, str) and self.llm.is_chat:
                shots = user_message(shots)  # a GPT scorer: the string as one user message
            return _Item(instruction, example, text, shots)
        text = build_user_text(example.question, instruction, s.instruction_pos, s.include_qa)
        return _Item(instruction, example, text, user_message(text) if self.llm.is_chat else text)

    def _run_two_rounds(
        self, items: Sequence[_Item], task: TaskData
    ) -> tuple[list[str], list[tuple[str, str] | None]]:
        """Both rounds (``gpo.evaluation.conversations``): the first replies, and for each item
        the rendered second-round conversation and its reply (the answer in the task's format)."""
        s = self.settings

        def follow_up(n: int, answer: str) -> Prompt:
            it = items[n]
            request = self.benchmark.second_round_request(
                task.spec.task, it.user_text, s.instruction_pos
            )
            return second_round_conversation(it.user_text, answer, request, s.include_qa)

        first, second = converse(
            self.llm,
            self.replies,
            [it.prompt for it in items],
            follow_up,
            (s.max_tokens, s.second_round_max_tokens),
        )
        return first, [(render_prompt(c), r) for c, r in second]

    def _row(
        self, item: _Item, answer: str, second: tuple[str, str] | None, task: TaskData
    ) -> ScoredExample:
        if second is not None:
            text = second[1].strip()
        else:
            text = answer.strip()
            s = self.settings
            if s.few_shot and not s.few_shot_layout_is_chat(self.llm.is_chat):
                # Non-chat few-shot: the reply usually runs on into a new demonstration, so
                # keep its first line, after trimming ":" and then whitespace, in that order
                # as in the original (GPO_REFERENCE 8): ":\n(B)" gives "(B)".
                text = text.strip(":").strip().split("\n")[0]
        graded = grade_example(task.spec, text, item.example)
        return ScoredExample(
            index=item.example.index,
            raw_prompt=item.user_text,
            raw_answer=answer,
            raw_prompt_second_round=second[0] if second else None,
            raw_answer_second_round=second[1] if second else None,
            parsed_answer=graded.parsed_answer,
            true_answer=item.example.answer,
            accuracy=graded.accuracy,
        )


def _select(
    examples: tuple[Example, ...], indices: Sequence[int] | None, split: str
) -> tuple[Example, ...]:
    """The examples at ``indices`` (positions in the split), or all of them."""
    if indices is None:
        return examples
    bad = [i for i in indices if not 0 <= i < len(examples)]
    if bad:
        raise IndexError(f"indices {bad} out of range for split {split!r} of {len(examples)}")
    return tuple(examples[i] for i in indices)
