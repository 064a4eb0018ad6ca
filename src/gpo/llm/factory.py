"""Composition root of the LLM backends: a resolved ModelSpec plus BackendOptions (gpo.llm.options)
gives an LLM.

Serves both roles of the paper's loop, the task model (scorer, GPO_REFERENCE 3.2/3.3) and the
prompt optimizer (6). Backends are imported lazily so that ``import gpo`` needs none of
xllamacpp, openai, vllm or torch.
"""

from __future__ import annotations

from gpo.errors import ConfigError
from gpo.llm.aliases import BACKENDS, ModelSpec
from gpo.llm.base import LLM
from gpo.llm.options import BackendOptions
from gpo.names import did_you_mean


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
    raise ConfigError(
        f"unknown backend {spec.backend!r}{did_you_mean(spec.backend, BACKENDS)}; "
        f"choose one of {', '.join(BACKENDS)}"
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
