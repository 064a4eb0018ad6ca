"""GEPA as a method (``--preset=gepa``) on deterministic fakes: the adapter on the project's
scorer (its reflective dataset), the default budget (the gpo preset's plan), a whole task into a
run folder, resume through GEPA's run_dir, and the one-line errors."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from fake_loop import TASK, make_config, make_scorer_fake
from gpo.config import OptimizerConfig, RunConfig
from gpo.data.base import TaskData
from gpo.data.registry import get_benchmark
from gpo.errors import BudgetExceeded, ConfigError
from gpo.evaluation.scorer import Scorer, ScorerSettings
from gpo.experiments import experiment
from gpo.llm.accounting import Ledger, wrap_llm
from gpo.llm.base import GenerationParams, Prompt, prompt_text
from gpo.llm.embedder import FakeEmbedder
from gpo.llm.fake import FakeLLM
from gpo.optimization.components import build_components
from gpo.optimization.gepa.adapter import Item, ScorerAdapter
from gpo.optimization.gepa.settings import COMPONENT, GEPA_SETTINGS
from gpo.optimization.loop import TaskOutcome
from gpo.presets import GEPA, preset_values
from gpo.results.io import read_json, read_jsonl
from gpo.results.run_folder import RunFolder
from gpo.runs.optimize import check_method, run_task
from gpo.runs.plan import gepa_budget, task_plan
from gpo.tracking.step_metrics import step_metrics
from test_experiment import FakePool, flags_parsed, grid_args  # noqa: F401 (a fixture)

PROPOSALS = ("Think GOOD.", "Think BEST.", "Think plainly.")


def preset_config(tmp_path: Path, data_dir: Path, preset: str, **changes) -> RunConfig:
    """make_config's sizes (1 epoch, N=2, batch 4) with ``preset``'s component values."""
    base = make_config(tmp_path, data_dir)
    names = {f.name for f in dataclasses.fields(OptimizerConfig)}
    values = {k: v for k, v in preset_values(preset).items() if k in names}
    sizes = ("num_search_epochs", "num_generated_instructions_in_each_step", "opt_batch_size")
    values |= {k: getattr(base.opt, k) for k in sizes}
    opt = dataclasses.replace(base.opt, **values)
    return dataclasses.replace(base, opt=opt, preset=preset, **changes)


def load(config: RunConfig) -> TaskData:
    return get_benchmark("bbh").load(TASK, Path(config.data_dir), config.max_examples)


def scorer_for(data: TaskData, ledger: Ledger) -> tuple[Scorer, FakeLLM]:
    answers = {e.question: str(e.answer) for s in ("train", "eval", "test") for e in data.split(s)}
    fake = make_scorer_fake(answers)
    return Scorer(
        wrap_llm(fake, "scorer", ledger, None), get_benchmark("bbh"), ScorerSettings()
    ), fake


def reflection_fake() -> FakeLLM:
    """Proposes GOOD, then BEST, then a plain prompt, in GEPA's ``` block."""
    calls = {"n": 0}

    def respond(prompt: Prompt, params: GenerationParams, i: int) -> str:
        calls["n"] += 1
        return f"New instruction:\n```\n{PROPOSALS[(calls['n'] - 1) % len(PROPOSALS)]}\n```"

    return FakeLLM(respond, name="fake-optimizer")


def run_gepa(config: RunConfig, folder: RunFolder, optimizer: FakeLLM, budget=None):
    data = load(config)
    ledger = Ledger()
    scorer, fake = scorer_for(data, ledger)
    comps = build_components(config.opt, config.scoring, (), FakeEmbedder())
    opt = wrap_llm(optimizer, "optimizer", ledger, None)
    outcome = run_task(config, folder, TASK, data, scorer, opt, comps, ledger, budget)
    return outcome, ledger, fake


def test_reflective_dataset_carries_input_reply_score_and_expected_answer(tmp_path, data_dir):
    config = preset_config(tmp_path, data_dir, GEPA)
    data = load(config)
    ledger = Ledger()
    scorer, fake = scorer_for(data, ledger)
    adapter = ScorerAdapter(scorer, data)
    batch = [Item("train", k) for k in (0, 1, 2, 3)]
    result = adapter.evaluate(batch, {COMPONENT: "Think GOOD."}, capture_traces=True)
    # scored through the project's Scorer: both rounds of every example, counted as scorer usage
    assert ledger.usage("scorer").requests == 2 * len(batch)
    assert [r.split for r in adapter.drain()] == ["train"]
    dataset = adapter.make_reflective_dataset({COMPONENT: "Think GOOD."}, result, [COMPONENT])[
        COMPONENT
    ]
    wrong = [k for k, s in enumerate(result.scores) if s == 0.0]
    assert wrong and len(wrong) < len(batch)  # GOOD gets some right, some wrong
    for k, record in enumerate(dataset):
        example = data.train[k]
        assert record["Inputs"] == example.question
        assert record["Score"] == result.scores[k]
        assert "The answer is" in record["Generated Outputs"]
    for k in wrong:
        expected = str(data.train[k].answer)
        assert dataset[k]["Expected Answer"] == expected
        assert f"expected answer is {expected!r}" in dataset[k]["Feedback"]
        assert "wrong" in dataset[k]["Feedback"]
    # without traces: scores only (the same replies, now from the fake again: no cache here)
    plain = adapter.evaluate(batch, {COMPONENT: "Think GOOD."})
    assert plain.trajectories is None and plain.scores == result.scores


def test_default_budget_is_the_gpo_presets_planned_scorer_calls(tmp_path, data_dir):
    gpo = preset_config(tmp_path, data_dir, "gpo")
    gepa = preset_config(tmp_path, data_dir, GEPA)
    data = load(gpo)
    planned = task_plan(gpo, data, second_round=False)["scorer_requests"]
    # the gpo plan: the initial prompt on eval and test, 2 steps x N=2 candidates on eval, the
    # best on test; GEPA's budget is all but the test scoring every method does after
    assert planned == 8 + 2 * 2 * 8 + 2 * 8
    assert gepa_budget(gepa, data) == planned - 2 * len(data.test) == 40
    assert gepa_budget(dataclasses.replace(gepa, gepa_max_metric_calls=17), data) == 17
    # the dry run plans GEPA's budget, one iteration past it (two minibatches and eval), and
    # the test scoring, at two scorer calls per example with the second round
    plan = task_plan(gepa, data, second_round=True)
    mb = GEPA_SETTINGS.reflection_minibatch_size
    assert plan["scorer_requests"] == 2 * (40 + 2 * mb + 8 + 2 * 8)
    assert plan["optimizer_requests"] == plan["steps"] > 0


def test_gepa_task_writes_the_run_folder_within_its_budget(tmp_path, data_dir):
    config = preset_config(tmp_path, data_dir, GEPA, gepa_max_metric_calls=30)
    folder = RunFolder.create(config)
    optimizer = reflection_fake()
    outcome, ledger, _ = run_gepa(config, folder, optimizer)
    assert isinstance(outcome, TaskOutcome)
    lines = read_jsonl(folder.steps_path(TASK))
    initial, steps, final = lines[0], lines[1:-1], lines[-1]
    assert initial["kind"] == "initial" and final["kind"] == "final"
    assert steps and [s["global_step"] for s in steps] == list(range(len(steps)))
    for s in steps:
        g = s["gepa"]
        assert len(g["minibatch"]) == 3 == len(g["minibatch_scores_candidate"])
        assert s["candidates"][0]["prompt"] in PROPOSALS
        assert s["meta_prompt"].startswith("I provided an assistant")  # GEPA's own prompt
        if g["accepted"]:
            assert sum(g["minibatch_scores_candidate"]) > sum(g["minibatch_scores_parent"])
            assert g["valset_score"] is not None and s["candidates"][0]["status"] == "new"
        else:
            assert g["valset_score"] is None and s["candidates"][0]["status"] == "rejected"
    assert any(s["gepa"]["accepted"] for s in steps)
    # BEST answers every eval question: GEPA's best on eval, then scored on test
    assert outcome.best.prompt == "Think BEST." and final["eval_score"] == 1.0
    assert outcome.best_test == final["test_score"] == 1.0
    # budget: GEPA's metric calls (examples) stop within one iteration past 30; the scorer's
    # calls are two rounds of those plus the test scoring of the initial and the best prompt
    metric_calls = steps[-1]["gepa"]["metric_calls"]
    assert 30 <= metric_calls <= 30 + 2 * 3 + 8
    scorer_calls = ledger.usage("scorer").requests
    assert scorer_calls == 2 * (metric_calls + 2 * 8)
    usage = [json.dumps(r["usage"]) for r in lines]
    assert sum(r["usage"]["roles"].get("scorer", {}).get("requests", 0) for r in lines) == (
        scorer_calls
    ), usage
    assert ledger.usage("optimizer").requests == optimizer.num_requests >= len(steps)
    results = read_json(folder.task_dir(TASK) / "results_dict.json")
    assert len(results["meta_prompts"]) == len(steps) and results["train_log"]
    assert (folder.task_dir(TASK) / "gepa" / "gepa_state.bin").is_file()
    # the run report counts the proposals, accepted and rejected, and the calls against budget
    from gpo.reports.report import write_report

    report = write_report(folder.root).read_text(encoding="utf-8")
    section = report.split("## GEPA's proposals", 1)[1]
    # no word-budget section: GEPA has no budget K, its proposals are counted here instead
    assert "## Word budget" not in report and not (folder.root / "plots/step_size.png").exists()
    assert (folder.root / "plots/scores.png").exists()
    row = next(line for line in section.splitlines() if line.startswith(f"| {TASK} |"))
    accepted = sum(s["gepa"]["accepted"] for s in steps)
    assert row.startswith(f"| {TASK} | {len(steps)} | {accepted} | {len(steps) - accepted} (")
    assert f"| {metric_calls} of 30 |" in row
    # the readers of every method's step log read GEPA's (MLflow's step metrics here)
    metrics = step_metrics(lines, {})
    assert [m for _, m in metrics][-1] == {"best_eval": 1.0, "best_test": 1.0}
    assert [m["best_so_far_eval"] for _, m in metrics[1:-1]][-1] == 1.0


def test_resume_continues_gepa_instead_of_restarting(tmp_path, data_dir):
    config = preset_config(tmp_path, data_dir, GEPA, gepa_max_metric_calls=60)
    folder = RunFolder.create(config)
    commits = {"n": 0}

    def stop_after_one() -> str | None:
        commits["n"] += 1  # GEPA asks once per iteration
        return "token budget reached" if commits["n"] > 1 else None

    first = reflection_fake()
    with pytest.raises(BudgetExceeded, match="--resume="):
        run_gepa(config, folder, first, stop_after_one)
    before = read_jsonl(folder.steps_path(TASK))
    assert before[0]["kind"] == "initial" and before[-1].get("kind") != "final"
    done = len(before) - 1
    assert done >= 1
    again = reflection_fake()
    outcome, _, scorer = run_gepa(config, folder, again)
    after = read_jsonl(folder.steps_path(TASK))
    assert after[: len(before)] == before  # kept, not redone
    assert [r["global_step"] for r in after[1:-1]] == list(range(len(after) - 2))
    # GEPA went on from its saved state: iterations and metric calls continue past the first run
    first_iterations = [r["gepa"]["iteration"] for r in before[1:]]
    resumed = [r["gepa"] for r in after[len(before) : -1]]
    assert resumed and resumed[0]["iteration"] > max(first_iterations)
    assert resumed[0]["metric_calls"] > before[-1]["gepa"]["metric_calls"]
    # the initial prompt is not scored on test again (GEPA scores it on eval once more when it
    # loads its state; the response cache answers that in a real run)
    data = load(config)
    sent = [prompt_text(p) for c in scorer.calls for p in c.prompts]
    initial_on_test = [
        p
        for p in sent
        if p.endswith("Let's think step by step.") and any(e.question in p for e in data.test)
    ]
    assert initial_on_test == []
    assert outcome.state.initial_test == before[0]["test_score"]
    assert after[-1]["kind"] == "final"


def test_one_line_errors(tmp_path, data_dir, monkeypatch):
    gpo = preset_config(tmp_path, data_dir, "gpo", gepa_max_metric_calls=10)
    with pytest.raises(ConfigError, match="applies to --preset=gepa"):
        check_method(gpo)
    monkeypatch.setattr("gpo.optimization.gepa.settings.gepa_installed", lambda: False)
    with pytest.raises(ConfigError) as e:
        check_method(preset_config(tmp_path, data_dir, GEPA))
    assert str(e.value) == "--preset=gepa needs gepa: pip install -e '.[gepa]'"


def test_scorer_prompt_assembly_is_the_scorers(tmp_path, data_dir):
    """The adapter's scorer inputs are the Scorer's own (instruction at Q_end here)."""
    config = preset_config(tmp_path, data_dir, GEPA)
    data = load(config)
    scorer, fake = scorer_for(data, Ledger())
    ScorerAdapter(scorer, data).evaluate([Item("eval", 0)], {COMPONENT: "Think BEST."})
    first = prompt_text(fake.calls[0].prompts[0])
    assert first.endswith(data.eval[0].question + "\nThink BEST.")


def test_grid_with_gepa_plans_runs_and_tabulates_it(tmp_path, data_dir, flags_parsed, capsys):  # noqa: F811
    args = [
        a.replace("--presets=gpo,ape", "--presets=gpo,gepa").replace("--seeds=0,1", "--seeds=0")
        for a in grid_args(tmp_path, data_dir, "--baselines=empty")
    ]
    # the dry run plans the gepa cell: the gpo plan's train+eval calls, one iteration, test
    assert experiment.execute(flags_parsed([*args, "--dry_run"]), pool=FakePool()) is None
    planned = {
        line.split()[0]: int(line.split()[2])
        for line in capsys.readouterr().out.splitlines()
        if line.split()[:1] in (["gpo"], ["gepa"])
    }
    gpo_examples = 4 + 1 * 2 * 4  # eval, then 1 step x N=2 on eval (4 rows a split)
    one_iteration = 2 * GEPA_SETTINGS.reflection_minibatch_size + 4
    assert planned["gpo"] == gpo_examples + 2 * 4  # an API scorer: no second round
    assert planned["gepa"] == gpo_examples + one_iteration + 2 * 4

    pool = FakePool()
    folder, results = experiment.execute(flags_parsed(args), pool=pool)
    assert [r.state for r in results] == ["finished"] * 3, results
    run = folder.root / "runs" / "gepa-bbh-navigate-seed0"
    assert read_json(run / "run_config.json")["preset"] == GEPA
    steps = read_jsonl(run / "result_by_instruction" / TASK / "steps.jsonl")
    assert steps[0]["kind"] == "initial" and steps[-1]["kind"] == "final"
    assert all("gepa" in s for s in steps[1:-1]) and len(steps) > 2
    gpo_run = folder.root / "runs" / "gpo-bbh-navigate-seed0"
    assert sorted(p.name for p in run.iterdir()) == sorted(p.name for p in gpo_run.iterdir())
    for name in ("best_prompts.jsonl", "report.md", "usage_summary.json", "configs_dict.json"):
        assert (run / name).is_file(), name
    assert (run / "plots" / "scores.png").is_file()
    assert "gepa" in read_json(folder.root / "provenance.json")["packages"]
    assert (run / "result_by_instruction" / TASK / "results_dict.json").is_file()
    assert (run / "result_by_instruction" / TASK / "gepa" / "gepa_state.bin").is_file()
    # GEPA's scorer calls stay within its budget plus one iteration (and the test scoring)
    usage = read_json(run / "usage_summary.json")["roles"]["scorer"]
    assert usage["requests"] + usage["cache_hits"] <= planned["gepa"]
    table = (folder.root / "table.md").read_text()
    assert "| GEPA |" in table and "| GPO |" in table
    lines = table.splitlines()
    header = next(k for k, line in enumerate(lines) if "| scorer calls |" in line)
    cost = next(line for line in lines[header:] if line.startswith("| GEPA |"))
    assert int(cost.split(" | ")[6]) == usage["requests"] + usage["cache_hits"]


def gepa_grid(tmp_path: Path, data_dir: Path, parse, seeds: str = "0,1", *extra: str) -> Path:
    """A gpo,gepa grid on navigate (Empty baseline), every cell finished; ``parse``: the
    flags_parsed fixture."""
    args = [
        a.replace("--presets=gpo,ape", "--presets=gpo,gepa").replace(
            "--seeds=0,1", f"--seeds={seeds}"
        )
        for a in grid_args(tmp_path, data_dir, "--baselines=empty", *extra)
    ]
    folder, results = experiment.execute(parse(args), pool=FakePool())
    assert all(r.state == "finished" for r in results), results
    return folder.root


def section_titles(text: str) -> list[str]:
    return [line.split("**")[1] for line in text.splitlines() if line.startswith("**")]


def test_summary_opens_with_gpo_against_gepa_then_initial_then_cost(
    tmp_path,
    data_dir,
    flags_parsed,  # noqa: F811
):
    from gpo.data.registry import get_benchmark
    from gpo.evaluation.constant import best_constant_answer
    from gpo.reports.summary import read_columns, summary_markdown, write_summary_figure
    from gpo.reports.table import build_table, read_experiment

    root = gepa_grid(tmp_path, data_dir, flags_parsed)
    columns = read_columns([root])
    text = summary_markdown(columns)
    assert section_titles(text)[:3] == [
        "GPO against GEPA",
        "Every method against its own initial prompt",
        "Cost per method",
    ]
    # the GEPA row: GPO's pairs against GEPA over (task, seed), as the experiment's own table
    gepa = build_table(read_experiment(root)).comparisons["gepa"]
    row = next(
        line for line in text.splitlines() if line.startswith("| BBH, scorer fake-scorer | 2 |")
    )
    cells = row.split(" | ")
    assert cells[2] == f"{gepa.wins}/{gepa.ties}/{gepa.losses}"
    assert cells[3].startswith(f"{gepa.mean_difference:+.1f} [{gepa.low:+.1f}, {gepa.high:+.1f}]")
    assert cells[1] == "2"  # two seeds: too few pairs for a bootstrap p
    assert cells[4] == "-"
    # the last column: what one gold answer as every reply scores on the cells' test split
    cell = read_experiment(root).cells[0]
    data = get_benchmark("bbh", cell.config.data_dir).load(
        "navigate", Path(cell.config.data_dir), cell.config.max_examples
    )
    constant = best_constant_answer(data)
    assert constant is not None and cells[-1] == f"{100 * constant.score:.1f} |"
    assert any(line.startswith("| best constant answer (no model) |") for line in text.splitlines())
    # the cost rows: each preset's mean per finished run, read from its usage_summary.json
    for method, name in (("gepa", "GEPA"), ("gpo", "GPO")):
        usage = [
            read_json(root / "runs" / f"{method}-bbh-navigate-seed{s}" / "usage_summary.json")[
                "roles"
            ]
            for s in (0, 1)
        ]
        scorer = sum(u["scorer"]["requests"] + u["scorer"]["cache_hits"] for u in usage) / 2
        optimizer = sum(u["optimizer"]["requests"] for u in usage) / 2
        cost = next(
            line
            for line in text.splitlines()
            if line.startswith(f"| BBH, scorer fake-scorer | {name} | 2 of 2 |")
        )
        assert cost.split(" | ")[3:5] == [f"{scorer:.0f}", f"{optimizer:.0f}"]
    # the README's block: the same first three sections and the sizes, nothing else
    brief = summary_markdown(columns, brief=True)
    assert section_titles(brief) == [*section_titles(text)[:3], "Sizes"]
    assert row in brief.splitlines()
    png = write_summary_figure(columns, tmp_path / "summary.png")
    assert png.stat().st_size > 10_000


def test_a_summary_without_gepa_cells_keeps_the_first_order_and_adds_the_cost(
    tmp_path,
    data_dir,
    flags_parsed,  # noqa: F811
):
    from gpo.reports.summary import read_columns, summary_markdown

    folder, _ = experiment.execute(
        flags_parsed(grid_args(tmp_path, data_dir, "--seeds=0")), pool=FakePool()
    )
    text = summary_markdown(read_columns([folder.root]))
    assert "GEPA" not in text
    titles = section_titles(text)
    assert titles[0] == "Test score x100 of each method's final prompt"
    assert titles[-2:] == ["Sizes", "Cost per method"]


def test_gepa_is_drawn_against_scorer_calls_not_steps(tmp_path, data_dir, flags_parsed):  # noqa: F811
    from gpo.reports.experiment_report import (
        experiment_calls_panel,
        experiment_score_panel,
        method_logs,
    )
    from gpo.reports.series import step_count
    from gpo.reports.table import read_experiment

    # a budget of 40 examples: several GEPA proposals (the gpo plan's 12 allow one)
    root = gepa_grid(tmp_path, data_dir, flags_parsed, "0", "--gepa_max_metric_calls=40")
    exp = read_experiment(root)
    logs = method_logs(exp, "bbh")
    gepa_steps, gpo_steps = len(logs["gepa"][0].steps), len(logs["gpo"][0].steps)
    assert gepa_steps > gpo_steps == 1  # GEPA's many proposals against gpo's one step here
    axis = step_count(logs)
    assert axis == gpo_steps  # the per-step axis is not stretched to GEPA's proposals
    panel = experiment_score_panel(exp, logs, axis, "t", "bbh")
    assert [s.label for s in panel.eval_lines] == ["GPO"]
    assert [s.label for s in panel.best_points] == ["GPO", "GEPA"]  # GEPA's final star stays
    calls = experiment_calls_panel(logs, "calls")
    line = {s.label: s for s in calls.lines}["GEPA"]
    # its x axis ends at the run's scorer calls (usage_summary: requests + cache hits)
    usage = read_json(exp.runs["gepa-bbh-navigate-seed0"].root / "usage_summary.json")["roles"][
        "scorer"
    ]
    assert line.x[-1] == usage["requests"] + usage["cache_hits"]
    assert line.y[-1] == 100 * exp.runs["gepa-bbh-navigate-seed0"].best[TASK]["eval_score"]


def test_the_gepa_row_gives_p_from_three_pairs():
    import numpy as np

    from gpo.reports.statistics import compare_paired
    from gpo.reports.summary import gepa_row

    two = compare_paired(np.array([0.5, 0.7]), np.array([0.2, 0.3]), 1000, 0)
    three = compare_paired(np.array([0.5, 0.7, 0.4]), np.array([0.2, 0.3, 0.1]), 1000, 0)
    assert gepa_row("x", two, "a", "b", "c").split(" | ")[4] == "-"
    assert gepa_row("x", three, "a", "b", "").split(" | ")[4] == f"{three.p_value:.3g}"
    assert gepa_row("x", three, "a", "b", "").endswith("| a | b | - |")
