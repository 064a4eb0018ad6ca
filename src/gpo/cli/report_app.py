"""Entry point of ``src/optimization/report.py``: (re)write the report of run or experiment
folders from what they hold; no model is loaded."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from gpo.cli.startup import fail
from gpo.errors import GPOError


def run(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="report.py",
        description="Write report.md and plots/ (and, for an experiment, table.md/table.csv) "
        "for run or experiment folders, finished or partial.",
    )
    parser.add_argument("folders", nargs="+", help="run folder(s) or experiment folder(s)")
    args = parser.parse_args(None if argv is None else list(argv))
    logging.basicConfig(level=logging.WARNING)
    from pathlib import Path

    from gpo.reports.report import write_report

    for folder in args.folders:
        path = Path(folder).expanduser()
        if not path.is_dir():
            fail(f"{folder}: no such folder; give a run folder or an experiment folder")
        try:
            out = write_report(path)
        except GPOError as e:
            fail(str(e))
        sys.stdout.write(f"report: {out}\n")
