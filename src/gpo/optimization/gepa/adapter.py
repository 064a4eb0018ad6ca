"""GEPA's adapter on this project's scoring path (``gepa.core.adapter.GEPAAdapter``).

``evaluate`` scores one candidate instruction on a batch of examples through the run's ``Scorer``:
the same prompt assembly (instruction position, few-shot, second round), greedy decoding at the
scorer's token limits, grading, response cache and usage accounting as every other method; no
racing. Each example scored is one of GEPA's metric calls. ``make_reflective_dataset`` gives the
reflection model each example's input, the scorer's reply, the score and the expected answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gepa.core.adapter import EvaluationBatch

from gpo.data.base import TaskData
from gpo.evaluation.report import ScoredExample, ScoreReport
from gpo.evaluation.scorer import Scorer
from gpo.optimization.gepa.settings import COMPONENT


@dataclass(frozen=True)
class Item:
    """One of GEPA's data instances: an example, by its position in a split of the task."""

    split: str
    position: int


@dataclass(frozen=True)
class Trace:
    """What one scored example shows the reflection model."""

    question: str
    row: ScoredExample


def reply_text(row: ScoredExample) -> str:
    """The scorer's reply as graded: the first round, and the second round's answer if any."""
    if row.raw_answer_second_round is None:
        return row.raw_answer
    return f"{row.raw_answer}\n(asked for the final answer: {row.raw_answer_second_round})"


def reflective_record(trace: Trace) -> dict[str, Any]:
    """One record of the reflective dataset (GEPA's recommended keys, plus score and answer)."""
    row = trace.row
    verdict = "correct" if row.accuracy >= 1.0 else "wrong"
    return {
        "Inputs": trace.question,
        "Generated Outputs": reply_text(row),
        "Score": row.accuracy,
        "Expected Answer": str(row.true_answer),
        "Feedback": (
            f"The reply is {verdict} (score {row.accuracy:g}): its answer was read as "
            f"{row.parsed_answer!r}; the expected answer is {str(row.true_answer)!r}."
        ),
    }


class ScorerAdapter:
    """Scores GEPA's candidates with the run's ``Scorer`` on ``data``; every report it makes is
    kept in ``reports`` until the run records it (``drain``)."""

    propose_new_texts = None  # GEPA's own reflective proposer, with its own prompt

    def __init__(self, scorer: Scorer, data: TaskData) -> None:
        self.scorer, self.data = scorer, data
        self.reports: list[ScoreReport] = []
        self._primed: dict[tuple[str, str, int], ScoredExample] = {}

    def prime(self, report: ScoreReport) -> None:
        """Rows already scored (the initial prompt on eval): GEPA's first evaluation of them
        costs no second scoring."""
        positions = {e.index: k for k, e in enumerate(self.data.split(report.split))}
        for row in report.rows:
            key = (report.instruction, report.split, positions[row.index])
            self._primed[key] = row

    def drain(self) -> list[ScoreReport]:
        out, self.reports = self.reports, []
        return out

    def evaluate(
        self, batch: list[Item], candidate: dict[str, str], capture_traces: bool = False
    ) -> EvaluationBatch:
        instruction = candidate[COMPONENT]
        rows = self._rows(instruction, batch)
        traces = None
        if capture_traces:
            traces = [
                Trace(self.data.split(it.split)[it.position].question, row)
                for it, row in zip(batch, rows)
            ]
        return EvaluationBatch(
            outputs=[reply_text(r) for r in rows],
            scores=[float(r.accuracy) for r in rows],
            trajectories=traces,
        )

    def make_reflective_dataset(
        self,
        candidate: dict[str, str],
        eval_batch: EvaluationBatch,
        components_to_update: list[str],
    ) -> Mapping[str, Sequence[Mapping[str, Any]]]:
        records = [reflective_record(t) for t in eval_batch.trajectories or ()]
        return {name: records for name in components_to_update}

    def _rows(self, instruction: str, batch: Sequence[Item]) -> list[ScoredExample]:
        """The scored rows of ``batch``, in order: primed rows reused, the rest scored with one
        scorer call per split."""
        rows: dict[int, ScoredExample] = {}
        todo: dict[str, list[int]] = {}
        for k, it in enumerate(batch):
            primed = self._primed.get((instruction, it.split, it.position))
            if primed is not None:
                rows[k] = primed
            else:
                todo.setdefault(it.split, []).append(k)
        for split, ks in todo.items():
            report = self.scorer.score(
                instruction, self.data, split, [batch[k].position for k in ks]
            )
            self.reports.append(report)
            rows.update(zip(ks, report.rows))
        return [rows[k] for k in range(len(batch))]
