"""Compare methods the way the paper does (its Table 5): presets x tasks x seeds in one command.

``python src/optimization/experiment.py --presets=gpo,ape --seeds=0,1 --dataset=bbh
--task_name=navigate ...`` (every main.py flag works too). See ``gpo.experiments.experiment``.
"""

import sys
from pathlib import Path

_SRC = Path(__file__).resolve().parents[1]
if str(_SRC) not in sys.path:
    sys.path.insert(0, str(_SRC))

from gpo.cli.experiment_app import run  # noqa: E402

if __name__ == "__main__":
    run()
