"""What the chosen prompts of an experiment are: instructions, or something else that won.

A capable optimizer can raise a score by pasting an exemplar and its label into the "prompt",
and a small one by any text that happens to nudge the scorer. Every finished cell's final prompt
gets one kind, the first rule that matches (``prompt_kind``):

* ``initial``: the initial prompt stayed best (no candidate beat it);
* ``copy``: the ``copied`` guard's rule (``gpo.optimization.guards.classify_prompt``: 8 words in
  a row of a format or train input, the task's template excepted); the task's inputs are read
  again from the cell's own data folder and ``--max_examples``;
* ``scaffolding``: the ``scaffolding`` guard's rule: the meta-prompt's machinery (``<Prompt>``,
  ``Input:``/``Output:`` headers, ``Score:`` lines, its own wording) is in the prompt;
* ``chatter``: the optimizer talking to whoever asked for a prompt instead of writing one
  ("Sure! Please provide a prompt.", "Thank you for using the new prompt.", "The current prompt
  is:"), or a question put to a customer rather than an instruction to the scorer (the whole
  text is one question and names no task verb);
* ``instruction``: anything else. The rules are deliberately simple and printed with the table;
  read the prompts themselves (each cell's best_prompts.jsonl) before trusting a share.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from gpo.data.registry import get_benchmark
from gpo.errors import GPOError
from gpo.optimization.guards import COPY, CopyIndex, classify_prompt, scaffolding_reason
from gpo.results.experiment_folder import OPTIMIZE, CellSpec

log = logging.getLogger(__name__)


INITIAL, COPIED, SCAFFOLDING, CHATTER, INSTRUCTION = (
    "initial",
    "copy",
    "scaffolding",
    "chatter",
    "instruction",
)
KINDS = (INSTRUCTION, INITIAL, COPIED, SCAFFOLDING, CHATTER)

# The optimizer answering its requester (or thanking, greeting, describing the prompt it wrote).
CHATTER_PHRASES = re.compile(
    r"^\s*(sure|certainly|of course|okay|ok|absolutely|great|hello|hi|thanks|thank you)\b"
    r"|please provide (a|the|your|me)\b|thank you for using"
    r"|the (current|new|improved|given|original) prompt is|\bi (would )?suggest\b"
    r"|this (new )?prompt (allows|will|is)|here(?: is|'s) (a|the|your|an) (new |improved )?prompt"
    r"|\bi(?:'d| would) be happy to|\bas an ai\b",
    re.IGNORECASE,
)
# Verbs that tell the scorer what to do; a lone question without one is addressed to a customer.
TASK_VERBS = re.compile(
    r"\b(answer|classify|label|extract|convert|write|output|return|reply|respond|give|identify|"
    r"determine|choose|select|decide|format|list|find|solve|read|sort|state|print|rewrite|"
    r"categori[sz]e|assign|pick|tell)\b",
    re.IGNORECASE,
)


def prompt_kind(prompt: str, initial: str | None, index: CopyIndex) -> str:
    """The kind of one chosen prompt (the module's rules, first match wins)."""
    if initial is not None and prompt == initial:
        return INITIAL
    if classify_prompt(prompt, index) == COPY:
        return COPIED
    if scaffolding_reason(prompt) is not None:
        return SCAFFOLDING
    text = prompt.strip()
    if CHATTER_PHRASES.search(text):
        return CHATTER
    if text.endswith("?") and text.count("?") == 1 and not TASK_VERBS.search(text):
        return CHATTER
    return INSTRUCTION


@dataclass
class PromptKinds:
    """Counts of one method's chosen (final) prompts, per kind (``KINDS``)."""

    chosen: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    cells: dict[str, list[str]] = field(default_factory=dict)  # kind -> cell ids

    def add(self, kind: str, cell_id: str) -> None:
        self.chosen += 1
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.cells.setdefault(kind, []).append(cell_id)

    def count(self, kind: str) -> int:
        return self.counts.get(kind, 0)

    @property
    def instructions(self) -> int:
        return self.count(INSTRUCTION)

    @property
    def copies(self) -> int:
        return self.count(COPIED)

    @property
    def initial_kept(self) -> int:
        return self.count(INITIAL)

    @property
    def copied_cells(self) -> list[str]:
        return self.cells.get(COPIED, [])

    def share(self, count: int) -> float:
        return count / self.chosen if self.chosen else float("nan")


def task_copy_index(
    dataset: str, task: str, data_dir: str | Path, max_examples: int | None
) -> CopyIndex:
    """The inputs a run of this task could show its optimizer, read again from its data."""
    data = get_benchmark(dataset, data_dir).load(task, Path(data_dir), max_examples)
    return CopyIndex.from_task(data)


def _copy_index(cell: CellSpec, cache: dict[tuple, CopyIndex]) -> CopyIndex | None:
    cfg = cell.config
    key = (cell.dataset, cell.task, cfg.data_dir, cfg.max_examples)
    if key not in cache:
        try:
            cache[key] = task_copy_index(cell.dataset, cell.task, cfg.data_dir, cfg.max_examples)
        except (GPOError, OSError) as e:
            log.warning(
                "prompt kinds: cannot read %s/%s (%s); left out", cell.dataset, cell.task, e
            )
            return None
    return cache[key]


def prompt_kinds(cells: list[CellSpec], best: dict[str, dict]) -> dict[str, PromptKinds]:
    """Per method, the kinds of the final prompts of its finished optimization cells.

    ``best`` maps a cell id to its best_prompts.jsonl record for the cell's task."""
    out: dict[str, PromptKinds] = {}
    cache: dict[tuple, CopyIndex] = {}
    for cell in cells:
        record = best.get(cell.cell_id)
        if cell.kind != OPTIMIZE or record is None:
            continue
        index = _copy_index(cell, cache)
        if index is None:
            continue
        kind = prompt_kind(record["prompt"], record.get("initial_prompt"), index)
        out.setdefault(cell.method, PromptKinds()).add(kind, cell.cell_id)
    return out
