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
    """A text generator: the project's backends, and any model client a user passes as
    ``scorer=`` or ``optimizer=`` (``gpo.LLM``).

    Required: ``generate(prompts, params, sample_indices=None)`` returning one reply per
    prompt, in order; a reply is a ``str`` or a ``gpo.Completion`` (which also carries token
    counts for the usage ledger; a ``str`` counts as 0 tokens).

    * ``prompts``: a batch (a sequence) of prompts. Each is a tuple of ``gpo.ChatMessage``
      (``.role`` is "system", "user" or "assistant"; ``.content`` the text) when ``is_chat``
      is true (the default for a user's object), else a plain string. The batch holds every
      prompt of one round (all examples of a scoring round, all samples of an optimizer
      step): send them concurrently or batched if the client can.
    * ``params``: a ``gpo.GenerationParams``: ``temperature`` (0 means greedy: the scorer is
      always greedy), ``max_tokens`` (the reply's token limit) and ``seed``.
    * ``sample_indices[i]``: which of N samples of one identical prompt the i-th is; a
      sampled call (temperature > 0) should use ``params.seed + sample_indices[i]`` as its
      seed so the N samples differ and a run is reproducible. None: all 0.

    Optional attributes of a user's object (read with defaults): ``name`` (str; the response
    cache keys the replies by it and the run folder records it, so give a name that changes
    when the model does; None or absent: replies are not cached), ``is_chat`` (default
    True), ``concurrency`` (how many conversations the scorer may send at once through
    ``generate``, default 1), ``close()`` (never called for a user's object: the client
    stays the user's). ``generate`` may be called from several threads at once when
    ``concurrency`` > 1. A plain callable ``(messages) -> str`` is wrapped by
    ``gpo.CallableLLM``.

    The project's backends also set ``backend`` (their name) and implement ``close()``.
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
