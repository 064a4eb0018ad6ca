"""benchmarks/quick_start.py reads the README's quick start as written and parses
``/usr/bin/time -v``; the measurement itself is a benchmark, not a test."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from helpers import REPO


@pytest.fixture(scope="module")
def quick_start():
    spec = importlib.util.spec_from_file_location(
        "quick_start", REPO / "benchmarks" / "quick_start.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["quick_start"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_the_measured_command_is_the_readmes_quick_start(quick_start) -> None:
    command = quick_start.readme_command()
    assert command[:2] == ["python", "src/optimization/main.py"]
    assert "--scorer_llm_name=qwen2.5-coder-0.5b" in command
    assert "--initial_instruction=Find the date in the text." in command
    assert not any(
        a.startswith(("--seed", "--output_dir")) for a in command
    )  # the script adds them


def test_time_v_report_is_parsed(quick_start) -> None:
    report = (
        "\tElapsed (wall clock) time (h:mm:ss or m:ss): 2:16.94\n"
        "\tMaximum resident set size (kbytes): 2097152\n"
    )
    assert quick_start.time_v(report) == pytest.approx((136.94, 2.0))
    assert (
        quick_start.time_v(
            "\tElapsed (wall clock) time (h:mm:ss or m:ss): 1:02:03\n"
            "\tMaximum resident set size (kbytes): 1\n"
        )[0]
        == 3723
    )
    with pytest.raises(ValueError):
        quick_start.time_v("nothing")
