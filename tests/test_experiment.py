"""The experiment grid on deterministic fakes: cells as run folders, baselines, table, report,
provenance, resume (0 calls for finished cells), failure isolation, dry run and bad input."""

from __future__ import annotations

import csv
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from gpo.cli import experiment_app
from gpo.cli.flags import options_from_flags
from gpo.data.registry import get_benchmark
from gpo.errors import ConfigError
from gpo.experiments import experiment, setup
from gpo.llm.base import GenerationParams, Prompt, prompt_text
from gpo.llm.fake import FakeLLM
from gpo.optimization.guards import CopyIndex, classify_prompt
from gpo.options import ExperimentOptions
from gpo.reports.table import build_table, read_experiment
from gpo.results.io import read_json, read_jsonl
from gpo.runs.build import ModelPool
from gpo.runs.runtime import Runtime
from helpers import EXPERIMENT, run_script

SECRET = "sk-test-never-on-disk"


def scorer_fake() -> FakeLLM:
    """Says Yes when the instruction mentions BEST, else No (navigate's gold answers are mixed)."""

    def respond(prompt: Prompt, params: GenerationParams, i: int) -> str:
        return "Yes" if "BEST" in prompt_text(prompt) else "No"

    return FakeLLM(respond, name="fake-scorer")


def optimizer_fake(fail: bool = False) -> FakeLLM:
    proposals = ["Think BEST, step by step.", "Answer plainly and briefly."]

    def respond(prompt: Prompt, params: GenerationParams, i: int) -> str:
        if fail and "Reply with OK" not in prompt_text(prompt):
            raise RuntimeError("simulated optimizer outage")
        return f"<START>{proposals[(i + params.seed) % 2]}<END>"

    return FakeLLM(respond, name="fake-optimizer")


class FakePool(ModelPool):
    def __init__(self, fail_seed: int | None = None) -> None:
        self.scorer, self.optimizer = scorer_fake(), optimizer_fake()
        self.failing = optimizer_fake(fail=True)
        self.fail_seed = fail_seed
        super().__init__(Runtime(load_llm=self._load_fake))

    def _load_fake(self, spec, options):
        if spec.alias == "fake-scorer":
            return self.scorer
        return self.failing if options.seed == self.fail_seed else self.optimizer

    @property
    def requests(self) -> int:
        return sum(f.num_requests for f in (self.scorer, self.optimizer, self.failing))


def parsed() -> ExperimentOptions:
    """The grid options of experiment.py's flags as parsed now."""
    return options_from_flags(ExperimentOptions)


@pytest.fixture
def flags_parsed():
    """experiment.py's flags parsed from ``args`` into ExperimentOptions (the command line's
    own parser), main.py's flag set restored after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    experiment_app.define_flags()

    def parse(args: list[str]) -> ExperimentOptions:
        experiment_app.FLAGS.unparse_flags()
        experiment_app.FLAGS(["experiment.py", *args])
        return parsed()

    yield parse
    experiment_app.FLAGS.unparse_flags()
    experiment_app.forget_flags()  # main.py's own flag set (and --help tests) stay untouched
    root.handlers[:] = handlers  # main() installs its own stderr handler
    root.setLevel(level)


def grid_args(tmp_path: Path, data_dir: Path, *extra: str) -> list[str]:
    return [
        "--presets=gpo,ape",
        "--seeds=0,1",
        "--dataset=bbh",
        "--task_name=navigate",
        "--scorer_llm_name=fake-scorer",
        "--scorer_backend=openai",
        "--optimizer_llm_name=fake-optimizer",
        "--optimizer_backend=openai",
        f"--openai_api_key={SECRET}",
        "--embedding_model=fake",
        "--max_examples=4",
        "--num_search_epochs=1",
        "--num_generated_instructions_in_each_step=2",
        "--opt_batch_size=4",
        "--no_cache",
        f"--output_dir={tmp_path / 'out'}",
        f"--data_dir={data_dir}",
        *extra,
    ]


def test_grid_runs_cells_baselines_table_report_and_resume(tmp_path, data_dir, flags_parsed):
    argv = flags_parsed(grid_args(tmp_path, data_dir))
    pool = FakePool()
    folder, results = experiment.execute(argv, pool=pool)
    ids = [r.cell_id for r in results]
    assert ids == [
        "baseline-empty-bbh-navigate",
        "baseline-cot-bbh-navigate",
        "gpo-bbh-navigate-seed0",
        "ape-bbh-navigate-seed0",
        "gpo-bbh-navigate-seed1",
        "ape-bbh-navigate-seed1",
    ]
    assert all(r.state == "finished" for r in results)
    root = folder.root
    assert root.parent == tmp_path / "out" and root.name.startswith("EXPERIMENT-BBH-s-fake-scorer")
    for cell in ids:
        run = root / "runs" / cell
        assert read_json(run / "status.json")["state"] == "finished"
        assert (run / "configs_dict.json").is_file() and (run / "report.md").is_file()
    gpo_cfg = read_json(root / "runs" / "gpo-bbh-navigate-seed1" / "run_config.json")
    assert gpo_cfg["preset"] == "gpo" and gpo_cfg["seed"] == 1
    assert gpo_cfg["opt"]["learning_rate_name"] == "w_lr"
    assert gpo_cfg["opt"]["num_generated_instructions_in_each_step"] == 2  # explicit flag wins
    assert (
        read_json(root / "runs" / "ape-bbh-navigate-seed0" / "run_config.json")["opt"][
            "learning_rate_name"
        ]
        == "wo_lr"
    )
    empty = read_jsonl(root / "runs" / "baseline-empty-bbh-navigate" / "scores.jsonl")
    assert [r["prompt"] for r in empty] == [""]

    table = (root / "table.md").read_text()
    for row in ("| Empty |", "| CoT |", "| GPO |", "| APE |"):
        assert row in table
    assert "| method | BBH | Average |" in table and "GPO against each method" in table
    rows = list(csv.DictReader((root / "table.csv").open()))
    assert {r["method"] for r in rows} == {"Empty", "CoT", "GPO", "APE"}
    gpo_bbh = next(r for r in rows if r["method"] == "GPO" and r["dataset"] == "BBH")
    finals = [
        100
        * read_jsonl(root / "runs" / f"gpo-bbh-navigate-seed{s}" / "best_prompts.jsonl")[0][
            "test_score"
        ]
        for s in (0, 1)
    ]
    assert float(gpo_bbh["mean"]) == pytest.approx(sum(finals) / 2, abs=1e-3)
    assert int(gpo_bbh["n_runs"]) == 2
    # each preset against its own initial prompt, and what the chosen prompts are
    assert "## Final prompt against the initial prompt" in table
    assert "## What the chosen prompts are" in table
    built = build_table(read_experiment(root), n_resamples=200)
    records = [
        read_jsonl(root / "runs" / f"gpo-bbh-navigate-seed{s}" / "best_prompts.jsonl")[0]
        for s in (0, 1)
    ]
    diffs = [100 * (r["test_score"] - r["initial_test_score"]) for r in records]
    versus = built.versus_initial[("gpo", "bbh")]
    assert (versus.wins, versus.ties, versus.losses) == (
        sum(d > 0 for d in diffs),
        sum(d == 0 for d in diffs),
        sum(d < 0 for d in diffs),
    )
    assert versus.mean_difference == pytest.approx(sum(diffs) / 2)
    assert versus.low <= versus.mean_difference <= versus.high
    kinds = built.kinds["gpo"]
    index = CopyIndex.from_task(get_benchmark("bbh").load("navigate", data_dir, 4))
    copies = [classify_prompt(r["prompt"], index) == "copy" for r in records]
    assert (kinds.chosen, kinds.copies, kinds.instructions) == (2, sum(copies), 2 - sum(copies))
    report = (root / "report.md").read_text()
    for png in ("scores.png", "step_size.png", "usage.png"):
        assert f"(plots/{png})" in report and (root / "plots" / png).stat().st_size > 1000

    provenance = read_json(root / "provenance.json")
    assert "navigate" in " ".join(provenance["data_files_sha256"])
    assert all(len(h) == 64 for h in provenance["data_files_sha256"].values())
    assert {m["role"] for m in provenance["models"]} >= {"scorer", "optimizer"}
    for path in root.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".md", ".log", ".csv"):
            assert SECRET not in path.read_text(errors="ignore"), path

    # resume of a finished grid: every cell skipped, no model request at all
    before = pool.requests
    flags_parsed([f"--resume={root}", "--no_cache"])
    again = FakePool()
    _, resumed = experiment.execute(parsed(), pool=again)
    assert [r.state for r in resumed] == ["skipped"] * 6
    assert again.requests == 0 and pool.requests == before


def test_a_failed_cell_does_not_stop_the_others_and_resume_reruns_it(
    tmp_path, data_dir, flags_parsed, capsys
):
    flags_parsed(grid_args(tmp_path, data_dir, "--baselines="))
    with pytest.raises(SystemExit) as exit_info:
        experiment_app.main(["experiment.py"], runtime=FakePool(fail_seed=1).runtime)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "gpo-bbh-navigate-seed1 (failed)" in err and "ape-bbh-navigate-seed1 (failed)" in err
    [root] = list((tmp_path / "out").iterdir())
    states = {r["cell_id"]: r["state"] for r in read_jsonl(root / "cells.jsonl")}
    assert states == {
        "gpo-bbh-navigate-seed0": "finished",
        "ape-bbh-navigate-seed0": "finished",
        "gpo-bbh-navigate-seed1": "failed",
        "ape-bbh-navigate-seed1": "failed",
    }
    assert read_json(root / "runs" / "gpo-bbh-navigate-seed1" / "status.json")["state"] == "failed"
    assert "(1/2 runs)" in (root / "table.md").read_text()  # partial cells are marked

    flags_parsed([f"--resume={root}", "--no_cache"])
    pool = FakePool()
    _, resumed = experiment.execute(parsed(), pool=pool)
    assert {r.cell_id: r.state for r in resumed} == {
        "gpo-bbh-navigate-seed0": "skipped",
        "ape-bbh-navigate-seed0": "skipped",
        "gpo-bbh-navigate-seed1": "finished",
        "ape-bbh-navigate-seed1": "finished",
    }
    assert "runs)" not in (root / "table.md").read_text()


def test_dry_run_plans_the_grid_and_estimates_wall_time(tmp_path, data_dir, flags_parsed, capsys):
    argv = flags_parsed(
        grid_args(tmp_path, data_dir, "--dry_run", "--scorer_tokens_per_second=100")
    )
    assert experiment.execute(argv, pool=FakePool()) is None
    out = capsys.readouterr().out
    assert not (tmp_path / "out").exists()
    lines = out.splitlines()
    total = next(ln for ln in lines if ln.startswith("TOTAL")).split()
    assert total[1] == "6"  # cells: 4 optimization + 2 baselines
    hours = [ln for ln in lines if ln.startswith("estimated scorer wall time")]
    assert len(hours) == 3
    secs = [float(h.rsplit("(", 1)[1].split(" s)")[0]) for h in hours]
    assert secs[0] >= secs[1] >= secs[2] > 0
    gpo = next(ln for ln in lines if ln.startswith("gpo")).split()
    # 2 gpo cells, each: 4 eval + 2x4 test + 1 step x 2 candidates x 4 eval = 20 scorer requests
    assert gpo[1] == "2" and gpo[2] == "40"


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--preset=gpo"], "does not take --preset"),
        (["--seed=3"], "does not take --seed"),
        (["--presets=gpo,gpp"], "did you mean 'gpo'"),
        (["--seeds=0,x"], "give integers"),
        (["--seeds=1,1"], "each seed once"),
        (["--task_name=navigat"], "unknown bbh task"),
    ],
)
def test_bad_input_fails_before_any_model(tmp_path, data_dir, flags_parsed, extra, message):
    pool = FakePool()
    with pytest.raises(ConfigError, match=message):  # on parsing (seeds) or before any model
        experiment.execute(flags_parsed(grid_args(tmp_path, data_dir, *extra)), pool=pool)
    assert pool.requests == 0 and not (tmp_path / "out").exists()


def test_several_datasets_split_the_task_names(flags_parsed):
    assert setup.grid_tasks(["bbh", "wsc"], ["navigate", "web_of_lies"]) == {
        "bbh": ["navigate", "web_of_lies"],
        "wsc": ["wsc"],
    }
    with pytest.raises(ConfigError, match="names no mmlu task"):
        setup.grid_tasks(["bbh", "mmlu"], ["navigate"])


def test_resume_with_task_name_continues_only_those_tasks(tmp_path, data_dir, flags_parsed):
    argv = flags_parsed(
        grid_args(
            tmp_path,
            data_dir,
            "--presets=gpo",
            "--seeds=0",
            "--baselines=",
            "--task_name=navigate,boolean_expressions",
        )
    )
    folder, results = experiment.execute(argv, pool=FakePool())
    ids = sorted(r.cell_id for r in results)
    assert ids == ["gpo-bbh-boolean_expressions-seed0", "gpo-bbh-navigate-seed0"]
    root = folder.root
    # both cells lost (as if never run): a resume limited to navigate runs navigate's only
    import shutil

    for cell in ids:
        shutil.rmtree(root / "runs" / cell)
    flags_parsed([f"--resume={root}", "--no_cache", "--task_name=navigate"])
    pool = FakePool()
    _, resumed = experiment.execute(parsed(), pool=pool)
    assert [(r.cell_id, r.state) for r in resumed] == [("gpo-bbh-navigate-seed0", "finished")]
    assert pool.requests > 0
    assert (root / "runs" / "gpo-bbh-navigate-seed0" / "best_prompts.jsonl").is_file()
    assert not (root / "runs" / "gpo-bbh-boolean_expressions-seed0").exists()
    # a task the experiment does not have: one line naming its tasks
    flags_parsed([f"--resume={root}", "--task_name=date_iso"])
    with pytest.raises(
        ConfigError, match="the experiment.s tasks are navigate,boolean_expressions"
    ):
        experiment.execute(parsed(), pool=FakePool())


def test_resume_with_presets_and_seeds_continues_only_those_cells(tmp_path, data_dir, flags_parsed):
    argv = flags_parsed(
        grid_args(tmp_path, data_dir, "--presets=gpo,ape", "--seeds=0,1", "--task_name=navigate")
    )
    folder, results = experiment.execute(argv, pool=FakePool())
    root = folder.root
    import shutil

    for r in results:  # every cell lost, as if never run
        shutil.rmtree(root / "runs" / r.cell_id)
    # GPO's cells first (the methods a reader compares first), seed 1 only; baselines stay in
    flags_parsed([f"--resume={root}", "--no_cache", "--presets=GPO", "--seeds=1"])
    _, resumed = experiment.execute(parsed(), pool=FakePool())
    assert sorted(r.cell_id for r in resumed if r.state == "finished") == [
        "baseline-cot-bbh-navigate",
        "baseline-empty-bbh-navigate",
        "gpo-bbh-navigate-seed1",
    ]
    assert not (root / "runs" / "ape-bbh-navigate-seed1").exists()
    assert not (root / "runs" / "gpo-bbh-navigate-seed0").exists()
    # the rest later: a resume without a subset continues every cell left
    flags_parsed([f"--resume={root}", "--no_cache"])
    _, rest = experiment.execute(parsed(), pool=FakePool())
    assert sorted(r.cell_id for r in rest if r.state == "finished") == [
        "ape-bbh-navigate-seed0",
        "ape-bbh-navigate-seed1",
        "gpo-bbh-navigate-seed0",
    ]
    # a method or seed the experiment does not have: one line naming its own
    for flag, message in (
        ("--presets=opro", "the experiment.s presets are gpo,ape"),
        ("--seeds=7", "the experiment.s seeds are 0,1"),
    ):
        flags_parsed([f"--resume={root}", flag])
        with pytest.raises(ConfigError, match=message):
            experiment.execute(parsed(), pool=FakePool())


def test_run_presets_and_run_seeds_start_a_grid_with_some_cells(tmp_path, data_dir, flags_parsed):
    # the whole grid is saved; only GPO's seed-1 cell (and the baselines) runs now
    argv = flags_parsed(grid_args(tmp_path, data_dir, "--run_presets=GPO", "--run_seeds=1"))
    folder, results = experiment.execute(argv, pool=FakePool())
    assert sorted(r.cell_id for r in results) == [
        "baseline-cot-bbh-navigate",
        "baseline-empty-bbh-navigate",
        "gpo-bbh-navigate-seed1",
    ]
    assert len(folder.read_spec()[1]) == 6  # 2 baselines + 2 presets x 2 seeds
    assert not (folder.root / "runs" / "ape-bbh-navigate-seed0").exists()
    # a plain resume runs the cells left
    flags_parsed([f"--resume={folder.root}", "--no_cache"])
    _, rest = experiment.execute(parsed(), pool=FakePool())
    assert sorted(r.cell_id for r in rest if r.state == "finished") == [
        "ape-bbh-navigate-seed0",
        "ape-bbh-navigate-seed1",
        "gpo-bbh-navigate-seed0",
    ]
    # a method the grid does not have: one line, and no experiment folder left behind
    out = tmp_path / "other"
    flags_parsed(grid_args(out, data_dir, "--run_presets=opro"))
    with pytest.raises(ConfigError, match="--run_presets=opro: the experiment.s presets are"):
        experiment.execute(parsed(), pool=FakePool())
    assert not list(out.rglob("experiment.json"))


def test_a_worker_records_placement_only_for_cells_it_ran(tmp_path, data_dir, flags_parsed):
    from types import SimpleNamespace

    from gpo.runs.request import build_request
    from gpo.scale.grid_workers import run_cell_unit

    argv = flags_parsed(grid_args(tmp_path, data_dir, "--presets=gpo", "--seeds=0", "--baselines="))
    folder, _ = experiment.execute(argv, pool=FakePool())
    flags_parsed([f"--resume={folder.root}", "--no_cache"])
    template = build_request(parsed())
    _, cells, _ = setup.resumed_grid(template, parsed())
    context = SimpleNamespace(placement=SimpleNamespace(to_dict=lambda: {"pid": 1}))
    for cell in cells:  # finished: skipped, and nothing written into its folder
        result = run_cell_unit(FakePool(), SimpleNamespace(payload=(cell, template)), context)
        assert result.state == "skipped"
        assert not (Path(result.run_folder) / "placement.jsonl").exists()
    import shutil

    shutil.rmtree(folder.root / "runs" / cells[0].cell_id)
    result = run_cell_unit(FakePool(), SimpleNamespace(payload=(cells[0], template)), context)
    assert result.state == "finished"
    assert read_jsonl(Path(result.run_folder) / "placement.jsonl") == [{"pid": 1}]


def test_resume_needs_an_experiment_folder(tmp_path, flags_parsed):
    flags_parsed([f"--resume={tmp_path}"])
    with pytest.raises(ConfigError, match="not an experiment folder"):
        experiment.execute(parsed(), pool=FakePool())


def test_provenance_redacts_keys():
    from gpo.results.provenance import redacted_argv

    assert redacted_argv(["x", "--openai_api_key=abc", "--openai_api_key", "def", "--seed=1"]) == [
        "x",
        "--openai_api_key=<redacted>",
        "--openai_api_key",
        "<redacted>",
        "--seed=1",
    ]
    assert json.dumps(redacted_argv(["--openai_api_key_list=a,b"])).count("<redacted>") == 1


def test_report_of_a_partial_run_and_bad_folders(tmp_path, data_dir, flags_parsed, capsys):
    from gpo.cli.report_app import run as report_main

    argv = flags_parsed(grid_args(tmp_path, data_dir, "--presets=gpo", "--seeds=0", "--baselines="))
    folder, _ = experiment.execute(argv, pool=FakePool())
    run = folder.root / "runs" / "gpo-bbh-navigate-seed0"
    # make it look interrupted after its step: no final record, no best prompt, still "running"
    steps = run / "result_by_instruction" / "navigate" / "steps.jsonl"
    kept = [line for line in steps.read_text().splitlines() if '"kind": "final"' not in line]
    steps.write_text("\n".join(kept) + "\n")
    (run / "best_prompts.jsonl").unlink()
    status = read_json(run / "status.json")
    (run / "status.json").write_text(json.dumps({**status, "state": "running"}))
    for path in [run / "report.md", *(run / "plots").glob("*.png")]:
        path.unlink()
    report_main([str(run)])
    text = (run / "report.md").read_text()
    assert "state: **running**" in text and "| navigate |" in text
    assert all((run / "plots" / p).is_file() for p in ("scores.png", "step_size.png", "usage.png"))
    # the experiment's table now counts that cell as missing
    report_main([str(folder.root)])
    assert "| GPO | - | - |" in (folder.root / "table.md").read_text()
    assert "1 running" in (folder.root / "report.md").read_text()
    # the process that wrote "running" is gone (a stopped grid, a killed worker): interrupted
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    (run / "status.json").write_text(
        json.dumps({**status, "state": "running", "pid": int(gone.stdout)})
    )
    report_main([str(run)])
    assert "state: **interrupted**" in (run / "report.md").read_text()
    report_main([str(folder.root)])
    text = (folder.root / "report.md").read_text()
    assert "1 interrupted" in text and "- interrupted: gpo-bbh-navigate-seed0" in text
    assert "with `--resume`" in text
    with pytest.raises(SystemExit) as e:
        report_main([str(tmp_path)])
    assert e.value.code == 2
    assert "neither a run folder" in capsys.readouterr().err


def test_command_line_help_and_one_line_errors(tmp_path):
    shown = run_script(["--help"], tmp_path, script=EXPERIMENT)
    assert shown.returncode == 0 and "--presets" in shown.stdout and "--seeds" in shown.stdout
    bad = run_script(["--presets=gpo,xyz", f"--output_dir={tmp_path}"], tmp_path, script=EXPERIMENT)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines()[-1].startswith("error: --presets='xyz' is not valid")


def test_grid_on_a_custom_task_folder(tmp_path, flags_parsed, repo_root):
    """Custom tasks live under --data_dir, not the benchmark root: the grid resolves, runs and
    tabulates them like a benchmark."""
    args = [a for a in grid_args(tmp_path, repo_root / "examples", "--baselines=empty")]
    args = [
        a.replace("--dataset=bbh", "--dataset=custom").replace(
            "--task_name=navigate", "--task_name=review_sentiment,date_iso"
        )
        for a in args
    ]
    argv = flags_parsed(args)
    folder, results = experiment.execute(argv, pool=FakePool())
    assert [r.cell_id for r in results][:5] == [
        "baseline-empty-custom-review_sentiment",
        "baseline-empty-custom-date_iso",
        "gpo-custom-review_sentiment-seed0",
        "gpo-custom-date_iso-seed0",
        "ape-custom-review_sentiment-seed0",
    ]
    assert len(results) == 10 and all(r.state == "finished" for r in results)
    table = (folder.root / "table.md").read_text()
    assert "| method | CUSTOM | Average |" in table
    # two tasks in one dataset column: the per-task table shows each, with every seed's score
    assert "| method | review_sentiment | date_iso |" in table
    gpo_row = next(
        line for line in table.splitlines() if line.startswith("| GPO | ") and "(" in line
    )
    finals = [
        100
        * read_jsonl(folder.runs_dir / f"gpo-custom-date_iso-seed{s}" / "best_prompts.jsonl")[0][
            "test_score"
        ]
        for s in (0, 1)
    ]
    mean = sum(finals) / 2
    assert f"{mean:.1f} ({finals[0]:.1f}, {finals[1]:.1f})" in gpo_row.split(" | ")[2]
    # the report's prompt table names each chosen prompt's kind
    report = (folder.root / "report.md").read_text()
    assert "| best prompt | eval | test | kind | report |" in report
    cell_row = next(line for line in report.splitlines() if "| gpo-custom-date_iso-seed0 |" in line)
    assert cell_row.split(" | ")[-2] in {"instruction", "initial", "copy", "scaffolding", "chatter"}
    hashes = read_json(folder.root / "provenance.json")["data_files_sha256"]
    assert any("review_sentiment" in name for name in hashes)


def test_custom_listed_first_beside_a_benchmark(
    tmp_path, data_dir, flags_parsed, repo_root, capsys
):
    """--dataset=custom,bbh plans like bbh,custom: BBH's task names are not read as folders."""
    both = tmp_path / "data"
    both.mkdir()
    (both / "BIG-Bench-Hard").symlink_to(data_dir / "BIG-Bench-Hard", target_is_directory=True)
    (both / "review_sentiment").symlink_to(repo_root / "examples" / "review_sentiment")
    args = grid_args(tmp_path, both, "--dry_run", "--baselines=")
    args = [
        a.replace("--dataset=bbh", "--dataset=custom,bbh").replace(
            "--task_name=navigate", "--task_name=review_sentiment,navigate"
        )
        for a in args
    ]
    assert experiment.execute(flags_parsed(args), pool=FakePool()) is None
    # 2 presets x 2 seeds x (one custom task + one BBH task)
    assert "dry run: 8 cells" in capsys.readouterr().out


def test_summary_puts_experiments_side_by_side(tmp_path, data_dir, flags_parsed):
    """gpo.reports.summary (the README's results block): one column per experiment, GPO
    against its initial prompt and each method as in each experiment's own table, prompt kinds
    pooled, sizes, and one figure with a panel per column."""
    from gpo.reports.summary import read_columns, summary_markdown, write_summary_figure

    folders = []
    for name in ("a", "b"):
        argv = flags_parsed(grid_args(tmp_path / name, data_dir))
        folder, _ = experiment.execute(argv, pool=FakePool())
        folders.append(folder.root)
    columns = read_columns(folders)
    assert [c.label for c in columns] == ["BBH, scorer fake-scorer"] * 2
    text = summary_markdown(columns)
    built = build_table(read_experiment(folders[0]))
    versus = built.versus_initial[("gpo", "bbh")]
    row = next(line for line in text.splitlines() if line.startswith("| its initial prompt |"))
    expected = f"{versus.wins}/{versus.ties}/{versus.losses}, {versus.mean_difference:+.1f}"
    assert row.split(" | ")[1].startswith(expected)
    ape = built.comparisons["ape"]
    row = next(line for line in text.splitlines() if line.startswith("| APE | ") and "/" in line)
    assert row.split(" | ")[1].startswith(f"{ape.wins}/{ape.ties}/{ape.losses}")
    # kinds pooled over both experiments: 2 seeds x 2 experiments per preset
    row = next(line for line in text.splitlines() if line.startswith("| GPO | 4 |"))
    assert "| instruction | initial | copy | scaffolding | chatter |" in text
    assert row.count("%") == 5
    assert "| BBH, scorer fake-scorer | navigate | 0, 1 | 4 of 4 | fake-optimizer |" in text
    png = write_summary_figure(columns, tmp_path / "summary.png")
    assert png.stat().st_size > 10_000


def test_the_summary_counts_how_often_eval_gains_carry_to_test(tmp_path, data_dir, flags_parsed):
    from gpo.reports.summary import carry_over, read_columns, summary_markdown
    from gpo.reports.table import chosen_records

    folder, _ = experiment.execute(flags_parsed(grid_args(tmp_path, data_dir)), pool=FakePool())
    (column,) = read_columns([folder.root])
    records = list(chosen_records(column.exp).values())
    gained = [r for r in records if r["eval_score"] > r["initial_eval_score"]]
    up = [r for r in gained if r["test_score"] > r["initial_test_score"]]
    everything = carry_over(column)
    assert (everything.runs, everything.eval_gains, everything.test_gains) == (
        len(records),
        len(gained),
        len(up),
    )
    assert everything.test_gains + everything.test_ties + everything.test_losses == len(gained)
    assert carry_over(column, "gpo").runs == 2 and carry_over(column, "ape").runs == 2
    row = next(line for line in summary_markdown([column]).splitlines() if "all methods" in line)
    assert f"{len(gained)} of {len(records)}" in row or (not gained and "0 of" in row)


def test_a_summary_column_can_keep_some_of_an_experiments_tasks(tmp_path, data_dir, flags_parsed):
    from gpo.reports.summary import read_columns, summary_markdown

    argv = flags_parsed(
        grid_args(tmp_path, data_dir, "--seeds=0", "--task_name=navigate,boolean_expressions")
    )
    folder, _ = experiment.execute(argv, pool=FakePool())
    (whole,) = read_columns([folder.root])
    (column,) = read_columns([folder.root], {folder.root: ["navigate"]})
    assert whole.label == "BBH, scorer fake-scorer"
    assert column.label == "BBH navigate, scorer fake-scorer"
    assert {c.task for c in column.exp.cells} == {"navigate"}
    assert set(column.exp.runs) == {c.cell_id for c in column.exp.cells}
    # the GPO row counts navigate's one pair only (the whole experiment has two)
    assert whole.table.versus_initial[("gpo", "bbh")].n_pairs == 2
    assert column.table.versus_initial[("gpo", "bbh")].n_pairs == 1
    text = summary_markdown([column])
    assert "| BBH navigate, scorer fake-scorer | navigate | 0 | 2 of 2 |" in text
    with pytest.raises(ConfigError, match="no task date_iso; its tasks are navigate"):
        read_columns([folder.root], {folder.root: ["date_iso"]})


def test_a_run_with_no_attempt_on_record_counts_its_own_time(tmp_path, data_dir, flags_parsed):
    # Grid v2's early cells ran before their folder logged attempts: their method's wall time
    # read 0 s in the experiment report. Without an attempt, the run's own step times count.
    from gpo.reports.table import method_costs

    argv = flags_parsed(grid_args(tmp_path, data_dir, "--presets=gpo", "--seeds=0"))
    folder, _ = experiment.execute(argv, pool=FakePool())
    exp = read_experiment(folder.root)
    logged = method_costs(exp)["gpo"]["wall_seconds"]
    run = exp.runs["gpo-bbh-navigate-seed0"]
    assert run.work_seconds > 0 and logged >= run.work_seconds  # the attempt includes setup
    (folder.root / "cells.jsonl").unlink()
    exp = read_experiment(folder.root)
    assert method_costs(exp)["gpo"]["wall_seconds"] == pytest.approx(run.work_seconds)
    # a later invocation logs the finished cell as skipped, 0 s: its run's own time still counts
    folder.log_cell({"cell_id": "gpo-bbh-navigate-seed0", "state": "skipped", "seconds": 0.0})
    exp = read_experiment(folder.root)
    assert method_costs(exp)["gpo"]["wall_seconds"] == pytest.approx(run.work_seconds)
    assert method_costs(exp)["empty"]["wall_seconds"] == pytest.approx(
        exp.runs["baseline-empty-bbh-navigate"].work_seconds
    )
