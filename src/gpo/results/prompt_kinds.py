"""What the chosen prompts of an experiment are: instructions, or copies of shown inputs.

A capable optimizer can raise a score by pasting an exemplar and its label into the "prompt".
The ``copied`` guard's rule (``gpo.optimization.guards.classify_prompt``: 8 words in a row of a
format or train input, the task's template excepted) sorts every finished cell's final prompt;
the task's inputs are read again from the cell's own data folder and ``--max_examples``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from gpo.data.registry import get_benchmark
from gpo.errors import GPOError
from gpo.optimization.guards import COPY, CopyIndex, classify_prompt
from gpo.results.experiment_folder import OPTIMIZE, CellSpec

log = logging.getLogger(__name__)


@dataclass
class PromptKinds:
    """Counts of one method's chosen (final) prompts."""

    chosen: int = 0
    instructions: int = 0
    copies: int = 0
    initial_kept: int = 0  # the initial prompt stayed best (an instruction)
    copied_cells: list[str] = field(default_factory=list)

    def share(self, count: int) -> float:
        return count / self.chosen if self.chosen else float("nan")


def _copy_index(cell: CellSpec, cache: dict[tuple, CopyIndex]) -> CopyIndex | None:
    cfg = cell.config
    key = (cell.dataset, cell.task, cfg.data_dir, cfg.max_examples)
    if key not in cache:
        try:
            data = get_benchmark(cell.dataset, cfg.data_dir).load(
                cell.task, Path(cfg.data_dir), cfg.max_examples
            )
        except (GPOError, OSError) as e:
            log.warning(
                "prompt kinds: cannot read %s/%s (%s); left out", cell.dataset, cell.task, e
            )
            return None
        cache[key] = CopyIndex.from_task(data)
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
        kinds = out.setdefault(cell.method, PromptKinds())
        kinds.chosen += 1
        if classify_prompt(record["prompt"], index) == COPY:
            kinds.copies += 1
            kinds.copied_cells.append(cell.cell_id)
        else:
            kinds.instructions += 1
            kinds.initial_kept += record["prompt"] == record.get("initial_prompt")
    return out
