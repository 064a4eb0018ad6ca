"""Optimize and score a prompt from Python on the bundled SmolLM2-135M (offline, CPU)."""

import gpo

reviews = [
    ("The blender broke after two days.", "negative"),
    ("Fast shipping and it works great.", "positive"),
    ("Terrible battery, would not buy again.", "negative"),
    ("My kids love this puzzle.", "positive"),
]
records = [
    {"input": f"Review: {text}\nIs this review positive or negative?", "output": label}
    for text, label in reviews
]


def first_word(answer: str, record: dict) -> float:
    """1 when the reply starts with the right label (any case), else 0."""
    return float(answer.strip().lower().startswith(record["output"]))


task = gpo.Task.from_records(
    "reviews",
    train=records,
    eval=records,
    test=records,
    metric=first_word,
    second_round_request="Now answer with one word: positive or negative.",
)


def always_positive(messages: list[dict]) -> str:
    """A model of your own: any function from chat messages to a reply (or a gpo.LLM client)."""
    return "positive"


floor = gpo.evaluate("Label the review.", task, scorer=always_positive, no_cache=True)
before = gpo.evaluate(
    "Answer positive or negative.", task, scorer="smollm2-135m", scorer_max_tokens=16, no_cache=True
)
result = gpo.optimize(
    task,
    scorer="smollm2-135m",
    preset="gpo",
    embedding_model="all-minilm-l6-v2",
    num_search_epochs=1,
    opt_batch_size=4,
    num_generated_instructions_in_each_step=2,
    scorer_max_tokens=16,
    no_cache=True,
)
print(f"{floor.score:.2f} on test for a model that always says positive")
print(f"{before.score:.2f} on test for the hand-written prompt")
print(
    f"best prompt {result.best_prompt!r}: eval {result.best_eval:.2f}, test {result.best_test:.2f}"
)
print(f"{len(result.steps)} step(s); run folder {result.run_folder}")
