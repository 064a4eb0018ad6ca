"""Racing candidates on the eval split (--eval_racing): exact racing must choose exactly what full
evaluation chooses (ties, the chosen-before set, the 0.0 placeholder of U and reused scores
included), with fewer scorer generations; statistical racing must keep the chosen prompt's
score complete."""

from __future__ import annotations

import dataclasses
import random
import zlib
from collections.abc import Sequence
from pathlib import Path

import pytest

from gpo.data.registry import get_benchmark
from gpo.data.sampling import FormatSampler
from gpo.errors import ConfigError
from gpo.evaluation.racing import (
    RaceOutcome,
    RacingSettings,
    lower_bound,
    race,
    serfling_radius,
    upper_bound,
)
from gpo.evaluation.report import ScoredExample, ScoreReport
from gpo.evaluation.scorer import Scorer, ScorerSettings
from gpo.llm.accounting import Ledger, wrap_llm
from gpo.llm.base import GenerationParams, Prompt
from gpo.llm.embedder import FakeEmbedder
from gpo.llm.fake import FakeLLM
from gpo.optimization.components import build_components
from gpo.optimization.proposal import (
    NextPromptRule,
    build_ranking,
    choose_next,
    could_be_chosen,
)
from gpo.results.io import read_jsonl
from gpo.results.run_folder import RunFolder
from gpo.runs.optimize import run_task


def _row(position: int, value: float) -> ScoredExample:
    return ScoredExample(position, f"q{position}", "a", None, None, "a", "a", value)


class Table:
    """A synthetic scorer: the per-example score of every (instruction, position)."""

    def __init__(self, values: dict[str, list[float]]) -> None:
        self.values = values
        self.pairs = 0

    def score_many(self, instructions: Sequence[str], positions: Sequence[int]):
        self.pairs += len(instructions) * len(positions)
        return [
            ScoreReport(i, "eval", tuple(_row(p, self.values[i][p]) for p in positions))
            for i in instructions
        ]

    def full(self, ins: str) -> float:
        rows = tuple(_row(p, x) for p, x in enumerate(self.values[ins]))
        return ScoreReport(ins, "eval", rows).score


def _winner(current: str, reused: dict[str, float], chosen_before: set[str]) -> NextPromptRule:
    return NextPromptRule(current, reused, frozenset(chosen_before))


def _race(table: Table, new: list[str], n: int, winner, mode="exact", round_size=2) -> RaceOutcome:
    settings = RacingSettings(mode, 0.9, round_size)
    return race(table.score_many, new, "eval", n, winner, settings)


def _random_case(rng: random.Random, binary: bool):
    n = rng.randint(1, 12)
    names = [f"P{k}" for k in range(rng.randint(1, 6))]
    if rng.random() < 0.3:  # the empty candidate (its score can trigger the fallback to the top)
        names.insert(rng.randint(0, len(names)), "")
    table = {}
    for name in names:
        p = rng.random()
        table[name] = [
            float(rng.random() < p) if binary else rng.choice([0.0, 1.0, rng.random()])
            for _ in range(n)
        ]
    current = rng.choice(["U", *names]) if rng.random() < 0.3 else "U"
    reused = {f"R{k}": rng.choice([0.0, 0.25, 0.5, 1.0]) for k in range(rng.randint(0, 2))}
    if current in table and rng.random() < 0.5:  # U regenerated as a new candidate
        pass
    pool = ["U", *names, *reused]
    chosen_before = {x for x in pool if rng.random() < 0.25}
    new = [x for x in names if x != current or rng.random() < 0.5]
    return Table(table), new, n, current, reused, chosen_before


@pytest.mark.parametrize("binary", [True, False])
def test_exact_racing_chooses_as_full_evaluation_on_random_cases(binary):
    """Thousands of random steps: same chosen prompt and score as full evaluation."""
    rng = random.Random(13 + binary)
    saved = 0
    for _ in range(3000):
        table, new, n, current, reused, chosen_before = _random_case(rng, binary)
        if not new:
            continue
        winner = _winner(current, reused, chosen_before)
        full = {c: table.full(c) for c in new}
        ranking_full = build_ranking(current, reused, full)
        expected = choose_next(ranking_full, chosen_before)
        out = _race(table, new, n, winner, round_size=rng.randint(1, 3))
        ranking = build_ranking(current, reused, out.ranking_scores())
        chosen = choose_next(ranking, chosen_before)
        assert chosen == expected
        assert ranking[chosen] == ranking_full[expected]  # exactly, not approximately
        for report in out.reports:
            if not out.is_partial(report.instruction):
                assert report.score == full[report.instruction]
                assert len(report.rows) == n
        assert out.generations_saved == len(new) * n - table.pairs
        saved += out.generations_saved
    assert saved > 0


def test_exact_racing_drops_a_loser_and_keeps_ties_that_could_win():
    # A leads; B ties A at best (B is later: the tie goes to A, so B is dropped);
    # C is earlier than A in the ranking and can still tie: kept until it cannot.
    table = Table(
        {
            "C": [1.0, 0.0, 1.0, 1.0],
            "A": [1.0, 1.0, 1.0, 0.0],
            "B": [1.0, 0.0, 1.0, 1.0],
        }
    )
    out = _race(table, ["C", "A", "B"], 4, _winner("U", {}, set()), round_size=1)
    dropped = {d.instruction: d.scored for d in out.drops}
    # after 3 examples A has 3 right, so A ends >= 0.75; B and C have 2 right, so <= 0.75.
    # B ranks after A (the tie goes to A): dropped. C ranks before A: it can still tie and win.
    assert dropped == {"B": 3}
    scores = out.ranking_scores()
    assert choose_next(build_ranking("U", {}, scores), set()) == "C"  # C 0.75 ties A, earlier
    assert scores["C"] == 0.75 and scores["A"] == 0.75


def test_chosen_before_and_placeholder():
    # A is the best but was chosen before: it cannot be the next prompt, dropped at once.
    table = Table({"A": [1.0] * 4, "B": [0.0, 0.0, 0.0, 0.0], "C": [0.0, 0.0, 0.0, 1.0]})
    out = _race(table, ["A", "B", "C"], 4, _winner("U", {}, {"A"}), round_size=1)
    assert {d.instruction for d in out.drops} >= {"A"}
    # U's placeholder 0.0 comes first: B (0.0) can never beat it, C ends at 0.25 and wins.
    assert choose_next(build_ranking("U", {}, out.ranking_scores()), {"A"}) == "C"
    # every prompt chosen before: the top entry wins, A must be fully scored
    everyone = {"U", "A", "B", "C"}
    out = _race(table, ["A", "B", "C"], 4, _winner("U", {}, everyone), round_size=1)
    assert not out.is_partial("A") and out.reports[0].score == 1.0


def test_rouge_like_scores_and_bounds():
    assert upper_bound([0.5], 3) == pytest.approx(2.5 / 3)
    assert lower_bound([0.5], 3) == pytest.approx(0.5 / 3)
    table = Table({"A": [0.9, 0.8, 0.95, 0.9], "B": [0.1, 0.2, 0.1, 0.3]})
    out = _race(table, ["A", "B"], 4, _winner("U", {}, set()), round_size=1)
    assert [d.instruction for d in out.drops] == ["B"] and out.drops[0].scored == 3
    assert out.reports[0].score == table.full("A")


def test_out_of_range_scores_stop_racing():
    table = Table({"A": [2.0, 2.0, 2.0], "B": [0.0, 0.0, 0.0]})
    out = _race(table, ["A", "B"], 3, _winner("U", {}, set()), round_size=1)
    assert not out.drops and all(len(r.rows) == 3 for r in out.reports)


def test_statistical_racing_saves_more_and_completes_the_chosen():
    rng = random.Random(5)
    n = 40
    values = {f"P{k}": [float(rng.random() < 0.2 + 0.1 * k) for _ in range(n)] for k in range(6)}
    winner = _winner("U", {}, set())
    exact_table, stat_table = Table(values), Table(values)
    exact = _race(exact_table, list(values), n, winner, "exact", 4)
    stat = _race(stat_table, list(values), n, winner, "statistical", 4)
    assert stat.generations_saved > exact.generations_saved > 0
    assert {d.reason for d in stat.drops} & {"hoeffding", "paired"}
    chosen = choose_next(build_ranking("U", {}, stat.ranking_scores()), set())
    assert not stat.is_partial(chosen)
    assert stat.ranking_scores()[chosen] == stat_table.full(chosen)


def test_serfling_radius_shrinks_to_zero_on_the_whole_split():
    assert serfling_radius(10, 100, 1.0, 0.95) > serfling_radius(50, 100, 1.0, 0.95)
    assert serfling_radius(101, 100, 1.0, 0.95) == 0.0
    assert serfling_radius(0, 100, 1.0, 0.95) == float("inf")


@pytest.mark.parametrize(
    ("mode", "confidence", "round_size"),
    [("fast", 0.95, 4), ("exact", 1.0, 4), ("exact", 0.0, 4), ("exact", 0.9, 0)],
)
def test_bad_settings_name_the_flag(mode, confidence, round_size):
    with pytest.raises(ConfigError, match="racing"):
        RacingSettings(mode, confidence, round_size)


def test_could_be_chosen_is_necessary_and_monotone():
    """Racing relies on it: whatever choose_next picks passes it, and raising a prompt's score
    while lowering the others' keeps it passing."""
    rng = random.Random(3)
    for _ in range(5000):
        names = [f"P{k}" for k in range(rng.randint(1, 5))] + ([""] if rng.random() < 0.3 else [])
        rng.shuffle(names)
        scores = {x: rng.choice([0.0, 0.25, 0.5, 1.0]) for x in names}
        before = {x for x in ["U", *names] if rng.random() < 0.3}
        ranking = build_ranking("U", {}, scores)
        chosen = choose_next(ranking, before)
        assert could_be_chosen(ranking, before, chosen)
        target = rng.choice(names)
        if not could_be_chosen(ranking, before, target):
            continue
        moved = {
            x: (min(1.0, v + rng.random()) if x == target else v * rng.random())
            for x, v in scores.items()
        }
        assert could_be_chosen(build_ranking("U", {}, moved), before, target)


# ---- the whole GPO loop on deterministic fakes: racing off vs exact -------------------------

LEVELS = 10


def _level_scorer(answers: dict[str, str]) -> FakeLLM:
    """Prompt "Level k ..." answers a question right iff a hash of (question, k) is below k, so
    prompts of nearby levels tie often and differ per example. Second round repeats round one."""

    def respond(prompt: Prompt, params: GenerationParams, i: int) -> str:
        if len(prompt) == 3:
            return prompt[1].content
        text = prompt[0].content
        question = next(q for q in answers if q in text)
        level = int(text.split("Level ")[1][0]) if "Level " in text else 3
        level = min(level, LEVELS - 1)
        right = answers[question]
        wrong = "No" if right == "Yes" else "Yes"
        ok = zlib.crc32(f"{question}|{level}".encode()) % LEVELS < level
        return f"The answer is {right if ok else wrong}."

    return FakeLLM(respond, name="fake-scorer")


def _level_optimizer(seed: int) -> FakeLLM:
    """Proposes prompts of pseudo-random levels from a pool of 30, so some recur (reuse)."""

    def respond(prompt: Prompt, params: GenerationParams, i: int) -> str:
        if params.temperature == 0.0:
            return "Feedback: be careful."
        rng = random.Random(f"{seed}|{params.seed}|{i}")
        return f"<START>Level {rng.randint(0, 9)} thinking, variant {rng.randint(0, 2)}.<END>"

    return FakeLLM(respond, name="fake-optimizer")


def _run_loop(tmp_path: Path, data_dir: Path, mode: str, seed: int, **opt):
    from fake_loop import TASK, make_config

    config = make_config(tmp_path, data_dir)
    config = dataclasses.replace(
        config,
        seed=seed,
        output_dir=str(tmp_path / mode),
        max_examples=12,
        eval_racing=mode,
        opt=dataclasses.replace(config.opt, opt_batch_size=3, **opt),
    )
    bench = get_benchmark("bbh")
    data = bench.load(TASK, Path(config.data_dir), config.max_examples)
    answers = {e.question: str(e.answer) for s in ("train", "eval", "test") for e in data.split(s)}
    ledger = Ledger()
    scorer_llm = _level_scorer(answers)
    scorer = Scorer(wrap_llm(scorer_llm, "scorer", ledger, None), bench, ScorerSettings())
    fmt = FormatSampler.seeded(seed).sample([data], config.opt.format_data_num)[TASK]
    comps = build_components(
        config.opt, config.scoring, tuple(data.format[i] for i in fmt), FakeEmbedder()
    )
    folder = RunFolder.create(config)
    opt_llm = wrap_llm(_level_optimizer(seed), "optimizer", ledger, None)
    outcome = run_task(config, folder, TASK, data, scorer, opt_llm, comps, ledger)
    return outcome, read_jsonl(folder.steps_path(TASK)), scorer_llm.num_requests


CONFIGS = [
    {"num_generated_instructions_in_each_step": 4},
    {"num_generated_instructions_in_each_step": 6, "num_search_epochs": 2},
    {
        "num_generated_instructions_in_each_step": 5,
        "gradient_name": "feedback",
        "util_gradient_name": "edit",
        "momentum_para_name": "-",
        "momentum_selection_name": "-",
        "momentum_update_name": "-",
        "learning_rate_name": "wo_lr",
        "decay_strategy": "-",
    },
]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("config_index", range(len(CONFIGS)))
def test_exact_racing_keeps_the_trajectory_of_full_evaluation(
    tmp_path, data_dir, seed, config_index
):
    opt = CONFIGS[config_index]
    full, full_steps, full_requests = _run_loop(tmp_path / "a", data_dir, "off", seed, **opt)
    raced, raced_steps, raced_requests = _run_loop(tmp_path / "b", data_dir, "exact", seed, **opt)
    assert raced.state.trajectory == full.state.trajectory
    assert raced.state.gradients == full.state.gradients
    assert (raced.best, raced.best_test) == (full.best, full.best_test)
    assert raced.state.chosen == full.state.chosen
    # every score that was reused or is complete equals full evaluation's
    for prompt, score in raced.state.scores.items():
        assert score == full.state.scores[prompt]
    assert set(raced.state.scores) | set(raced.state.partial) == set(full.state.scores)
    steps = [s for s in raced_steps if "racing" in s]
    saved = sum(s["racing"]["generations_saved"] for s in steps)
    assert saved == full_requests - raced_requests > 0
    for a, b in zip(steps, [s for s in full_steps if "racing" in s]):
        assert a["chosen"] == b["chosen"] and a["meta_prompt"] == b["meta_prompt"]
        assert [c["status"] for c in a["candidates"]] == [c["status"] for c in b["candidates"]]
        for c in a["candidates"]:
            if c["eval_partial"]:
                assert c["prompt"] in {d["prompt"] for d in a["racing"]["dropped"]}


def test_partial_scores_are_completed_before_reuse(tmp_path, data_dir):
    """Seed 1 with 6 candidates over 2 epochs regenerates dropped prompts: they are completed
    (the completion is counted against the savings) and reused with the full score."""
    opt = CONFIGS[1]
    full, _, _ = _run_loop(tmp_path / "a", data_dir, "off", 1, **opt)
    raced, steps, _ = _run_loop(tmp_path / "b", data_dir, "exact", 1, **opt)
    completing = [s["racing"]["generations_completing_partials"] for s in steps if "racing" in s]
    assert any(completing)
    for s in steps:
        for c in s.get("candidates", []):
            if c["status"] == "reused":
                assert c["eval_score"] == full.state.scores[c["prompt"]]


def test_statistical_racing_in_the_loop_keeps_chosen_scores_complete(tmp_path, data_dir):
    opt = CONFIGS[1]
    full, _, full_requests = _run_loop(tmp_path / "a", data_dir, "off", 2, **opt)
    raced, steps, raced_requests = _run_loop(tmp_path / "b", data_dir, "statistical", 2, **opt)
    assert raced_requests <= full_requests
    for entry in raced.state.trajectory[1:]:
        assert entry.prompt not in raced.state.partial
        assert entry.score == full.state.scores.get(entry.prompt, entry.score)
    for s in steps:
        for d in s.get("racing", {}).get("dropped", []):
            assert d["reason"] in ("exact", "hoeffding", "paired")
            assert d["scored_examples"] < d["total_examples"]
