"""Named choices: the one "did you mean" hint and the check of a flag value against its names.

Each vocabulary (datasets, backends, instruction positions, decay schedules, learning rates,
meta-prompt builders, momentum and selection names, presets) is owned by the module that
implements it, as a tuple of canonical names and, where the original's spelling differs from the
usual one, a mapping of accepted spellings to the canonical name; the two that both ``gpo.data``
and ``gpo.evaluation`` read (instruction positions, built-in metrics) are in ``gpo.vocabulary``,
below both. The flags, their help text and the run's validation import those constants and check
values with ``choose``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from gpo.errors import ConfigError

OFF = "-"  # the original's value for "none" (no gradient, no momentum, no decay, no builder)


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """The hint `` (did you mean 'x'?)`` for the closest of ``choices``, or '' if none is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def choose(
    flag: str,
    value: str,
    choices: Iterable[str],
    spellings: Mapping[str, str] | None = None,
) -> str:
    """The canonical name of ``value`` (an accepted spelling is mapped); else ConfigError."""
    choices = tuple(choices)
    spellings = spellings or {}
    if value in choices:
        return value
    if value in spellings:
        return spellings[value]
    hint = did_you_mean(value, (*choices, *spellings))
    raise ConfigError(f"--{flag}={value!r} is not valid{hint}; choices: {', '.join(choices)}")


def listing(names: Iterable[str], last: str = "or") -> str:
    """``a, b or c``: names for help texts and messages."""
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {last} {names[-1]}"
