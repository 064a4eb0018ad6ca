"""--help and --helpfull: this project's flags grouped as in the README, or every flag."""

from __future__ import annotations

import subprocess

import pytest

from gpo.cli import app
from gpo.cli.flags import FLAGS
from gpo.cli.usage import GROUPS, help_request, project_flags
from helpers import REPO, run_script


def main_py(*args: str) -> subprocess.CompletedProcess:
    return run_script(args, REPO, timeout=120)


@pytest.mark.parametrize("arg", ["--help", "-h"])
def test_help_lists_every_project_flag_grouped_as_the_readme(arg: str) -> None:
    proc = main_py(arg)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Unknown command line flag" not in out + proc.stderr
    titles = [title for title, _ in GROUPS]
    positions = [out.index(f"\n{title}:\n") for title in titles]
    assert positions == sorted(positions)  # the README's order
    for name, flag in project_flags(FLAGS).items():
        label = f"--[no]{name}" if flag.boolean else f"--{name}"
        assert f"  {label}\n" in out, name
    # a flag sits in its group, with its help text and default
    momentum = out[out.index("\nMomentum:\n") : out.index("\nStep size")]
    assert "--momentum_selection_name" in momentum and "relavance/relevance" in momentum
    assert "--optimizer_max_tokens" in out and "(default: '512')" in out
    assert "--preset=gpo" in out  # the usage example names the paper's method
    assert "--helpxml" not in out  # absl's own flags are left to --helpfull


def test_helpfull_lists_every_flag_absls_included() -> None:
    proc = main_py("--helpfull")
    assert proc.returncode == 0, proc.stderr
    for name, flag in project_flags(FLAGS).items():
        assert f"--{'[no]' if flag.boolean else ''}{name}" in proc.stdout, name
    assert "absl.app:" in proc.stdout and "--[no]helpxml" in proc.stdout


def test_gpo_console_script_answers_help(capsys) -> None:
    # pyproject's `gpo` script is gpo.cli.app:run; it gets the same help.
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'gpo = "gpo.cli.app:run"' in pyproject
    with pytest.raises(SystemExit) as exit_info:
        app.run(["gpo", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "Scoring prompts:" in out and "--only_evaluate" in out


def test_help_request_stops_at_a_bare_double_dash() -> None:
    assert help_request(["gpo", "--dataset=bbh", "-h"]) == "short"
    assert help_request(["gpo", "--helpfull"]) == "full"
    assert help_request(["gpo", "--", "--help"]) is None
    assert help_request(["gpo", "--initial_instruction=--help"]) is None
