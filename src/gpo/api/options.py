"""Python options -> the CLI's flags: ``num_search_epochs=2`` is parsed exactly as
``--num_search_epochs=2`` would be, by the same absl flag definitions.

The API runs its calls through the command line's own code (flags -> ``RunConfig`` -> preflight),
so a value the CLI rejects is rejected here with the same one-line message, as
``gpo.ConfigError``. absl's flag values are process-wide, so one API call at a time holds them
(``parsed_options`` takes a lock) and they are put back as they were afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from absl import flags

from gpo.cli.flags import FLAGS
from gpo.errors import ConfigError
from gpo.names import did_you_mean

_LOCK = threading.RLock()
HELP_HINT = "See --helpfull for every flag."
SPECIAL = ("flagfile", "undefok")  # absl's parser reads these itself: not run options


def flag_argument(name: str, value: Any) -> str | None:
    """One option as its command-line argument (None: leave the flag at its default)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return f"--{name}" if value else f"--no{name}"
    if isinstance(value, (list, tuple)):
        return f"--{name}={','.join(str(v) for v in value)}"
    return f"--{name}={value}"


def check_names(options: Mapping[str, Any], values: flags.FlagValues = FLAGS) -> None:
    """No option names one of absl's own flags (``flagfile``, ``v``, ...): options are this
    project's flags. A name no flag has is left to absl, whose message (with its did-you-mean)
    is the command line's."""
    own = _project_flag_names(values)
    for name in options:
        if name in SPECIAL or (name in values and name not in own):
            raise ConfigError(
                f"unknown option {name!r}{did_you_mean(name, sorted(own))}; options take the "
                "command line's flag names (python src/optimization/main.py --help)"
            )


def _project_flag_names(values: flags.FlagValues) -> set[str]:
    names: set[str] = set()
    for module, module_flags in values.flags_by_module_dict().items():
        if module == "gpo" or module.startswith("gpo."):
            names.update(f.name for f in module_flags)
    return names


def to_argv(options: Mapping[str, Any]) -> list[str]:
    """The options as command-line arguments (after checking their names); an unknown name is
    kept so that parsing reports it."""
    check_names(options)
    out = []
    for name, value in options.items():
        arg = flag_argument(name, value) if name in FLAGS else f"--{name}={value}"
        if arg is not None:
            out.append(arg)
    return out


def _saved_state(values: flags.FlagValues) -> dict[str, tuple[Any, int, bool]] | None:
    if not values.is_parsed():
        return None
    return {n: (values[n].value, values[n].present, values[n].using_default_value) for n in values}


def _restore(values: flags.FlagValues, saved: dict[str, tuple[Any, int, bool]] | None) -> None:
    values.unparse_flags()
    if saved is None:
        return
    values.mark_as_parsed()
    for name, (value, present, default) in saved.items():
        if name in values:
            flag = values[name]
            flag.value, flag.present, flag.using_default_value = value, present, default


@contextmanager
def parsed_options(argv: Sequence[str], program: str = "gpo") -> Iterator[flags.FlagValues]:
    """absl's FLAGS parsed from ``argv`` for the duration of the block (one block at a time);
    a bad value raises ConfigError with the command line's message."""
    with _LOCK:
        saved = _saved_state(FLAGS)
        FLAGS.unparse_flags()
        try:
            try:
                FLAGS([program, *argv])
            except flags.Error as e:
                raise ConfigError(f"{e}. {HELP_HINT}") from None
            yield FLAGS
        finally:
            _restore(FLAGS, saved)
