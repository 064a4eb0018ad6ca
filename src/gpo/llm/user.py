"""The user's own model client as the scorer (task model) or the prompt optimizer.

``scorer=``/``optimizer=`` of the Python API take, besides an alias or path, any object with a
``generate(prompts, params, sample_indices=None)`` method (the ``gpo.LLM`` protocol of
``gpo.llm.base``) or a plain callable ``(messages) -> str`` (wrapped in :class:`CallableLLM`).
``UserLLM`` is the run's view of either: backend ``"python"``, the user's name, replies as
Completions. The name the user gives keys the response cache and is recorded in the run folder
(a resumed run checks it); an unnamed model is never cached, since no stable key exists for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from gpo.errors import BackendError, ConfigError
from gpo.llm.base import LLM, ChatMessage, Completion, GenerationParams, Prompt

log = logging.getLogger(__name__)

USER_BACKEND = "python"  # ModelConfig.backend of a model object passed from Python
UNNAMED = "unnamed"  # the recorded name of a model object without a name (never cached)
Messages = list[dict[str, str]]
ChatFunction = Callable[[Messages], str]
MODEL_HINT = (
    "pass a model alias or path, an object with generate(prompts, params) (gpo.LLM), "
    "or a callable (messages) -> str"
)


def messages_of(prompt: Prompt) -> Messages:
    """A prompt as chat messages: ``[{"role": ..., "content": ...}]`` (a string is one user
    message)."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [{"role": m.role, "content": m.content} for m in prompt]


@dataclass
class CallableLLM:
    """A plain function ``fn(messages) -> str`` as a ``gpo.LLM``.

    ``messages`` is a list of ``{"role": "system" | "user" | "assistant", "content": str}``
    dicts, one conversation per call; ``fn`` returns the reply text. Sampling settings
    (temperature, max_tokens, seed, the sample index) are not passed: implement ``gpo.LLM``
    to use them. ``name`` keys the response cache and is recorded in the run folder (None: no
    response cache for this model). ``concurrency`` > 1 calls ``fn`` from that many threads at
    once (``fn`` must then be thread-safe)."""

    fn: ChatFunction
    name: str | None = None
    concurrency: int = 1
    backend: str = USER_BACKEND
    is_chat: bool = True

    def __post_init__(self) -> None:
        if not callable(self.fn):
            raise ConfigError(f"CallableLLM(fn={self.fn!r:.60}): fn must be callable; {MODEL_HINT}")
        if self.concurrency < 1:
            raise ConfigError(f"CallableLLM(concurrency={self.concurrency}) must be >= 1")

    def generate(
        self,
        prompts: Sequence[Prompt],
        params: GenerationParams,
        sample_indices: Sequence[int] | None = None,
    ) -> list[Completion]:
        conversations = [messages_of(p) for p in prompts]
        if self.concurrency == 1 or len(conversations) < 2:
            texts = [self.fn(m) for m in conversations]
        else:
            with ThreadPoolExecutor(min(self.concurrency, len(conversations))) as pool:
                texts = list(pool.map(self.fn, conversations))
        return [Completion(str(t)) for t in texts]

    def close(self) -> None:
        return None


def _given_name(model: object) -> str | None:
    name = getattr(model, "name", None)
    if name is None or (isinstance(name, str) and not name.strip()):
        return None
    if not isinstance(name, str):
        raise ConfigError(f"the model's name={name!r:.60} must be a string (or None: not cached)")
    return name.strip()


class UserLLM:
    """A user's model in a run: backend ``"python"``, ``name`` the user's (``"unnamed"``
    without one), every reply a Completion. ``close`` leaves the user's client open: it is
    theirs, and may serve the next call."""

    backend = USER_BACKEND

    def __init__(self, model: object, role: str) -> None:
        self.model: LLM = model if hasattr(model, "generate") else CallableLLM(model)  # type: ignore[assignment]
        self.role = role
        self.cache_name = _given_name(self.model)
        self.name = self.cache_name or UNNAMED
        self.model_id = self.name
        self.is_chat = bool(getattr(self.model, "is_chat", True))
        self.concurrency = int(getattr(self.model, "concurrency", 1) or 1)

    def generate(
        self,
        prompts: Sequence[Prompt],
        params: GenerationParams,
        sample_indices: Sequence[int] | None = None,
    ) -> list[Completion]:
        replies = self.model.generate(prompts, params, sample_indices)
        if not isinstance(replies, Sequence) or len(replies) != len(prompts):
            raise BackendError(
                f"{self.role}={self.name}: generate returned {_count(replies)} for "
                f"{len(prompts)} prompt(s); return one str or gpo.Completion per prompt, in order"
            )
        return [_completion(r, self.role, self.name) for r in replies]

    def close(self) -> None:
        return None


def _count(replies: object) -> str:
    return f"{len(replies)} replies" if isinstance(replies, Sequence) else type(replies).__name__


def _completion(reply: object, role: str, name: str) -> Completion:
    if isinstance(reply, Completion):
        return reply
    if isinstance(reply, str):
        return Completion(reply)
    raise BackendError(
        f"{role}={name}: generate returned a {type(reply).__name__}; return a str or a "
        "gpo.Completion per prompt"
    )


def as_user_llm(model: object, role: str) -> UserLLM:
    """``model`` (an object with ``generate``, or a callable ``(messages) -> str``) as the
    ``role``'s UserLLM; ConfigError for anything else."""
    if isinstance(model, UserLLM):
        return model
    if callable(getattr(model, "generate", None)) or callable(model):
        return UserLLM(model, role)
    raise ConfigError(f"{role}={model!r:.60} is not a model; {MODEL_HINT}")


def is_model_object(model: object) -> bool:
    """Whether ``scorer=``/``optimizer=`` is an object or callable rather than a name."""
    return model is not None and not isinstance(model, str)


__all__ = ["CallableLLM", "ChatMessage", "UserLLM", "as_user_llm", "is_model_object"]
