"""Validation of named choices with "did you mean" hints (used for every enum-like flag)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from gpo.errors import ConfigError


def choose(
    flag: str,
    value: str,
    choices: Iterable[str],
    spellings: Mapping[str, str] | None = None,
) -> str:
    """Return the canonical value, accepting alternative ``spellings``; else raise ConfigError."""
    choices = list(choices)
    spellings = dict(spellings or {})
    if value in choices:
        return value
    if value in spellings:
        return spellings[value]
    known = choices + list(spellings)
    close = difflib.get_close_matches(value, known, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise ConfigError(f"--{flag}={value!r} is not valid; {hint}choices: {', '.join(choices)}")
