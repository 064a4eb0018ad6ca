"""Your own model client as GPO's scorer: a plain function (messages) -> str, or an object
implementing gpo.LLM (e.g. around an OpenAI, vLLM or LiteLLM client). Runs offline in seconds.

    python examples/custom_model.py
"""

import logging

import gpo

logging.basicConfig(level=logging.INFO)


def keyword_model(messages: list[dict[str, str]]) -> str:
    """A stand-in for a real client: messages are [{"role": ..., "content": ...}, ...]."""
    text = messages[0]["content"].lower()
    return "positive" if any(w in text for w in ("love", "great", "perfect")) else "negative"


class MyClient:
    """The gpo.LLM protocol: generate(prompts, params, sample_indices) -> one reply per prompt.
    Each prompt is a tuple of gpo.ChatMessage; params carry temperature, max_tokens and seed."""

    name = "keyword-v1"  # keys the response cache and is recorded in the run folder

    def generate(self, prompts, params, sample_indices=None) -> list[str]:
        return [keyword_model([{"role": m.role, "content": m.content} for m in p]) for p in prompts]


records = [
    {"input": "I love this kettle.", "output": "positive"},
    {"input": "Great value, perfect size.", "output": "positive"},
    {"input": "It broke after a day.", "output": "negative"},
    {"input": "Too loud and too slow.", "output": "negative"},
]
task = gpo.Task.from_records("kettle_reviews", train=records, eval=records, test=records)
prompt = "Is this review positive or negative?"

# a plain function: no name, so its replies are not cached
print(gpo.evaluate(prompt, task, scorer=keyword_model, output_dir="out").score)
# a named function: cached under "keyword-fn"
named = gpo.CallableLLM(keyword_model, name="keyword-fn")
print(gpo.evaluate(prompt, task, scorer=named, output_dir="out").score)
# an object implementing gpo.LLM
print(gpo.evaluate(prompt, task, scorer=MyClient(), output_dir="out").score)
