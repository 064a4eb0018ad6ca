"""The benchmark registry: dataset name -> Benchmark (one module per dataset, plus users' own
task folders as ``custom``)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from gpo.data.base import TaskData, TaskSpec
from gpo.data.bbh import BigBenchHard
from gpo.data.custom import CustomTasks
from gpo.data.gsm8k import GSM8K
from gpo.data.mmlu import MMLU
from gpo.data.webnlg import WebNLG
from gpo.data.wsc import WSC
from gpo.errors import ConfigError
from gpo.names import did_you_mean

# --dataset: the benchmarks (name -> loader), then users' own task folders (gpo.data.custom)
_BENCHMARKS = {"bbh": BigBenchHard, "mmlu": MMLU, "gsm8k": GSM8K, "webnlg": WebNLG, "wsc": WSC}
DATASETS: tuple[str, ...] = tuple(_BENCHMARKS)
CUSTOM = "custom"
DATASET_CHOICES: tuple[str, ...] = (*DATASETS, CUSTOM)


class Benchmark(Protocol):
    name: str  # "bbh"
    folder: str  # path of the dataset under the data dir, e.g. "BIG-Bench-Hard"

    def task_names(self) -> tuple[str, ...]:
        """Every task, in the original's processing order."""

    def resolve_tasks(self, requested: list[str]) -> list[str]:
        """Turn the --task_name list into task labels (``all`` expands); raise ConfigError."""

    def spec(self, task: str) -> TaskSpec: ...

    def load(self, task: str, data_dir: Path, max_examples: int | None = None) -> TaskData:
        """Read the five splits; raise DataError naming file and line on bad data."""

    def second_round_request(self, task: str, user_text: str, instruction_pos: str) -> str:
        """The follow-up user turn asking for the answer in the task's format (REFERENCE 3.2)."""


def get_benchmark(name: str, data_dir: Path | str | None = None) -> Benchmark:
    """The benchmark called ``name`` (the --dataset flag, case-insensitive).

    ``data_dir`` matters only for ``custom``, whose task names are the folders under it (default:
    GPO_DATA_DIR, else ./data).
    """
    key = name.strip().lower()
    if key == CUSTOM:
        return CustomTasks(data_dir)
    if key not in _BENCHMARKS:
        raise ConfigError(
            f"unknown dataset {name!r}{did_you_mean(key, DATASET_CHOICES)}; "
            f"choose one of {', '.join(DATASET_CHOICES)}"
        )
    return _BENCHMARKS[key]()
