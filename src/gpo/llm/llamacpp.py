"""The in-process llama.cpp backend: a GGUF model as the task model or optimizer on CPU.

It stands in for the paper's vLLM scorer (GPO_REFERENCE 3.2) and OpenAI optimizer (6) on machines
without a GPU. Chat prompts use the GGUF's own chat template (``create_chat_completion``); raw
strings are completed as they are (3.3). llama.cpp is sequential, so a batch is a loop. The
loaded model is shared per process, so a scorer and an optimizer on the same file load it once.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpo.errors import BackendError
from gpo.llm.aliases import ModelSpec
from gpo.llm.base import Completion, GenerationParams, Prompt, batch_sample_indices
from gpo.llm.fan_out import progress_bar
from gpo.llm.options import BackendOptions
from gpo.llm.threads import log_threads

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _SharedModel:
    """A loaded llama.cpp model and the lock that serialises its use (it is not thread-safe)."""

    llama: Any
    lock: threading.Lock


@functools.lru_cache(maxsize=4)
def _load_model(
    model_path: str, n_ctx: int, n_threads: int, n_threads_batch: int, seed: int
) -> _SharedModel:
    """Load a GGUF once per process and settings (cached: scorer and optimizer share it)."""
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        raise BackendError(
            "the llamacpp backend needs llama-cpp-python: pip install 'llama-cpp-python[server]'"
        ) from exc
    log.info("loading %s with llama.cpp (n_ctx=%d)", model_path, n_ctx)
    log_threads("llama.cpp", n_threads, n_threads_batch)
    try:
        llama = Llama(
            model_path=model_path,
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads_batch,
            seed=seed,
            verbose=False,
        )
    except (ValueError, RuntimeError) as exc:
        raise BackendError(f"llama.cpp cannot load {model_path}: {exc}") from exc
    return _SharedModel(llama, threading.Lock())


def clear_model_cache() -> None:
    """Forget the loaded models (their memory is freed once no backend holds them)."""
    _load_model.cache_clear()


def _sampling_kwargs(params: GenerationParams, sample_index: int) -> dict[str, Any]:
    """Decoding settings: temperature only (like the OpenAI API); 0 means greedy in llama.cpp."""
    return {
        "max_tokens": params.max_tokens,
        "temperature": max(params.temperature, 0.0),
        "top_p": 1.0,
        "top_k": 0,
        "min_p": 0.0,
        "repeat_penalty": 1.0,
        "seed": params.seed + sample_index,
    }


class LlamaCppBackend:
    """An LLM running a GGUF file in this process through llama-cpp-python."""

    backend = "llamacpp"

    def __init__(self, spec: ModelSpec, options: BackendOptions) -> None:
        if not Path(spec.model).is_file():
            raise BackendError(f"GGUF file not found: {spec.model}; check the model path")
        self.name = spec.alias
        self.spec = spec
        self._model = _load_model(
            str(spec.model),
            options.n_ctx,
            options.n_threads,
            options.n_threads_batch or options.n_threads,
            options.seed,
        )
        if spec.is_chat is None:
            metadata = getattr(self._model.llama, "metadata", None) or {}
            self.is_chat = "tokenizer.chat_template" in metadata
        else:
            self.is_chat = spec.is_chat

    def __repr__(self) -> str:
        return f"LlamaCppBackend(name={self.name!r}, model={self.spec.model!r})"

    def generate(
        self,
        prompts: Sequence[Prompt],
        params: GenerationParams,
        sample_indices: Sequence[int] | None = None,
    ) -> list[Completion]:
        indices = batch_sample_indices(prompts, sample_indices)
        out: list[Completion] = []
        bar = progress_bar(len(prompts), f"{self.name} (llama.cpp)")
        with bar:
            for prompt, index in zip(prompts, indices):
                out.append(self._generate_one(prompt, params, index))
                bar.update(1)
        return out

    def _generate_one(self, prompt: Prompt, params: GenerationParams, index: int) -> Completion:
        kwargs = _sampling_kwargs(params, index)
        llama = self._model.llama
        try:
            with self._model.lock:
                if isinstance(prompt, str):
                    response = llama.create_completion(prompt, **kwargs)
                    text = response["choices"][0]["text"]
                else:
                    messages = [{"role": m.role, "content": m.content} for m in prompt]
                    response = llama.create_chat_completion(messages=messages, **kwargs)
                    text = response["choices"][0]["message"].get("content")
        except ValueError as exc:  # e.g. the prompt does not fit in the context window
            raise BackendError(f"llama.cpp generation failed: {exc}; raise n_ctx") from exc
        usage = response.get("usage") or {}
        return Completion(
            text=text or "",
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
        )

    def close(self) -> None:
        """Release this handle; the shared model stays cached for other users in the process."""
        return None
