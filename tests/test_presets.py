"""Each preset (a row of the paper's Table 5) maps to its flag combination, builds, and runs one
step on the deterministic fakes."""

from __future__ import annotations

import dataclasses

import pytest

from fake_loop import TASK, make_config, optimizer_fake, run
from gpo.config import OptimizerConfig, ScoringConfig
from gpo.optimization.components import momentum_warnings, validate_components
from gpo.presets import PRESETS, preset_values
from gpo.results.io import read_json, read_jsonl
from gpo.results.run_folder import RunFolder


def preset_optimizer_config(name: str) -> OptimizerConfig:
    values = preset_values(name)
    fields = {f.name for f in dataclasses.fields(OptimizerConfig)}
    values = {k: v for k, v in values.items() if k in fields}
    if "candidate_guards" in values:
        values["candidate_guards"] = tuple(values["candidate_guards"])
    return OptimizerConfig(**values)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_a_valid_combination_with_effect(name):
    o = preset_optimizer_config(name)
    validate_components(o, ScoringConfig())
    assert momentum_warnings(o) == []


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_runs_one_step(name, tmp_path, data_dir):
    base = make_config(tmp_path, data_dir)
    o = dataclasses.replace(
        preset_optimizer_config(name),
        num_search_epochs=1,
        num_generated_instructions_in_each_step=2,
        opt_batch_size=8,
    )
    config = dataclasses.replace(base, opt=o)
    folder = RunFolder.create(config)
    optimizer = optimizer_fake()
    outcome = run(config, folder, optimizer)
    steps = read_jsonl(folder.steps_path(TASK))
    assert [s["global_step"] for s in steps] == [-1, 0, 1]  # 8 rows, batch 8: one step
    candidate_calls = [c for c in optimizer.calls if len(c.prompts) == 2]
    assert len(candidate_calls) == 1 and candidate_calls[0].params.temperature == 1.0
    results = read_json(folder.task_dir(TASK) / "results_dict.json")
    meta = results["meta_prompts"][0][0]
    if o.learning_rate_name == "w_lr":
        assert f"at most {results['modify_word_num_history'][0][0]} words" in meta
    else:
        assert results["modify_word_num_history"] == []
    if o.gradient_name == "feedback":
        assert list(results["train_log"]) == ["0_0"] and results["meta_gradient_prompts"]
        # the *_without builders never show the gradient (PE2 quirk kept)
        assert (steps[1]["gradient"] in meta) == (o.util_gradient_name == "edit")
    if o.momentum_update_name == "k-list" and o.momentum_para_name == "para":
        assert results["selected_para_history_list"][0][0][0][0] == "Let's think step by step."
    assert outcome.best.prompt in {
        "Think BEST.",
        "Think GOOD.",
        "Think plainly.",
        "Let's think step by step.",
    }


def test_momentum_flags_without_effect_warn_not_fail():
    assert momentum_warnings(preset_optimizer_config("gpo")) == []
    lonely = OptimizerConfig(momentum_para_name="para", momentum_update_name="-")
    assert momentum_warnings(lonely) == [
        "--momentum_para_name=para has no effect without --momentum_update_name=k-list or real-time"
    ]
    no_selection = OptimizerConfig(momentum_para_name="para", momentum_update_name="k-list")
    assert "momentum_selection_name" in momentum_warnings(no_selection)[0]
