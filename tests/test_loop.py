"""The GPO loop end to end on deterministic fakes: a rule-based scorer for which better prompts
exist, and an optimizer that proposes them. Asserts the trajectory, the non-monotone choice, the
final best-on-eval prompt, every artifact, and exact resume after a crash."""

from __future__ import annotations

import dataclasses
import json

import pytest

from fake_loop import TASK, make_config, optimizer_fake, run
from gpo.llm.base import ChatMessage
from gpo.llm.fake import FakeLLM
from gpo.results.io import read_json, read_jsonl
from gpo.results.run_folder import RunFolder


def test_loop_trajectory_choice_and_artifacts(tmp_path, data_dir):
    config = make_config(tmp_path, data_dir)
    folder = RunFolder.create(config)
    optimizer = optimizer_fake()
    outcome = run(config, folder, optimizer)
    # 8 train rows, batch 4 -> 2 steps; each step sends exactly N=2 optimizer requests
    assert [len(c.prompts) for c in optimizer.calls] == [2, 2]
    traj = [(e.prompt, e.epoch, e.step) for e in outcome.state.trajectory]
    # step 0 picks BEST (1.0); step 1 regenerates the same two prompts: BEST was chosen
    # before, so the non-monotone rule moves to GOOD although it scores lower
    assert traj == [
        ("Let's think step by step.", -1, -1),
        ("Think BEST.", 0, 0),
        ("Think GOOD.", 0, 1),
    ]
    assert outcome.state.trajectory[1].score == 1.0
    assert 0.0 < outcome.state.trajectory[2].score < 1.0
    assert outcome.best.prompt == "Think BEST." and outcome.best_test == 1.0
    task_dir = folder.task_dir(TASK)
    steps = read_jsonl(task_dir / "steps.jsonl")
    assert [s["global_step"] for s in steps] == [-1, 0, 1, 2]
    assert [s.get("kind") for s in steps] == ["initial", None, None, "final"]
    assert steps[3]["prompt"] == "Think BEST." and steps[3]["test_score"] == 1.0
    assert steps[3]["usage"]["roles"]["scorer"]["requests"] == 16  # 8 test rows x 2 rounds
    assert [c["status"] for c in steps[2]["candidates"]] == ["reused", "reused"]
    assert steps[1]["step_size"] == 30 and steps[2]["step_size"] == 10  # cosine 50->10, T=2
    assert "at most 30 words" in steps[1]["meta_prompt"]
    assert steps[1]["chosen"]["edit_distance"] == 5  # 4 words replaced by 2: 2 subs + 2 dels
    assert steps[1]["usage"]["roles"]["optimizer"]["requests"] == 2
    results = read_json(task_dir / "results_dict.json")
    assert set(results) >= {
        "meta_prompts",
        "eval_log",
        "test_log",
        "train_log",
        "selected_para_history_list",
        "modify_word_num_history",
    }
    assert results["modify_word_num_history"] == [[30, 0, 0], [10, 0, 1]]
    assert list(results["test_log"]) == ["-1_-1", "0_0"]  # initial + final chosen only
    assert results["train_log"] == {}  # nothing consumes train batches without feedback
    best = read_jsonl(folder.best_prompts_path)
    assert best[0]["prompt"] == "Think BEST." and best[0]["task"] == TASK
    assert (task_dir / "eval" / "0" / "0").is_dir() and (task_dir / "test" / "-1" / "-1").is_dir()


def test_resume_after_crash_matches_uninterrupted(tmp_path, data_dir):
    config = make_config(tmp_path, data_dir)
    clean = RunFolder.create(dataclasses.replace(config, output_dir=str(tmp_path / "a")))
    run(config, clean, optimizer_fake())
    crashed = RunFolder.create(dataclasses.replace(config, output_dir=str(tmp_path / "b")))
    with pytest.raises(RuntimeError):
        run(config, crashed, optimizer_fake(fail_at_call=3))  # dies in step 1
    assert read_json(crashed.checkpoint_path(TASK))["completed_steps"] == 1
    resumed_optimizer = optimizer_fake()
    run(config, crashed, resumed_optimizer)
    assert len(resumed_optimizer.calls) == 1  # only the unfinished step
    for name in ("results_dict.json",):
        assert read_json(clean.task_dir(TASK) / name) == read_json(crashed.task_dir(TASK) / name)
    strip = [
        {k: v for k, v in r.items() if k not in ("usage", "seconds")}
        for r in read_jsonl(clean.steps_path(TASK))
    ]
    again = [
        {k: v for k, v in r.items() if k not in ("usage", "seconds")}
        for r in read_jsonl(crashed.steps_path(TASK))
    ]
    assert strip == again
    assert read_jsonl(clean.best_prompts_path) == read_jsonl(crashed.best_prompts_path)


def test_feedback_gradient_and_sgdm_momentum(tmp_path, data_dir):
    config = make_config(tmp_path, data_dir)
    config = dataclasses.replace(
        config,
        opt=dataclasses.replace(
            config.opt,
            gradient_name="feedback",
            momentum_para_name="feedback",
            momentum_selection_name="-",
            momentum_update_name="real-time",
            learning_rate_name="wo_lr",
            decay_strategy="-",
            util_gradient_name="edit",
        ),
    )
    folder = RunFolder.create(config)
    optimizer = optimizer_fake()
    run(config, folder, optimizer)
    sizes = [len(c.prompts) for c in optimizer.calls]
    # step 0: gradient (1), candidates (2); step 1: gradient (1), momentum merge (1), cands (2)
    assert sizes == [1, 2, 1, 1, 2]
    assert all(c.params.temperature == 0.0 for c in optimizer.calls if len(c.prompts) == 1)
    results = read_json(folder.task_dir(TASK) / "results_dict.json")
    assert len(results["meta_gradient_prompts"]) == 2
    assert len(results["meta_fo_momentum_gradient_prompts"]) == 1
    assert list(results["train_log"]) == ["0_0", "0_1"]
    texts = results["meta_gradient_texts"]
    assert texts[0][1] == pytest.approx(1.0 - results["eval_log"]["-1_-1"][1])
    assert "Question:" in results["meta_gradient_prompts"][0][0]
    step = read_jsonl(folder.steps_path(TASK))[1]
    assert step["gradient"] and step["gradient"] in step["meta_prompt"]


def test_messages_are_chat(tmp_path):
    assert ChatMessage("user", "x").role == "user"
    assert json.dumps({"a": 1})


def test_meta_prompt_shows_the_stored_eval_score_of_a_rechosen_initial_prompt(tmp_path, data_dir):
    # APE (no momentum): every candidate scores 0, so the initial prompt is re-chosen with the
    # ranking's 0.0 placeholder. The next meta-prompt shows its stored eval score rounded to 2
    # places, as the original reads instruction_score_dict, not the 0.0 trajectory entry.
    config = make_config(tmp_path, data_dir)
    config = dataclasses.replace(
        config,
        initial_instruction="Let's think step by step. GOOD",
        opt=dataclasses.replace(
            config.opt,
            momentum_para_name="-",
            momentum_selection_name="-",
            momentum_update_name="-",
            learning_rate_name="wo_lr",
            decay_strategy="-",
        ),
    )
    folder = RunFolder.create(config)
    outcome = run(config, folder, FakeLLM(lambda p, params, i: "<START>Think plainly.<END>"))
    state = outcome.state
    assert 0.0 < state.initial_eval < 1.0
    assert [(e.prompt, e.score) for e in state.trajectory[:2]] == [
        ("Let's think step by step. GOOD", state.initial_eval),
        ("Let's think step by step. GOOD", 0.0),  # re-chosen with the placeholder (kept)
    ]
    steps = read_jsonl(folder.steps_path(TASK))
    shown = round(state.initial_eval, 2)
    assert f"Prompt: Let's think step by step. GOOD\nScore: {shown}\n" in steps[2]["meta_prompt"]
    assert "Score: 0.0\n" not in steps[2]["meta_prompt"]


def test_a_kept_prompt_is_logged_and_plotted_at_its_stored_eval_score(tmp_path, data_dir, caplog):
    # The quick start's case: every candidate scores 0 at step 1, so the rule keeps the initial
    # prompt with the 0.0 placeholder. The step log, results_dict.json and the CSVs keep the
    # original's 0.0; the log line, the report's plot and best_prompts.jsonl show its stored score.
    from gpo.reports.report import write_report
    from gpo.reports.series import eval_series
    from gpo.results.reading import read_run
    from gpo.results.records import KEPT_CURRENT_PROMPT

    config = make_config(tmp_path, data_dir)
    config = dataclasses.replace(config, initial_instruction="Let's think step by step. GOOD")
    folder = RunFolder.create(config)
    with caplog.at_level("INFO", logger="gpo.optimization.loop"):
        outcome = run(config, folder, FakeLLM(lambda p, params, i: "<START>Think plainly.<END>"))
    init = outcome.state.initial_eval
    assert 0.0 < init < 1.0
    steps = read_jsonl(folder.steps_path(TASK))
    assert steps[1]["chosen"] == {
        "prompt": "Let's think step by step. GOOD",
        "eval_score": 0.0,  # the original's placeholder, unchanged in the step log
        "edit_distance": 0,
        "test_score": None,
    }
    results = read_json(folder.task_dir(TASK) / "results_dict.json")
    assert outcome.state.trajectory[1].score == 0.0
    assert results["eval_log"]["-1_-1"][1] == init
    lines = [r.getMessage() for r in caplog.records if " step " in r.getMessage()]
    assert f"{KEPT_CURRENT_PROMPT}, eval {init:.4f} (edit distance 0)" in lines[0]
    assert "chosen eval 0.0000" in lines[1] and KEPT_CURRENT_PROMPT not in lines[1]
    best = read_jsonl(folder.best_prompts_path)[0]
    assert best["last_prompt"] == "Think plainly." and best["last_eval_score"] == 0.0
    report = write_report(folder.root).read_text()
    assert f"Hollow diamonds (1 step): {KEPT_CURRENT_PROMPT}" in report
    series = eval_series(TASK, read_run(folder.root).tasks[TASK])
    assert list(series.y[:2]) == [100 * init, 100 * init]
    assert list(series.kept_x) == [1] and list(series.kept_y) == [100 * init]
    assert (folder.root / "plots" / "scores.png").stat().st_size > 1000


def test_best_prompts_last_eval_score_of_a_kept_last_step_is_its_stored_score(tmp_path, data_dir):
    config = make_config(tmp_path, data_dir)
    config = dataclasses.replace(
        config,
        initial_instruction="Let's think step by step. GOOD",
        opt=dataclasses.replace(config.opt, opt_batch_size=8),  # one step: the kept one
    )
    folder = RunFolder.create(config)
    outcome = run(config, folder, FakeLLM(lambda p, params, i: "<START>Think plainly.<END>"))
    assert [e.score for e in outcome.state.trajectory] == [outcome.state.initial_eval, 0.0]
    best = read_jsonl(folder.best_prompts_path)[0]
    assert best["last_prompt"] == "Let's think step by step. GOOD"
    assert best["last_eval_score"] == outcome.state.initial_eval  # not the placeholder 0.0
