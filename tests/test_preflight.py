"""The run's one validation (gpo.runs.preflight.validate_run): the configuration first, then the
tasks' data; every problem a ConfigError naming the fix, before any model loads."""

from __future__ import annotations

import dataclasses

import pytest

from gpo.config import ModelConfig, OptimizerConfig, RunConfig, ScoringConfig
from gpo.data.base import AnswerKind, Example, TaskData, TaskSpec
from gpo.errors import ConfigError
from gpo.llm.aliases import ModelSpec
from gpo.optimization.learning_rate import learning_rate_problem
from gpo.presets import preset_values
from gpo.runs import preflight

CHAT = ModelSpec("m", "llamacpp", "m.gguf", True, True)
SPECS = (CHAT, CHAT)
GPO = OptimizerConfig(
    **{k: v for k, v in preset_values("gpo").items() if k in OptimizerConfig.__annotations__}
)


def config(opt: OptimizerConfig = GPO, **changes) -> RunConfig:
    base = RunConfig("bbh", ("t",), "I", ModelConfig("m"), ModelConfig("m"), opt=opt)
    return dataclasses.replace(base, **changes)


def task(train_rows: int) -> TaskData:
    rows = tuple(Example(i, f"q{i}", "a") for i in range(train_rows))
    spec = TaskSpec("bbh", "t", AnswerKind.EXACT, False)
    return TaskData(spec, rows, rows[:2], rows[:2], rows[:1], rows[:3])


def loader(data: dict[str, TaskData], calls: list[int]):
    def load() -> dict[str, TaskData]:
        calls.append(1)
        return data

    return load


def test_a_valid_run_returns_the_loaded_data() -> None:
    data = {"t": task(16)}
    assert preflight.validate_run(config(), SPECS, loader(data, []), optimizing=True) is data


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"decay_strategy": "-"}, "--learning_rate_name=w_lr needs --decay_strategy"),
        ({"learning_rate_name": "wo_lr"}, "--decay_strategy=consine needs --learning_rate_name"),
        ({"util_gradient_name": "edit"}, "--gradient_name=feedback"),
    ],
)
def test_bad_combinations_fail_before_the_data_loads(changes: dict, fragment: str) -> None:
    calls: list[int] = []
    opt = dataclasses.replace(GPO, **changes)
    with pytest.raises(ConfigError, match=fragment):
        preflight.validate_run(config(opt), SPECS, loader({"t": task(16)}, calls), True)
    assert calls == []


def test_scorer_layout_is_checked_once_for_evaluation_too() -> None:
    scoring = ScoringConfig(instruction_pos="Q_begin", few_shot=True)
    with pytest.raises(ConfigError, match="--instruction_pos=Q_begin with a chat scorer"):
        preflight.validate_run(config(scoring=scoring), SPECS, loader({}, []), optimizing=False)


def test_evaluation_runs_skip_the_optimizer_checks() -> None:
    none = OptimizerConfig()  # the original's defaults: no method configured
    data = {"t": task(0)}
    assert preflight.validate_run(config(none), SPECS, loader(data, []), False) is data
    with pytest.raises(ConfigError, match="no optimization method"):
        preflight.validate_run(config(none), SPECS, loader(data, []), True)


def test_tasks_without_a_step_are_refused() -> None:
    with pytest.raises(ConfigError, match="3 train rows make no step with --opt_batch_size=8"):
        preflight.validate_run(config(), SPECS, loader({"t": task(3)}, []), True)


def test_the_schedule_is_computed_for_every_step_of_every_task() -> None:
    # 16 rows / batch 8 = 2 steps per epoch x 3 epochs = 6 steps = --warmup_steps
    opt = dataclasses.replace(
        GPO, decay_strategy="linear", use_warmup_strategy=True, warmup_steps=6
    )
    with pytest.raises(ConfigError, match=r"t \(6 steps\): --warmup_steps=6 equals"):
        preflight.validate_run(config(opt), SPECS, loader({"t": task(16)}, []), True)
    fewer = dataclasses.replace(opt, warmup_steps=5)
    preflight.validate_run(config(fewer), SPECS, loader({"t": task(16)}, []), True)


def test_the_word_budget_rule_lives_in_the_learning_rate() -> None:
    assert learning_rate_problem("w_lr", "consine") is None
    assert learning_rate_problem("wo_lr", "-") is None
    assert "fixed, linear or consine" in (learning_rate_problem("w_lr", "-") or "")
    assert "--learning_rate_name=w_lr" in (learning_rate_problem("wo_lr", "fixed") or "")


def test_flag_spellings_map_to_the_original_names_saved_in_configs_dict() -> None:
    from gpo.names import choose
    from gpo.runs.request import NAMED

    assert choose("momentum_selection_name", "relevance", *NAMED["momentum_selection_name"]) == (
        "relavance"
    )
    assert choose("decay_strategy", "cosine", *NAMED["decay_strategy"]) == "consine"
    with pytest.raises(ConfigError, match=r"did you mean 'relevance'\?\); choices: -, recency"):
        choose("momentum_selection_name", "relevence", *NAMED["momentum_selection_name"])
