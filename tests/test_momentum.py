"""Momentum selection and updates (GPO_REFERENCE 5.3 steps 2-3, 5.5; quirks 10.13, 10.18)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gpo.errors import ConfigError
from gpo.llm.base import GenerationParams, user_message
from gpo.llm.embedder import FakeEmbedder
from gpo.llm.fake import FakeLLM, constant
from gpo.optimization.meta_prompts import (
    ScoredPrompt,
    realtime_gradient_momentum_prompt,
    realtime_para_momentum_prompt,
)
from gpo.optimization.momentum import (
    KListFeedbackMomentum,
    KListParaMomentum,
    MomentumContext,
    RealTimeFeedbackMomentum,
    RealTimeParaMomentum,
    build_feedback_momentum,
    build_para_momentum,
    check_update_name,
)
from gpo.optimization.selection import (
    PENDING_IMPROVEMENT,
    GradientEntry,
    ImportanceSelection,
    RecencySelection,
    RelevanceSelection,
    TrajectoryEntry,
    build_selection,
)
from gpo.results.records import LogEntry
from helpers import greedy

# Similarity to U under FakeEmbedder(dim=1024): E2 0.94 > E3 0.84 > E0 0.60 > E1 0.0
E0 = TrajectoryEntry("solve the math problem carefully", 0.3, -1, -1)
E1 = TrajectoryEntry("answer with one letter", 0.5, 0, 0)
E2 = TrajectoryEntry("solve the problem step by step", 0.4, 0, 1)
E3 = TrajectoryEntry("think about the math problem step by step", 0.2, 0, 2)
U = TrajectoryEntry("solve the math problem step by step", 0.45, 0, 3)
TRAJ = [E0, E1, E2, E3, U]

# Similarity to G3: G0 0.51 > G1 0.40 > G2 0.0
G0 = GradientEntry("be more specific about the answer format", 0.1, 0, 0)
G1 = GradientEntry("the prompt is too vague", -0.05, 0, 1)
G2 = GradientEntry("no problems found", 0.1, 0, 2)
G3 = GradientEntry("the answer format is unclear", PENDING_IMPROVEMENT, 0, 3)
GRADS = [G0, G1, G2, G3]


def relevance() -> RelevanceSelection:
    return RelevanceSelection(FakeEmbedder(dim=1024))


# --- recency ---------------------------------------------------------------------------------


def test_recency_newest_first() -> None:
    assert RecencySelection().select(TRAJ, 2) == [U, E3]
    assert RecencySelection().select(GRADS, 3) == [G3, G2, G1]
    assert RecencySelection().select(TRAJ[:1], 3) == [E0]


def test_recency_k0_is_whole_history_quirk() -> None:
    # history[-0:] is the whole list (10.18 kept)
    assert RecencySelection().select(TRAJ, 0) == [U, E3, E2, E1, E0]


# --- importance -------------------------------------------------------------------------------


def test_importance_para_top_k_by_score() -> None:
    assert ImportanceSelection().select(TRAJ, 3) == [E1, U, E2]
    assert ImportanceSelection().select(TRAJ, 1) == [E1]  # U only if it makes the top k
    assert ImportanceSelection().select(TRAJ, 0) == []


def test_importance_para_ties_keep_trajectory_order() -> None:
    a, b, c = (TrajectoryEntry(p, 0.5, 0, i) for i, p in enumerate("abc"))
    assert ImportanceSelection().select([a, b, c], 2) == [a, b]


def test_importance_feedback_newest_plus_top_k() -> None:
    # newest first, then top-k older by improvement: k + 1 items; tie G0/G2 keeps order
    # (the newest gradient's improvement is pending: the feedback momentum says so)
    assert ImportanceSelection().select(GRADS, 2, newest_pending=True) == [G3, G0, G2]
    assert ImportanceSelection().select(GRADS, 0, newest_pending=True) == [G3]
    assert ImportanceSelection().select([], 3, newest_pending=True) == []
    # the same selection ranks every entry when no value is pending (the trajectory)
    assert ImportanceSelection().select(GRADS, 2) == [G0, G2]


# --- relevance --------------------------------------------------------------------------------


def test_relevance_para_newest_then_most_similar() -> None:
    assert relevance().select(TRAJ, 3) == [U, E2, E3]
    assert relevance().select(TRAJ, 10) == [U, E2, E3, E0, E1]
    assert relevance().select(TRAJ, 1) == [U]


def test_relevance_k0_is_all_but_least_similar_quirk() -> None:
    # [:k-1] with k = 0 is [:-1] (10.18 kept)
    assert relevance().select(TRAJ, 0) == [U, E2, E3, E0]


def test_relevance_first_steps() -> None:
    assert relevance().select([E0], 3) == [E0]  # first step: only I0
    assert relevance().select([E0, U], 3) == [U, E0]  # second step: U and I0
    assert relevance().select([], 3) == []


def test_relevance_ties_put_the_older_entry_first_and_keep_duplicates() -> None:
    # numpy's argsort(similarity)[::-1], as in the original: argsort is stable for short
    # arrays and the reversal puts the older of two tied entries first. (This test used to
    # pin the newer entry first, from a Python sort of the reversed history.)
    old = TrajectoryEntry("solve the math problem step by step", 0.1, -1, -1)
    mid = TrajectoryEntry("solve the math problem step by step", 0.2, 0, 0)
    cur = TrajectoryEntry("solve the math problem step by step", 0.3, 0, 1)
    assert relevance().select([old, mid, cur], 3) == [cur, old, mid]


class VectorEmbedder:
    """Fixed unit vectors per text, so the test decides every similarity."""

    name = "vectors"

    def __init__(self, vectors: dict[str, tuple[float, float]]) -> None:
        self.vectors = {t: np.asarray(v, dtype=np.float32) for t, v in vectors.items()}

    def encode(self, texts) -> np.ndarray:
        rows = [self.vectors[t] / np.linalg.norm(self.vectors[t]) for t in texts]
        return np.stack(rows).astype(np.float32)


def test_relevance_tie_of_a_rechosen_prompt_keeps_its_first_score() -> None:
    i0 = "Let's think step by step."
    embedder = VectorEmbedder({i0: (0.6, 0.8), "Be concise.": (0.9, 0.436), "Think first.": (1, 0)})
    history = [
        TrajectoryEntry(i0, 0.35, -1, -1),
        TrajectoryEntry(i0, 0.0, 0, 0),  # re-chosen with the ranking's 0.0 placeholder
        TrajectoryEntry("Be concise.", 0.4, 0, 1),
        TrajectoryEntry("Think first.", 0.45, 0, 2),
    ]
    selected = RelevanceSelection(embedder).select(history, 3)
    assert selected == [history[3], history[2], history[0]]  # ends with (I0, 0.35)


def test_relevance_order_beyond_16_entries_is_numpys() -> None:
    # Past 16 items numpy's default argsort (introsort) is not stable; the original's order
    # is whatever numpy gives, so the selection must be exactly argsort(...)[::-1].
    texts = {"near": (1.0, 0.2), "far": (0.2, 1.0), "now": (1.0, 0.0)}
    history = [
        TrajectoryEntry("near" if i % 2 == 0 else "far", i / 100, 0, i) for i in range(20)
    ] + [TrajectoryEntry("now", 0.5, 1, 0)]
    embedder = VectorEmbedder(texts)
    older = list(reversed(history[:-1]))
    vectors = embedder.encode(["now"] + [e.prompt for e in older])
    order = np.argsort(vectors[1:] @ vectors[0])[::-1]
    expected = [history[-1]] + [older[int(i)] for i in order]
    near = [int(i) for i in order if older[int(i)].prompt == "near"]
    assert near != sorted(near, reverse=True)  # ties not simply older-first: unstable order
    assert RelevanceSelection(embedder).select(history, 21) == expected
    assert RelevanceSelection(embedder).select(history, 4) == expected[:4]


def test_relevance_feedback_uses_gradient_texts() -> None:
    assert relevance().select(GRADS, 3) == [G3, G0, G1]


def test_relevance_caches_embeddings_per_text() -> None:
    embedder = FakeEmbedder(dim=1024)
    selection = RelevanceSelection(embedder)
    selection.select(TRAJ[:3], 3)
    selection.select(TRAJ, 3)
    assert embedder.calls == [
        [E2.prompt, E1.prompt, E0.prompt],
        [U.prompt, E3.prompt],
    ]


def test_build_selection_names() -> None:
    embedder = FakeEmbedder()
    assert isinstance(build_selection("relavance", embedder), RelevanceSelection)
    assert isinstance(build_selection("relevance", embedder), RelevanceSelection)
    assert isinstance(build_selection("recency"), RecencySelection)
    assert isinstance(build_selection("importance"), ImportanceSelection)
    with pytest.raises(ConfigError, match="embedding model"):
        build_selection("relevance")
    with pytest.raises(ConfigError, match="recency, relavance, importance"):
        build_selection("-")


# --- k-list updates ---------------------------------------------------------------------------


def context(
    llm=None, trajectory=(), gradients=(), para=None, gradient=None, current=("U.", 0.0), score=None
) -> MomentumContext:
    """A momentum context at epoch 1, step 2."""
    llm = llm or FakeLLM(constant("unused"))
    return MomentumContext(
        llm, list(trajectory), list(gradients), para, gradient, *current, score, 1, 2
    )


def test_k_list_para_momentum_text() -> None:
    out = KListParaMomentum(relevance(), 3).apply(context(trajectory=TRAJ))
    assert out.buffer is None
    assert out.log == (
        LogEntry("selected_para_history_list", ([[e.prompt, e.score] for e in (U, E2, E3)],), 1, 2),
    )
    assert out.text == (
        "Here are some earlier prompts, each with its score. Scores go from 0 to 100; the higher "
        "the score, the better the prompt.\n\n"
        "Prompt: solve the math problem step by step\nScore: 0.45\n\n"
        "Prompt: solve the problem step by step\nScore: 0.4\n\n"
        "Prompt: think about the math problem step by step\nScore: 0.2\n\n"
    )


def test_k_list_para_momentum_percent() -> None:
    momentum = KListParaMomentum(ImportanceSelection(), 1, scores_as_percent=True)
    out = momentum.apply(context(trajectory=TRAJ))
    assert out.text.endswith("Prompt: answer with one letter\nScore: 50.00\n\n")


def test_k_list_para_momentum_with_no_selected_entries_shows_header_and_four_newlines() -> None:
    # Importance with --momentum_selection_num=0 selects nothing; the original still writes
    # the header, its blank line, the empty join and the closing "\n\n".
    out = build_para_momentum("k-list", "importance", 0).apply(context(trajectory=TRAJ))
    assert out.log == (LogEntry("selected_para_history_list", ([],), 1, 2),)
    assert out.text == (
        "Here are some earlier prompts, each with its score. Scores go from 0 to 100; the higher "
        "the score, the better the prompt.\n\n\n\n"
    )


def test_k_list_feedback_momentum_joins_texts() -> None:
    out = KListFeedbackMomentum(ImportanceSelection(), 2).apply(context(gradients=GRADS))
    texts = [g.text for g in (G3, G0, G2)]
    assert out.log == (LogEntry("selected_gradient_history_list", (texts,), 1, 2),)
    assert out.log[0].value == [texts, 1, 2]  # the original's [selected, epoch, step]
    assert out.buffer is None
    assert out.text == (
        "the answer format is unclear\n\nbe more specific about the answer format\n\n"
        "no problems found"
    )


# --- real-time updates ------------------------------------------------------------------------

GREEDY = greedy(max_tokens=512)


def test_real_time_para_first_call_sets_momentum_to_current() -> None:
    llm = FakeLLM(constant("unused"))
    out = RealTimeParaMomentum().apply(context(llm, current=("Think.", 0.35416)))
    assert out.buffer == ScoredPrompt("Think.", 0.35) and out.text is None
    assert out.log == (LogEntry("meta_fo_momentum_para_texts", ("Think.", 0.35), 1, 2),)
    assert llm.calls == []


def test_real_time_para_scores_the_summary_by_default() -> None:
    llm = FakeLLM(constant("Merged: <START>think, then check.<END>"))
    scored: list[str] = []

    def score(prompt: str) -> float:
        scored.append(prompt)
        return 0.61234

    previous = ScoredPrompt("Think.", 0.35)
    out = RealTimeParaMomentum().apply(
        context(llm, para=previous, current=("Check.", 0.5208), score=score)
    )
    meta_prompt = realtime_para_momentum_prompt(previous, ScoredPrompt("Check.", 0.52))
    assert out.log == (
        LogEntry("meta_fo_momentum_para_prompts", (meta_prompt,), 1, 2),
        LogEntry("meta_fo_momentum_para_texts", ("Think, then check.", 0.61), 1, 2),
    )
    assert out.buffer == ScoredPrompt("Think, then check.", 0.61)
    assert scored == ["Think, then check."]  # bug 10.13 fixed: the summary is scored
    assert llm.calls[0].prompts == (user_message(meta_prompt),)
    assert llm.calls[0].params == GREEDY


def test_real_time_para_original_bug_scores_current() -> None:
    llm = FakeLLM(constant("<START>think, then check.<END>"))
    out = RealTimeParaMomentum(score_summary=False).apply(
        context(llm, para=ScoredPrompt("Think.", 0.35), current=("Check.", 0.5208))
    )
    assert out.buffer == ScoredPrompt("Think, then check.", 0.52)  # U's score (10.13 kept)


def test_real_time_para_fix_needs_a_scorer() -> None:
    llm = FakeLLM(constant("<START>x<END>"))
    with pytest.raises(ValueError, match="score_prompt"):
        RealTimeParaMomentum().apply(
            context(llm, para=ScoredPrompt("Think.", 0.35), current=("C.", 0.5))
        )


def test_real_time_feedback_momentum() -> None:
    llm = FakeLLM(constant("<START>vague, and no answer format.<END>"))
    vague = GradientEntry("too vague", PENDING_IMPROVEMENT, 1, 2)
    first = RealTimeFeedbackMomentum().apply(context(llm, gradients=[vague]))
    assert (first.text, first.buffer) == ("too vague", "too vague")
    assert first.log == (LogEntry("meta_fo_momentum_gradient_texts", ("too vague",), 1, 2),)
    assert llm.calls == []
    newest = GradientEntry("no answer format", PENDING_IMPROVEMENT, 1, 2)
    second = RealTimeFeedbackMomentum().apply(
        context(llm, gradients=[vague, newest], gradient=first.buffer)
    )
    meta_prompt = realtime_gradient_momentum_prompt("too vague", "no answer format")
    assert second.log[0] == LogEntry("meta_fo_momentum_gradient_prompts", (meta_prompt,), 1, 2)
    assert second.text == second.buffer == "Vague, and no answer format."
    assert llm.num_requests == 1
    assert llm.calls[0].params == GREEDY


def test_check_update_name() -> None:
    assert check_update_name("k-list") == "k-list"
    with pytest.raises(ConfigError, match="k-list, real-time"):
        check_update_name("-")


# --- state ------------------------------------------------------------------------------------


def test_history_entries_round_trip_through_json() -> None:
    for entry in (U, G3):
        data = json.loads(json.dumps(entry.to_dict()))
        assert type(entry).from_dict(data) == entry
    assert G3.with_improvement(0.05) == GradientEntry(G3.text, 0.05, 0, 3)


def test_build_momentum_objects() -> None:
    embedder = FakeEmbedder()
    para = build_para_momentum("k-list", "relavance", 3, embedder)
    assert isinstance(para, KListParaMomentum)
    assert isinstance(para.selection, RelevanceSelection)
    assert para.k == 3
    assert build_para_momentum("k-list", "-", 3) is None  # no selection: no momentum object
    assert build_para_momentum("-", "recency", 3) is None
    realtime = build_para_momentum("real-time", "-", 0, score_summary=False)
    assert realtime == RealTimeParaMomentum(score_summary=False)
    feedback = build_feedback_momentum("k-list", "importance", 2)
    assert isinstance(feedback, KListFeedbackMomentum)
    assert isinstance(build_feedback_momentum("real-time", "-", 0), RealTimeFeedbackMomentum)
    with pytest.raises(ConfigError, match="momentum_update_name"):
        build_feedback_momentum("list", "-", 0)


def test_optimizer_max_tokens_reaches_the_real_time_requests() -> None:
    # --optimizer_max_tokens is passed through build_components to both real-time summaries.
    from gpo.config import OptimizerConfig, ScoringConfig
    from gpo.optimization.components import build_components

    for para_name in ("para", "feedback"):
        o = OptimizerConfig(
            gradient_name="feedback",
            momentum_para_name=para_name,
            momentum_update_name="real-time",
            util_gradient_name="edit",
        )
        comp = build_components(o, ScoringConfig(), (), None, optimizer_max_tokens=77)
        llm = FakeLLM(constant("<START>merged<END>"))
        if para_name == "para":
            ctx = context(
                llm, para=ScoredPrompt("A.", 0.1), current=("B.", 0.2), score=lambda p: 0.3
            )
            comp.para_momentum.apply(ctx)
        else:
            grads = [GradientEntry("no format", PENDING_IMPROVEMENT, 1, 2)]
            comp.feedback_momentum.apply(context(llm, gradients=grads, gradient="too vague"))
        assert llm.calls[0].params == GenerationParams(temperature=0.0, max_tokens=77)
