"""Composition root of the LLM backends: a resolved ModelSpec plus BackendOptions gives an LLM.

Serves both roles of the paper's loop, the task model (scorer, GPO_REFERENCE 3.2/3.3) and the
prompt optimizer (6). Backends are imported lazily so that ``import gpo`` needs none of
llama_cpp, openai, vllm or torch.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from gpo.errors import ConfigError
from gpo.llm.aliases import BACKENDS, ModelSpec
from gpo.llm.base import LLM


def _default_threads() -> int:
    from gpo.llm.threads import default_threads

    return default_threads()


@dataclass(frozen=True)
class BackendOptions:
    """Settings shared by all backends; each backend reads the fields it needs.

    ``openai_api_keys`` is excluded from the repr so it never reaches logs or error messages.
    """

    # llama.cpp / torch threads: half the cores by default (gpo.llm.threads, measured)
    n_threads: int = field(default_factory=_default_threads)
    n_threads_batch: int | None = None  # llama.cpp prompt-processing threads (None: n_threads)
    n_ctx: int = 4096  # llama.cpp context length (Llama-2's 4096)
    gpus: tuple[str, ...] = ("0",)  # vLLM devices; len() is the tensor-parallel size
    openai_base_url: str | None = None  # None means OpenAI itself
    openai_api_keys: tuple[str, ...] = field(default=(), repr=False)
    max_concurrency: int = 8  # concurrent HTTP requests (per replica of a replica pool)
    request_timeout: float = 120.0  # seconds per HTTP request
    max_retries: int = 6  # retries of one HTTP request on rate limits / 5xx / network errors
    seed: int = 0  # model-level seed (llama.cpp, vLLM); per-request seeds come from params
    dtype: str = "auto"  # vLLM / transformers weights dtype
    gpu_memory_utilization: float = 0.9  # vLLM

    def __post_init__(self) -> None:
        checks = (
            (self.n_threads >= 1, "n_threads must be >= 1"),
            (self.n_threads_batch is None or self.n_threads_batch >= 1, "n_threads_batch >= 1"),
            (self.n_ctx >= 16, "n_ctx must be >= 16"),
            (self.max_concurrency >= 1, "max_concurrency must be >= 1"),
            (self.request_timeout > 0, "request_timeout must be > 0"),
            (self.max_retries >= 0, "max_retries must be >= 0"),
            (0 < self.gpu_memory_utilization <= 1, "gpu_memory_utilization must be in (0, 1]"),
        )
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"invalid backend option: {message}")


def build_llm(spec: ModelSpec, options: BackendOptions) -> LLM:
    """Build the backend named by ``spec.backend`` (imported only when used)."""
    if spec.backend == "llamacpp":
        from gpo.llm.llamacpp import LlamaCppBackend

        return LlamaCppBackend(spec, options)
    if spec.backend == "openai":
        if options.openai_base_url and "," in options.openai_base_url:
            return build_replica_pool(spec, options)
        from gpo.llm.openai_backend import OpenAIBackend

        return OpenAIBackend(spec, options)
    if spec.backend == "vllm":
        from gpo.llm.vllm_backend import VLLMBackend

        return VLLMBackend(spec, options)
    if spec.backend == "hf":
        from gpo.llm.hf import HFBackend

        return HFBackend(spec, options)
    close = difflib.get_close_matches(spec.backend, BACKENDS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError(
        f"unknown backend {spec.backend!r}{hint}; choose one of {', '.join(BACKENDS)}"
    )


def build_replica_pool(spec: ModelSpec, options: BackendOptions) -> LLM:
    """A comma-separated ``--openai_base_url``: one OpenAIBackend per replica behind a pool.

    Each replica retries a failed request once (``REPLICA_RETRIES``); the pool's own retry is
    another replica, up to ``max_retries + 1`` attempts per request.
    """
    import dataclasses

    from gpo.llm.openai_backend import OpenAIBackend
    from gpo.llm.replica_pool import REPLICA_RETRIES, ReplicaPool, split_base_urls

    urls = split_base_urls(options.openai_base_url)
    if len(set(urls)) != len(urls):
        raise ConfigError("--openai_base_url lists a replica twice; give each server once")
    retries = min(options.max_retries, REPLICA_RETRIES)
    replicas = [
        OpenAIBackend(spec, dataclasses.replace(options, openai_base_url=u, max_retries=retries))
        for u in urls
    ]
    pool = ReplicaPool(replicas, options.max_concurrency, attempts=options.max_retries + 1)
    pool.check_same_model()
    return pool
