"""Pieces shared by the evaluate and optimize commands: initial prompts, scorers, run logging."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from gpo.config import RunConfig
from gpo.data.registry import Benchmark
from gpo.evaluation.scorer import Replies, Scorer, ScorerSettings, generate_unique
from gpo.llm.aliases import ModelSpec, chat_few_shot_layout, second_round_enabled
from gpo.llm.base import LLM
from gpo.results.run_folder import RunFolder

MMLU_PREFIX = "The following are multiple choice questions about"

T = TypeVar("T")
log = logging.getLogger(__name__)


def initial_instruction_for(dataset: str, task: str, instruction: str) -> str:
    """MMLU only: a prompt starting with the standard MMLU phrase is rewritten per subject."""
    if dataset == "mmlu" and instruction.startswith(MMLU_PREFIX):
        return f"{MMLU_PREFIX} {task.replace('_', ' ')}."
    return instruction


def make_scorer(
    llm: LLM,
    spec: ModelSpec,
    benchmark: Benchmark,
    config: RunConfig,
    replies: Replies = generate_unique,
) -> Scorer:
    s = config.scoring
    settings = ScorerSettings(
        instruction_pos=s.instruction_pos,
        include_qa=s.include_qa,
        few_shot=s.few_shot,
        few_shot_number=s.few_shot_number,
        second_round=second_round_enabled(spec, llm.is_chat),
        chat_few_shot=chat_few_shot_layout(spec, llm.is_chat),
        max_tokens=config.scorer.max_tokens,
        second_round_max_tokens=s.second_round_max_tokens,
    )
    return Scorer(llm, benchmark, settings, replies)


def attach_run_log(folder: RunFolder) -> logging.Handler:
    """Mirror the log into <run folder>/run.log."""
    handler = logging.FileHandler(folder.root / "run.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    return handler


def guarded(folder: RunFolder, body: Callable[[], T]) -> T:
    """Run ``body``; a failure marks the folder failed (never finished-looking) and re-raises.

    Ctrl-C (and a grid's ``--max_minutes``, which interrupts its workers the same way) marks
    it interrupted, not failed: nothing went wrong, and ``--resume`` continues it from its last
    checkpoint."""
    handler = attach_run_log(folder)
    try:
        result = body()
    except KeyboardInterrupt:
        folder.set_status(
            "interrupted", "stopped by Ctrl-C or --max_minutes; --resume continues it"
        )
        raise
    except BaseException as e:
        state = "stopped" if e.__class__.__name__ == "BudgetExceeded" else "failed"
        folder.set_status(state, f"{e.__class__.__name__}: {e}")
        raise
    else:
        folder.set_status("finished")
        return result
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def emit(lines: list[str]) -> None:
    """The command's result table goes to stdout (logs go to stderr)."""
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


def write_report_safely(root: Path) -> None:
    """Write the run's report.md and plots; a report problem is logged, never fails the run."""
    try:
        from gpo.reports.report import write_report

        path = write_report(root)
        log.info("report: %s", path)
    except Exception as e:  # noqa: BLE001  (the run's results are already safe on disk)
        log.warning("could not write the report of %s: %s: %s", root, e.__class__.__name__, e)
