"""The settings every LLM backend is built from (``BackendOptions``), beside the LLM interface.

The backends (llama.cpp, OpenAI-compatible HTTP, vLLM, transformers) and their composition root
(``gpo.llm.factory``) all import these options from here, so no backend imports the factory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gpo.errors import ConfigError
from gpo.llm.threads import default_threads

DEFAULT_N_CTX = 4096  # the context of the backends that do not size it (vLLM, transformers)


@dataclass(frozen=True)
class BackendOptions:
    """Settings shared by all backends; each backend reads the fields it needs.

    ``openai_api_keys`` is excluded from the repr so it never reaches logs or error messages.
    """

    # llama.cpp / torch threads: half the cores by default (gpo.llm.threads, measured)
    n_threads: int = field(default_factory=default_threads)
    n_threads_batch: int | None = None  # llama.cpp prompt-processing threads (None: n_threads)
    # Context length. llama.cpp: per slot, None sizes it to the prompts (gpo.llm.llamacpp_engine);
    # vLLM and transformers: None is DEFAULT_N_CTX (Llama-2's 4096).
    n_ctx: int | None = None
    n_parallel: int | None = None  # llama.cpp slots (None: from the cores and n_ctx)
    prompt_cache: bool = True  # llama.cpp reuses cached prompt prefixes (False: benchmarks)
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
            (self.n_ctx is None or self.n_ctx >= 16, "n_ctx must be >= 16"),
            (self.n_parallel is None or self.n_parallel >= 1, "n_parallel must be >= 1"),
            (self.max_concurrency >= 1, "max_concurrency must be >= 1"),
            (self.request_timeout > 0, "request_timeout must be > 0"),
            (self.max_retries >= 0, "max_retries must be >= 0"),
            (0 < self.gpu_memory_utilization <= 1, "gpu_memory_utilization must be in (0, 1]"),
        )
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"invalid backend option: {message}")
