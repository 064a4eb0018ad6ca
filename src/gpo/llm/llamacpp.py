"""The in-process llama.cpp backend: a GGUF model as the task model or optimizer on CPU.

It stands in for the paper's vLLM scorer (GPO_REFERENCE 3.2) and OpenAI optimizer (6) on machines
without a GPU. The engine is xllamacpp (llama.cpp's own server, embedded; see
``gpo.llm.llamacpp_engine``). Chat prompts use the GGUF's own chat template; raw strings are
completed as they are (3.3). A batch's prompts are in flight together, one thread per slot, so
the engine batches them continuously; identical prompts (the N samples of one meta-prompt) go one
after another so that all but the first reuse the cached prompt, and prompts are sent in text
order so that shared prefixes hit the cache (``gpo.llm.fan_out.fan_out_chains``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpo.errors import BackendError
from gpo.llm.aliases import ModelSpec
from gpo.llm.base import Completion, GenerationParams, Prompt, batch_sample_indices
from gpo.llm.fan_out import fan_out_chains
from gpo.llm.llamacpp_engine import (
    MIN_SIZED_CTX,
    SLOT_CTX,
    Engine,
    EngineSettings,
    SizedEngine,
    clear_engine_cache,
    default_parallel,
    load_engine,
    release_engine,
)
from gpo.llm.options import BackendOptions

log = logging.getLogger(__name__)


def clear_model_cache() -> int:
    """Free the idle loaded models (a model a backend holds is freed when it closes)."""
    return clear_engine_cache()


def engine_settings(spec: ModelSpec, options: BackendOptions) -> EngineSettings:
    """The engine settings of a model spec and the backend options (``n_parallel`` None: the
    default from the cores and ``n_ctx``; ``n_ctx`` None: sized to the prompts, starting at
    ``MIN_SIZED_CTX`` per slot, with the slots of a 4096-token context)."""
    n_parallel = options.n_parallel or default_parallel(options.n_ctx or SLOT_CTX)
    return EngineSettings(
        model_path=str(spec.model),
        n_ctx=options.n_ctx or MIN_SIZED_CTX,
        n_threads=options.n_threads,
        n_threads_batch=options.n_threads_batch or options.n_threads,
        n_parallel=n_parallel,
        prompt_cache=options.prompt_cache,
        sized=options.n_ctx is None,
    )


# A prompt's tokens before it is sent, to size the context for a batch: English text averages
# about 4 characters per token, plus the chat template's own tokens (Qwen's default system
# message is about 30). An underestimate (digits, code) costs a second load of the engine and
# the requests cut short sent again, not a different reply (``_context_needed``).
CHARS_PER_TOKEN = 4
TEMPLATE_TOKENS = 64


def estimated_tokens(prompt: Prompt) -> int:
    """An estimate of a prompt's tokens once its chat template is applied."""
    if isinstance(prompt, str):
        return len(prompt) // CHARS_PER_TOKEN + 1
    chars = sum(len(m.content) for m in prompt)
    return chars // CHARS_PER_TOKEN + TEMPLATE_TOKENS + 8 * len(prompt)


def _context_needed(response: Any, max_tokens: int, n_ctx: int) -> int | None:
    """The tokens a request needed when the context was too short for it (its prompt did not
    fit, or its reply stopped at the end of the context before ``max_tokens``), else None."""
    if not isinstance(response, dict):
        return None
    error = response.get("error")
    if error:
        if error.get("type") == "exceed_context_size_error" and "n_prompt_tokens" in error:
            return int(error["n_prompt_tokens"]) + max_tokens
        return None
    usage = response.get("usage") or {}
    prompt, completion = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
    if completion < max_tokens and prompt + completion >= n_ctx:
        return prompt + max_tokens
    return None


def request_body(prompt: Prompt, params: GenerationParams, index: int, cache: bool) -> dict:
    """The request of one prompt: temperature only (like the OpenAI API; 0 is greedy), the
    other samplers off, seeded with ``params.seed + index``."""
    body: dict[str, Any] = {
        "max_tokens": params.max_tokens,
        "temperature": max(params.temperature, 0.0),
        "top_p": 1.0,
        "top_k": 0,
        "min_p": 0.0,
        "repeat_penalty": 1.0,
        "seed": params.seed + index,
        "cache_prompt": cache,
    }
    if isinstance(prompt, str):
        body["prompt"] = prompt
    else:
        body["messages"] = [{"role": m.role, "content": m.content} for m in prompt]
    return body


@dataclass
class EngineStats:
    """Token counts and engine time of one backend's requests (summed over its replies)."""

    requests: int = 0
    prompt_tokens: int = 0  # prompt tokens of the requests
    cached_prompt_tokens: int = 0  # of them, served from the prompt cache (timings.cache_n)
    completion_tokens: int = 0
    prompt_ms: float = 0.0  # engine time computing prompts, summed over requests
    decode_ms: float = 0.0  # engine time generating, summed over requests

    def add(self, usage: dict, timings: dict) -> None:
        self.requests += 1
        self.prompt_tokens += int(usage.get("prompt_tokens", 0))
        self.cached_prompt_tokens += int(timings.get("cache_n", 0))
        self.completion_tokens += int(usage.get("completion_tokens", 0))
        self.prompt_ms += float(timings.get("prompt_ms", 0.0))
        self.decode_ms += float(timings.get("predicted_ms", 0.0))


def _reply_text(response: dict) -> str:
    choice = response["choices"][0]
    if "message" in choice:
        return choice["message"].get("content") or ""
    return choice.get("text") or ""


def _error(response: Any, n_ctx: int) -> BackendError | None:
    """The one-line error of a failed request, or None."""
    if not isinstance(response, dict):
        return BackendError(f"llama.cpp returned {type(response).__name__}, not a reply")
    error = response.get("error")
    if not error:
        return None
    if error.get("type") == "exceed_context_size_error":
        n = error.get("n_prompt_tokens", "?")
        return BackendError(f"prompt of {n} tokens does not fit n_ctx={n_ctx}; raise n_ctx")
    return BackendError(f"llama.cpp generation failed: {error.get('message', error)}")


def _send(engine: Engine, body: dict) -> Any:
    """One request to the engine: a raw completion or a chat completion."""
    if "prompt" in body:
        return engine.server.handle_completions(body)
    return engine.server.handle_chat_completions(body)


class _ThreadSlots:
    """One engine slot per calling thread, in the order threads first ask (modulo the slots).

    A thread's requests (a conversation's two rounds, the samples of one meta-prompt) always go
    to its own slot, so they reuse only what that slot computed: the engine never picks a slot
    by similarity, which made greedy replies depend on timing (measured)."""

    def __init__(self, n_slots: int) -> None:
        self.n_slots = n_slots
        self._local = threading.local()
        self._lock = threading.Lock()
        self._next = 0

    def slot(self) -> int:
        slot = getattr(self._local, "slot", None)
        if slot is None:
            with self._lock:
                slot, self._next = self._next % self.n_slots, self._next + 1
            self._local.slot = slot
        return slot


class LlamaCppBackend:
    """An LLM running a GGUF file in this process through xllamacpp."""

    backend = "llamacpp"

    def __init__(self, spec: ModelSpec, options: BackendOptions) -> None:
        path = Path(spec.model)
        if not path.is_file():
            raise BackendError(f"GGUF file not found: {spec.model}; check the model path")
        self.name = spec.alias
        self.spec = spec
        self._engine: SizedEngine | None = load_engine(engine_settings(spec, options))
        self.engine = self._model.version  # part of the response-cache key
        self.concurrency = self._model.settings.n_parallel
        self.is_chat = self._model.chat_template if spec.is_chat is None else spec.is_chat
        self.stats = EngineStats()
        self._stats_lock = threading.Lock()
        self._slots = _ThreadSlots(self.concurrency)

    @property
    def _model(self) -> Engine:
        """The engine loaded now (a sized engine is replaced when its context grows)."""
        return self._engine.engine

    def __repr__(self) -> str:
        return f"LlamaCppBackend(name={self.name!r}, model={self.spec.model!r})"

    def generate(
        self,
        prompts: Sequence[Prompt],
        params: GenerationParams,
        sample_indices: Sequence[int] | None = None,
    ) -> list[Completion]:
        indices = batch_sample_indices(prompts, sample_indices)
        if prompts and self._model.settings.sized:  # a longer context before, not during
            self._engine.fit(max(map(estimated_tokens, prompts)) + params.max_tokens)
        return fan_out_chains(
            self._generate_one,
            prompts,
            params,
            indices,
            workers=self.concurrency,
            desc=f"{self.name} (llama.cpp)",
            thread_prefix="llamacpp",
        )

    def _generate_one(self, prompt: Prompt, params: GenerationParams, index: int) -> Completion:
        body = request_body(prompt, params, index, self._model.settings.prompt_cache)
        body["id_slot"] = self._slots.slot()
        while True:
            with self._engine.use() as engine:
                response = _send(engine, body)
                n_ctx = engine.settings.n_ctx
                needed = _context_needed(response, params.max_tokens, n_ctx)
                if needed is None or not self._engine.can_grow(needed):
                    # fits, or cannot (an explicit n_ctx, past the model's context): the
                    # one-line error of a prompt too long
                    response = self._finish(engine, body, response)
                    break
            self._engine.fit(needed)  # a longer context, then the request again
        error = _error(response, n_ctx)
        if error is not None:
            raise error
        usage = response.get("usage") or {}
        timings = response.get("timings") or {}
        return Completion(
            text=_reply_text(response),
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            cached_prompt_tokens=int(timings.get("cache_n", 0)),
        )

    def _finish(self, engine: Engine, body: dict, response: Any) -> Any:
        """Count a reply and rewind its slot (on the engine that served it)."""
        if _error(response, engine.settings.n_ctx) is not None:
            return response
        usage = response.get("usage") or {}
        with self._stats_lock:
            self.stats.add(usage, response.get("timings") or {})
        if engine.settings.prompt_cache and int(usage.get("completion_tokens", 0)) > 1:
            self._rewind(engine, body)
        return response

    def _rewind(self, engine: Engine, body: dict) -> None:
        """Leave the slot holding only the prompt, computed in one prefill: the same prompt again,
        one greedy token, every prompt token but the last served from the cache.

        The slot otherwise keeps the reply's tokens as they were computed while decoding, one
        at a time, and a later prompt that repeats the reply (a second round continuing its
        first) reuses them. Their values are not bit-identical to the same tokens computed in a
        prefill, and greedy replies then changed (measured: 3 of 8 second rounds on navigate,
        SmolLM2-135M). After the rewind, a cache hit reuses only prompt tokens, and the reply is
        computed again in the next prompt's prefill: replies are the same with and without the
        cache. The rewind costs one decoded token; it is not counted in the usage."""
        rewind = {**body, "max_tokens": 1, "temperature": 0.0, "top_k": 0}
        response = _send(engine, rewind)
        error = _error(response, engine.settings.n_ctx)
        if error is not None:
            raise error

    def close(self) -> None:
        """Give the engine back: the next backend of this GGUF file in the process takes it
        (``load_engine``) instead of loading the model again."""
        engine, self._engine = self._engine, None
        if engine is not None:
            release_engine(engine)
