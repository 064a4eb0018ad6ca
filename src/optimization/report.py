"""Write report.md and plots/ for a run folder or an experiment folder (finished or partial).

``python src/optimization/report.py <folder> [<folder> ...]``; no model is loaded.
"""

import sys
from pathlib import Path

_SRC = Path(__file__).resolve().parents[1]
if str(_SRC) not in sys.path:
    sys.path.insert(0, str(_SRC))

from gpo.cli.report_app import run  # noqa: E402

if __name__ == "__main__":
    run()
