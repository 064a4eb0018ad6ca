"""The process's logging: one stderr handler and quiet chatty libraries.

The entry points call it at start-up (``gpo.cli.startup``), and so does every Ray worker
(``gpo.scale``), whose process starts with no handler of its own.
"""

from __future__ import annotations

import logging
import sys

NOISY_LOGGERS = (
    "httpx",
    "httpx2",  # the HTTP client of recent openai releases: one INFO line per request
    "urllib3",
    "filelock",
    "sentence_transformers",
    "transformers",
)


def setup_logging(level: str) -> None:
    """Log to stderr at ``level`` (the process's only handler); chatty libraries at WARNING."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level, logging.INFO))
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
