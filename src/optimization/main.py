"""The paper's entry point: ``python src/optimization/main.py --flag=value ...``.

Works from a source checkout with or without ``pip install -e .``.
"""

import sys
from pathlib import Path

_SRC = Path(__file__).resolve().parents[1]
if str(_SRC) not in sys.path:
    sys.path.insert(0, str(_SRC))

from gpo.cli.app import run  # noqa: E402

if __name__ == "__main__":
    run()
