"""Momentum selection: which history items make up the update direction (GPO_REFERENCE 5.5).

First-order momentum in GPO keeps a history, either of parameters (the trajectory of prompts
with their eval scores) or of gradients (feedback texts with the improvement they led to), and
selects k items of it: by ``recency``, by ``relevance`` (embedding similarity to the newest item;
``relavance`` is the original spelling) or by ``importance`` (score or improvement).

The newest history entry is the current item: the current prompt U for the trajectory, the
newest gradient (improvement still the -100 placeholder) for the gradient history.
Ties keep history order: Python's sort is stable, also with ``reverse=True``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol, TypeVar, Union

import numpy as np

from gpo.errors import ConfigError
from gpo.llm.embedder import Embedder
from gpo.names import choose

PENDING_IMPROVEMENT = -100.0  # the original's placeholder until the step's choice is known


@dataclass(frozen=True)
class TrajectoryEntry:
    """One point of the optimisation trajectory: a chosen prompt and its eval score.

    epoch = step = -1 for the initial prompt.
    """

    prompt: str
    score: float
    epoch: int
    step: int

    @property
    def text(self) -> str:
        return self.prompt

    @property
    def value(self) -> float:
        return self.score

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrajectoryEntry:
        return cls(str(d["prompt"]), float(d["score"]), int(d["epoch"]), int(d["step"]))


@dataclass(frozen=True)
class GradientEntry:
    """One feedback gradient and the eval improvement of the step that used it."""

    text: str
    improvement: float
    epoch: int
    step: int

    @property
    def value(self) -> float:
        return self.improvement

    def with_improvement(self, improvement: float) -> GradientEntry:
        """The entry once the step's choice is known (chosen score - previous chosen score)."""
        return replace(self, improvement=improvement)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GradientEntry:
        return cls(str(d["text"]), float(d["improvement"]), int(d["epoch"]), int(d["step"]))


HistoryEntry = Union[TrajectoryEntry, GradientEntry]
H = TypeVar("H", TrajectoryEntry, GradientEntry)


class Selection(Protocol):
    """Pick k items of a history, most useful first.

    ``newest_pending``: the newest entry's value is not known yet (a gradient before its step's
    choice, whose improvement is the placeholder); only importance ranks by value, so only it
    treats such an entry differently."""

    name: str

    def select(self, history: Sequence[H], k: int, *, newest_pending: bool = False) -> list[H]: ...


@dataclass(frozen=True)
class RecencySelection:
    """The last k entries, newest first (the current item included).

    Quirk kept (10.18): k = 0 selects the whole history, like Python's ``history[-0:]``.
    """

    name: str = "recency"

    def select(self, history: Sequence[H], k: int, *, newest_pending: bool = False) -> list[H]:
        return list(reversed(history[-k:]))


@dataclass(frozen=True)
class ImportanceSelection:
    """para: the top-k trajectory entries by eval score (U only if it makes the top k).

    feedback (``newest_pending``): the newest gradient first, then the top-k older gradients by
    improvement (k + 1 items, as in the original).
    """

    name: str = "importance"

    def select(self, history: Sequence[H], k: int, *, newest_pending: bool = False) -> list[H]:
        if not history:
            return []
        if newest_pending:
            older = sorted(history[:-1], key=lambda e: e.value, reverse=True)
            return [history[-1], *older[:k]]
        return sorted(history, key=lambda e: e.value, reverse=True)[:k]


@dataclass(frozen=True)
class RelevanceSelection:
    """The newest entry first, then the k - 1 older entries whose text is most similar to it.

    Similarity is the dot product of L2-normalised embeddings. Older entries are considered
    newest first and ranked by numpy's ``argsort(similarity)[::-1]``, as in the original, so
    exact ties (a prompt that appears twice in the trajectory) come out in numpy's order: the
    older entry first up to 16 entries (argsort's default quicksort is an insertion sort there,
    stable, and the reversal flips it), numpy's unstable introsort order beyond. Duplicates are
    kept. Quirk kept (10.18): k = 0 slices ``[:-1]``, i.e. every older entry except the least
    similar.
    """

    embedder: Embedder
    name: str = "relevance"

    def select(self, history: Sequence[H], k: int, *, newest_pending: bool = False) -> list[H]:
        if not history:
            return []
        newest = history[-1]
        older = list(reversed(history[:-1]))
        if not older:
            return [newest]
        vectors = self.embedder.encode([newest.text] + [e.text for e in older])
        similarity = np.asarray(vectors[1:] @ vectors[0])  # the embedder's dtype, as there
        order = np.argsort(similarity)[::-1]  # default kind (quicksort), reversed
        return [newest] + [older[int(i)] for i in order][: k - 1]


# --momentum_selection_name: the original's spellings are the canonical values (they are what
# configs_dict.json records); ``relevance`` is accepted for ``relavance``.
SELECTION_NAMES = ("recency", "relavance", "importance")
SELECTION_SPELLINGS = {"relevance": "relavance"}


def canonical_selection(name: str) -> str:
    """The canonical (original) spelling of a selection name; ConfigError for unknown names."""
    return choose("momentum_selection_name", name, SELECTION_NAMES, SELECTION_SPELLINGS)


def build_selection(name: str, embedder: Embedder | None = None) -> Selection:
    """The selection method for ``--momentum_selection_name`` (``relevance`` accepted)."""
    canonical = canonical_selection(name)
    if canonical == "recency":
        return RecencySelection()
    if canonical == "importance":
        return ImportanceSelection()
    if embedder is None:
        raise ConfigError("--momentum_selection_name=relavance needs an embedding model")
    return RelevanceSelection(embedder)
