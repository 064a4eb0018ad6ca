"""``report.md`` with its plots for a folder: a run's report or an experiment's, whichever the
folder is (``src/optimization/report.py <folder>``, and the end of every run)."""

from __future__ import annotations

from pathlib import Path

from gpo.errors import ConfigError
from gpo.reports.experiment_report import write_experiment_report
from gpo.reports.run_report import write_run_report
from gpo.results.experiment_folder import is_experiment_folder
from gpo.results.reading import is_run_folder, read_run


def write_report(root: Path) -> Path:
    """Write report.md and plots/ for a run folder or an experiment folder; return report.md."""
    root = Path(root)
    if is_experiment_folder(root):
        return write_experiment_report(root)
    if is_run_folder(root):
        return write_run_report(read_run(root))
    raise ConfigError(f"{root}: neither a run folder (run_config.json) nor an experiment folder")
