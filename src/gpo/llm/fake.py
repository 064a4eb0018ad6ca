"""A deterministic fake LLM for unit tests of logic (never for capability tests).

It answers every prompt with ``respond(prompt_text, params, sample_index)`` and records each call,
so tests can assert exactly what was sent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from gpo.llm.base import Completion, GenerationParams, Prompt, prompt_text, sample_indices_for

Responder = Callable[[Prompt, GenerationParams, int], str]


@dataclass
class FakeCall:
    prompts: tuple[Prompt, ...]
    params: GenerationParams
    sample_indices: tuple[int, ...]


@dataclass
class FakeLLM:
    respond: Responder
    name: str = "fake"
    backend: str = "fake"
    is_chat: bool = True
    calls: list[FakeCall] = field(default_factory=list)

    def generate(
        self,
        prompts: Sequence[Prompt],
        params: GenerationParams,
        sample_indices: Sequence[int] | None = None,
    ) -> list[Completion]:
        idx = list(sample_indices) if sample_indices is not None else sample_indices_for(prompts)
        self.calls.append(FakeCall(tuple(prompts), params, tuple(idx)))
        out = []
        for p, i in zip(prompts, idx):
            text = self.respond(p, params, i)
            out.append(Completion(text, len(prompt_text(p).split()), len(text.split())))
        return out

    @property
    def num_requests(self) -> int:
        return sum(len(c.prompts) for c in self.calls)

    def close(self) -> None:
        return None


def constant(text: str) -> Responder:
    """A responder that always returns ``text``."""
    return lambda prompt, params, i: text
