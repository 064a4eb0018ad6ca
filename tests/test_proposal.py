"""Candidate proposal, extraction, polishing, dedup and the choice of the next prompt
(GPO_REFERENCE 5.3 steps 7-10, quirks 10.5, 10.8, 10.17, 10.22)."""

from __future__ import annotations

import pytest

from gpo.llm.base import GenerationParams, user_message
from gpo.llm.fake import FakeLLM, constant
from gpo.optimization.proposal import (
    best_of_trajectory,
    build_ranking,
    choose_next,
    dedup_candidates,
    extract_between_tags,
    hashes_of,
    parse_candidate,
    polish,
    prompt_hash,
    propose,
)
from gpo.optimization.selection import TrajectoryEntry


def test_propose_sends_exactly_n_requests_in_one_call() -> None:
    llm = FakeLLM(lambda p, params, i: f"Sure: <START>candidate {i}<END> done")
    got = propose(llm, "META", n=8, temperature=1.0, seed=7)
    assert got == [f"Candidate {i}" for i in range(8)]
    assert len(llm.calls) == 1
    call = llm.calls[0]
    assert call.prompts == (user_message("META"),) * 8
    assert call.sample_indices == tuple(range(8))
    assert call.params == GenerationParams(temperature=1.0, max_tokens=512, seed=7)
    assert llm.num_requests == 8


def test_propose_sends_plain_text_to_non_chat_models() -> None:
    llm = FakeLLM(constant("<START>x y<END>"), is_chat=False)
    assert propose(llm, "META", n=2, temperature=0.7) == ["X y", "X y"]
    assert llm.calls[0].prompts == ("META", "META")


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("<START> Think hard. <END>", "Think hard."),
        ("preamble <START>A<END> tail <START>B<END>", "A"),  # first pair
        ("no tags at all  ", "no tags at all"),  # whole text
        ("<START> open only", "open only"),  # to the end
        ("close only <END> rest", "close only"),  # from position 0
        ("<END> x <START> y", ""),  # quirk 10.22: <END> before <START> gives ""
        ("", ""),
    ],
)
def test_extract_between_tags(reply: str, expected: str) -> None:
    assert extract_between_tags(reply) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  **think** step by step  ", "Think step by step"),
        ("a", "a"),  # length 1: not upper-cased
        ("ab", "Ab"),
        ("** x", " x"),  # stripped before ** is removed, not after
        ("already Capital, keep REST", "Already Capital, keep REST"),
        ("", ""),
    ],
)
def test_polish(text: str, expected: str) -> None:
    assert polish(text) == expected


def test_parse_candidate() -> None:
    assert parse_candidate("Here: <START>**be** precise.<END>") == "Be precise."


def test_prompt_hash_is_md5_of_utf8() -> None:
    assert prompt_hash("") == "d41d8cd98f00b204e9800998ecf8427e"
    assert prompt_hash("Let's think step by step.") == prompt_hash("Let's think step by step.")
    assert len(prompt_hash("é")) == 32


def test_dedup_keeps_generation_order_and_reuses_scores() -> None:
    seen = hashes_of(["old A", "old B"])
    scores = {"old A": 0.5, "I0": 0.3}
    candidates = ["new 2", "old A", "new 1", "new 2", "old B", "", "new 1", ""]
    new, reused = dedup_candidates(candidates, seen, scores)
    assert new == ["new 2", "new 1", ""]  # generation order (fix 10.8); "" kept (10.17)
    assert reused == {"old A": 0.5}  # old B was seen but has no stored score: dropped
    assert seen == hashes_of(["old A", "old B"])  # input not modified


def test_dedup_initial_prompt_is_never_hashed_quirk() -> None:
    # The caller never adds I0's hash, so a regenerated I0 is evaluated again.
    new, reused = dedup_candidates(["I0"], set(), {"I0": 0.3})
    assert new == ["I0"]
    assert reused == {}


def test_ranking_starts_with_current_placeholder() -> None:
    ranking = build_ranking("U", {"old": 0.4}, {"a": 0.2, "b": 0.6})
    assert list(ranking.items()) == [("U", 0.0), ("old", 0.4), ("a", 0.2), ("b", 0.6)]


def test_choose_next_takes_best_not_chosen_before_even_if_worse() -> None:
    ranking = build_ranking("U", {"old": 0.9}, {"a": 0.2, "b": 0.6})
    assert choose_next(ranking, chosen_before={"U", "old"}) == "b"
    assert choose_next(ranking, chosen_before={"U"}) == "old"
    assert choose_next(build_ranking("U", {}, {"a": 0.1}), chosen_before={"U"}) == "a"


def test_choose_next_ties_go_to_earlier_insertion() -> None:
    ranking = build_ranking("U", {}, {"a": 0.5, "b": 0.5})
    assert choose_next(ranking, chosen_before={"U"}) == "a"


def test_choose_next_all_chosen_takes_top() -> None:
    ranking = build_ranking("U", {"x": 0.7}, {})
    assert choose_next(ranking, chosen_before={"U", "x"}) == "x"


def test_choose_next_initial_prompt_quirk() -> None:
    # Quirk 10.5: I0 is not among the chosen prompts, and with its 0.0 placeholder it wins the
    # tie when every candidate scores 0.0 at the first step.
    ranking = build_ranking("I0", {}, {"a": 0.0, "b": 0.0})
    assert choose_next(ranking, chosen_before=set()) == "I0"
    # Later, I0 can be re-chosen when everything else was chosen before.
    ranking = build_ranking("U", {"I0": 0.3}, {})
    assert choose_next(ranking, chosen_before={"U"}) == "I0"


def test_empty_candidate_never_becomes_the_next_prompt() -> None:
    # The original falls back to the top of the ranking when the chosen prompt is "", even
    # to a prompt chosen before.
    ranking = {"U": 0.0, "A": 0.4, "": 0.2}
    assert choose_next(ranking, chosen_before={"U", "A"}) == "A"
    # An empty candidate from "<START><END>" or an "<END>" before "<START>" is the same "".
    assert parse_candidate("<START><END>") == parse_candidate("<END> x <START>") == ""
    ranking = build_ranking("U", {}, {"": 0.2, "b": 0.9})
    assert choose_next(ranking, chosen_before={"U", "b"}) == "b"
    # The fallback is the top of the ranking itself: only when "" scores best of all does it
    # stay (the original's mechanism; an empty prompt scoring best is the Empty baseline).
    assert choose_next({"U": 0.0, "": 0.5}, chosen_before={"U"}) == ""


def test_choose_next_empty_ranking() -> None:
    with pytest.raises(ValueError):
        choose_next({}, set())


def test_best_of_trajectory_argmax_ties_earliest() -> None:
    traj = [
        TrajectoryEntry("I0", 0.3, -1, -1),
        TrajectoryEntry("a", 0.5, 0, 0),
        TrajectoryEntry("b", 0.2, 0, 1),
        TrajectoryEntry("c", 0.5, 0, 2),
    ]
    assert best_of_trajectory(traj) is traj[1]
    assert best_of_trajectory(traj[:1]) is traj[0]
    with pytest.raises(ValueError):
        best_of_trajectory([])
