"""The LLM interface shared by the scorer (task model) and the optimizer.

Batch-first: ``generate`` receives every prompt of a call at once, so vLLM can run one batched
``generate`` and HTTP backends can send requests concurrently. A prompt is a plain string (sent
as raw text) or a tuple of chat messages (rendered with the model's chat template).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, Union, runtime_checkable


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "user" | "assistant" | "system"
    content: str


Prompt = Union[str, tuple[ChatMessage, ...]]


def user_message(text: str) -> tuple[ChatMessage, ...]:
    """A one-turn conversation with the user text."""
    return (ChatMessage("user", text),)


@dataclass(frozen=True)
class GenerationParams:
    """Decoding settings of one call. temperature 0 means greedy."""

    temperature: float = 0.0
    max_tokens: int = 256
    seed: int = 0  # base seed for sampled calls; sample i of a batch uses seed + i


@dataclass(frozen=True)
class Completion:
    """One generated reply with its token counts (0 when the backend cannot tell)."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False  # True when the reply cost no model call (the response cache)
    cached_prompt_tokens: int = 0  # prompt tokens the engine served from its prompt cache


@runtime_checkable
class LLM(Protocol):
    """A text generator. ``generate`` returns one Completion per prompt, in order.

    ``sample_indices[i]`` distinguishes repeated identical prompts of a sampled call (the i-th
    of N independent samples); backends use it to derive per-request seeds so that sampling is
    reproducible, and the response cache uses it in its key.
    """

    name: str  # the model alias or path the user gave
    backend: str  # "llamacpp" | "openai" | "vllm" | "hf" | "fake"
    is_chat: bool  # whether chat messages are rendered with a chat template

    def generate(
        self,
        prompts: Sequence[Prompt],
        params: GenerationParams,
        sample_indices: Sequence[int] | None = None,
    ) -> list[Completion]: ...

    def close(self) -> None: ...


def concurrency(llm: object) -> int:
    """How many requests the backend serves at once (its ``concurrency``, else 1)."""
    return max(1, int(getattr(llm, "concurrency", 1) or 1))


def sample_indices_for(prompts: Sequence[Prompt]) -> list[int]:
    """Occurrence index of each prompt among identical prompts earlier in the batch."""
    seen: dict[Prompt, int] = {}
    out = []
    for p in prompts:
        out.append(seen.get(p, 0))
        seen[p] = out[-1] + 1
    return out


def batch_sample_indices(
    prompts: Sequence[Prompt], sample_indices: Sequence[int] | None
) -> list[int]:
    """The sample index of each prompt of a batch: the caller's, checked, or the occurrence
    index among identical prompts (``sample_indices_for``)."""
    indices = list(sample_indices) if sample_indices is not None else sample_indices_for(prompts)
    if len(indices) != len(prompts):
        raise ValueError("sample_indices must have one entry per prompt")
    return indices


def prompt_text(prompt: Prompt) -> str:
    """A readable rendering of a prompt for logs and CSVs."""
    if isinstance(prompt, str):
        return prompt
    return "\n".join(f"[{m.role}] {m.content}" for m in prompt)
