"""Candidate guards: pure filters that reject proposals which are not trustworthy prompts.

This project's extension, not the paper's method (``--candidate_guards``, off by default). The
optimizer's proposal step can return text that is not an instruction at all, and a candidate
chosen by a handful of eval examples can win for the wrong reason. Each guard looks at one
candidate and returns a reason when it rejects it, else ``None``; a rejected candidate is never
scored. The guards:

* ``empty``: no word at all (the original evaluates such a candidate as the Empty prompt).
* ``scaffolding``: the meta-prompt's own machinery leaked into the candidate: the ``<START>`` /
  ``<END>`` tags (or ``</START>`` / ``</END>``) or the ``<Prompt>`` slot, ``Score: 0.25``
  lines, ``Prompt:`` / ``Input:`` / ``Output:`` headers, or a run of words copied from the
  meta-prompt's fixed wording.
* ``leakage``: the candidate copies an eval or test example: a gold answer long enough to mean
  something, or a long word n-gram of an eval/test input that is not part of the task's template
  (n-grams that also occur in train, few-shot or format inputs are template, and answers that
  they also have are the task's labels, not leakage).
* ``copied``: the candidate repeats ``COPY_NGRAM`` (8) or more words in a row of an input the
  meta-prompt can show the optimizer (the format exemplars and the train examples that wrong
  examples come from). Word runs shared by at least half of those inputs are the task's own
  template (a BBH question's fixed wording), which an instruction may restate. The same rule
  (``classify_prompt``) tells whether a chosen prompt is an instruction or a copy.
* ``length``: more words than ``--max_prompt_words``.

The word budget (``--enforce_step_size``) is one more filter of the same shape,
``step_size_reason``, applied by ``gpo.optimization.screening``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from gpo.data.base import Example, TaskData
from gpo.errors import ConfigError
from gpo.optimization import meta_prompts as mp
from gpo.optimization.proposal import END_TAG, START_TAG
from gpo.options import RunOptions

GUARD_NAMES = ("scaffolding", "leakage", "copied", "empty", "length")
STEP_SIZE_RULE = "step_size"
DEFAULT_MAX_PROMPT_WORDS = RunOptions.max_prompt_words  # the option's default, written once

# A run of this many words copied from the meta-prompt's fixed wording counts as scaffolding.
SCAFFOLDING_NGRAM = 6
# A run of this many words copied from an eval/test input counts as leakage.
LEAKAGE_NGRAM = 8
# A run of this many words copied from an input the meta-prompt showed counts as a copy.
COPY_NGRAM = 8
# A word run in at least this share of the shown inputs is the task's template, not a copy.
TEMPLATE_SHARE = 0.5
INSTRUCTION, COPY = "instruction", "copy"
# A gold answer counts as meaningful (worth guarding) from this many characters, with a letter:
# "(A)", "True", "Yes", "valid" and numbers are too short to be evidence of copying.
MIN_ANSWER_CHARS = 8

# the closing-tag spellings too: Qwen2.5-Coder writes "...</END>", which <END> does not match
TAGS = (START_TAG, END_TAG, "<Prompt>", "</START>", "</END>", "</Prompt>")
SCORE_LINE = re.compile(r"^\s*score\s*:\s*-?\d[^\n]*", re.IGNORECASE | re.MULTILINE)
HEADER_LINE = re.compile(r"^\s*(prompt|input|output)\s*:", re.IGNORECASE | re.MULTILINE)
WORD = re.compile(r"[a-z0-9]+")

# The meta-prompts' fixed wording (placeholders such as {position} split the text).
WORDING = (
    mp.SCORE_NOTE,
    mp.K_LIST_HEADER,
    mp.CURRENT_WITH_SCORE,
    mp.PREVIOUS_WITH_SCORE,
    mp.CURRENT_PROMPT_INTRO,
    mp.PROBLEMS_INTRO,
    mp.TASK_GENERATE,
    mp.TASK_EDIT,
    mp.EXPLANATION,
    mp.STUDY_PREVIOUS_PROMPTS,
    mp.STUDY_PREVIOUS_PROMPT,
    mp.ACTION_GENERATE,
    mp.ACTION_EDIT,
    mp.WRAP_GENERATE,
    mp.WRAP_EDIT,
    mp.WORD_BUDGET,
    mp.FEEDBACK_TASK,
    mp.FEEDBACK_WRONG,
    mp.FEEDBACK_HEADER,
    mp.FEEDBACK_REQUEST,
    mp.GRADIENT_MOMENTUM_TASK,
    mp.GRADIENT_MOMENTUM_INSTRUCTION,
    mp.GRADIENT_MOMENTUM_WRAP,
    mp.PARA_MOMENTUM_TASK,
    mp.PARA_MOMENTUM_INSTRUCTION,
    mp.PARA_MOMENTUM_WRAP,
)


def words(text: str) -> list[str]:
    """Lower-cased alphanumeric words (punctuation and tags fall away)."""
    return WORD.findall(text.lower())


def _shape(tokens: list[str]) -> list[str]:
    """Numbers become one token, so "at most 20 words" matches the template's "at most {k}"."""
    return ["#" if t.isdigit() else t for t in tokens]


def ngrams(tokens: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


# Every value the wording's placeholders take.
PLACEHOLDERS = {
    "k": ("0",),
    "position": tuple(mp.POSITION_PHRASES.values()),
    "subject": ("your new prompt", "your text"),
}


def _expansions(text: str) -> list[str]:
    out = [text]
    for name, values in PLACEHOLDERS.items():
        out = [t.replace("{" + name + "}", v) for t in out for v in values]
    return out


def _wording_ngrams(n: int) -> frozenset[tuple[str, ...]]:
    out: set[tuple[str, ...]] = set()
    for text in WORDING:
        for variant in _expansions(text):
            out |= ngrams(_shape(words(variant)), n)
    return frozenset(out)


SCAFFOLDING_NGRAMS = _wording_ngrams(SCAFFOLDING_NGRAM)


# --- the guards (pure: candidate in, reason or None out) -------------------------------------


def empty_reason(candidate: str) -> str | None:
    return None if words(candidate) else "no words"


def length_reason(candidate: str, max_words: int) -> str | None:
    n = len(candidate.split())
    return f"{n} words > --max_prompt_words={max_words}" if n > max_words else None


def scaffolding_reason(candidate: str) -> str | None:
    for tag in TAGS:
        if tag.lower() in candidate.lower():
            return f"contains the meta-prompt tag {tag}"
    if m := SCORE_LINE.search(candidate):
        return f"contains a score line {m.group(0).strip()!r}"
    if m := HEADER_LINE.search(candidate):
        return f"contains a {m.group(1).capitalize()}: header"
    copied = ngrams(_shape(words(candidate)), SCAFFOLDING_NGRAM) & SCAFFOLDING_NGRAMS
    if copied:
        return f"copies meta-prompt wording {' '.join(min(copied))!r}"
    return None


def step_size_reason(distance: int, step_size: int) -> str | None:
    """The enforced word budget: an edit distance above K rejects the candidate."""
    return f"edit distance {distance} > K={step_size}" if distance > step_size else None


@dataclass(frozen=True)
class LeakageIndex:
    """What a candidate must not copy: meaningful eval/test answers and input n-grams."""

    answers: frozenset[str] = frozenset()
    input_ngrams: frozenset[tuple[str, ...]] = frozenset()
    n: int = LEAKAGE_NGRAM

    @staticmethod
    def from_task(data: TaskData, n: int = LEAKAGE_NGRAM) -> LeakageIndex:
        held_out = (*data.eval, *data.test)
        template: set[tuple[str, ...]] = set()
        for ex in (*data.train, *data.few_shot, *data.format):
            template |= ngrams(words(ex.question), n)
        grams: set[tuple[str, ...]] = set()
        for ex in held_out:
            grams |= ngrams(words(ex.question), n)
        # an answer that train, few-shot or format examples also have is the task's label set
        # ("shipping", "technical"): an instruction names it; only held-out answers leak
        labels = {_answer_text(ex) for ex in (*data.train, *data.few_shot, *data.format)}
        return LeakageIndex(
            frozenset(a for a in map(_answer_text, held_out) if _meaningful(a) and a not in labels),
            frozenset(grams - template),
            n,
        )


def _answer_text(ex: Example) -> str:
    a = ex.answer
    text = " ".join(map(str, a)) if isinstance(a, list) else str(a)
    return " ".join(words(text))


def _meaningful(answer: str) -> bool:
    return len(answer) >= MIN_ANSWER_CHARS and any(c.isalpha() for c in answer)


def leakage_reason(candidate: str, index: LeakageIndex) -> str | None:
    tokens = words(candidate)
    padded = f" {' '.join(tokens)} "
    for answer in sorted(index.answers):
        if f" {answer} " in padded:
            return f"contains the gold answer {answer!r} of an eval/test example"
    copied = ngrams(tokens, index.n) & index.input_ngrams
    if copied:
        return f"copies {index.n} words of an eval/test input {' '.join(min(copied))!r}"
    return None


@dataclass(frozen=True)
class CopyIndex:
    """The word n-grams of every input the meta-prompt may show (format and train examples),
    without the task's template (n-grams in at least TEMPLATE_SHARE of those inputs)."""

    input_ngrams: frozenset[tuple[str, ...]] = frozenset()
    n: int = COPY_NGRAM

    @staticmethod
    def from_task(data: TaskData, n: int = COPY_NGRAM) -> CopyIndex:
        return CopyIndex.from_inputs([ex.question for ex in (*data.format, *data.train)], n)

    @staticmethod
    def from_inputs(inputs: Sequence[str], n: int = COPY_NGRAM) -> CopyIndex:
        counts: dict[tuple[str, ...], int] = {}
        for text in inputs:
            for gram in ngrams(words(text), n):
                counts[gram] = counts.get(gram, 0) + 1
        shared = max(2, math.ceil(TEMPLATE_SHARE * len(inputs)))
        return CopyIndex(frozenset(g for g, c in counts.items() if c < shared), n)


def copied_reason(candidate: str, index: CopyIndex) -> str | None:
    copied = ngrams(words(candidate), index.n) & index.input_ngrams
    if copied:
        return f"repeats {index.n} words of a shown input {' '.join(min(copied))!r}"
    return None


def classify_prompt(prompt: str, index: CopyIndex) -> str:
    """``"copy"`` when the prompt repeats COPY_NGRAM words of a shown input, else
    ``"instruction"`` (the ``copied`` guard's rule, for reports of chosen prompts)."""
    return COPY if copied_reason(prompt, index) is not None else INSTRUCTION


# --- a configured set of guards ---------------------------------------------------------------


@dataclass(frozen=True)
class Guards:
    """The active guards of a run; ``check`` gives every (rule, reason) that rejects."""

    names: tuple[str, ...] = ()
    max_prompt_words: int = DEFAULT_MAX_PROMPT_WORDS
    leakage: LeakageIndex = field(default_factory=LeakageIndex)
    copies: CopyIndex = field(default_factory=CopyIndex)

    def check(self, candidate: str) -> list[tuple[str, str]]:
        out = []
        for name in GUARD_NAMES:  # a fixed order, whatever the flag's order
            if name not in self.names:
                continue
            reason = self._reason(name, candidate)
            if reason is not None:
                out.append((name, reason))
        return out

    def _reason(self, name: str, candidate: str) -> str | None:
        if name == "empty":
            return empty_reason(candidate)
        if name == "scaffolding":
            return scaffolding_reason(candidate)
        if name == "leakage":
            return leakage_reason(candidate, self.leakage)
        if name == "copied":
            return copied_reason(candidate, self.copies)
        return length_reason(candidate, self.max_prompt_words)


def parse_guard_names(values: Iterable[str]) -> tuple[str, ...]:
    """``--candidate_guards`` as a tuple of known names (ConfigError naming the choices)."""
    out: list[str] = []
    for v in values:
        name = v.strip().lower()
        if not name:
            continue
        if name not in GUARD_NAMES:
            raise ConfigError(
                f"--candidate_guards: unknown guard {v!r}; choices: {', '.join(GUARD_NAMES)}"
            )
        if name not in out:
            out.append(name)
    return tuple(out)


def build_guards(names: Sequence[str], max_prompt_words: int, data: TaskData) -> Guards:
    """The guards of one task (each index is built only when its guard is on)."""
    leakage = LeakageIndex.from_task(data) if "leakage" in names else LeakageIndex()
    copies = CopyIndex.from_task(data) if "copied" in names else CopyIndex()
    return Guards(tuple(names), max_prompt_words, leakage, copies)
