"""The GEPA options this project passes to ``gepa.optimize`` (GEPA's own defaults, set
explicitly so a run says what it used), and the check that the package is installed."""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass
from typing import Any

from gpo.errors import ConfigError

COMPONENT = "instruction"  # the one text component GEPA evolves: the task prompt
INSTALL_HINT = "--preset=gepa needs gepa: pip install -e '.[gepa]'"


@dataclass(frozen=True)
class GepaSettings:
    """GEPA's defaults, kept: Pareto candidate selection over the eval examples, reflection on
    minibatches of 3 train examples, a proposal accepted when it strictly improves the minibatch
    sum, no merge, the package's own reflection prompt."""

    candidate_selection_strategy: str = "pareto"
    frontier_type: str = "instance"
    reflection_minibatch_size: int = 3
    acceptance_criterion: str = "strict_improvement"
    use_merge: bool = False
    skip_perfect_score: bool = True
    perfect_score: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


GEPA_SETTINGS = GepaSettings()


def gepa_installed() -> bool:
    return importlib.util.find_spec("gepa") is not None


def require_gepa() -> None:
    """One line naming the fix when the optional ``gepa`` package is missing."""
    if not gepa_installed():
        raise ConfigError(INSTALL_HINT)
