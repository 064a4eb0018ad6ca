"""The composition root: names from the config become objects (benchmarks, LLMs, cache, ledger).

Everything that can be checked without loading a model is checked in ``validate`` first, so bad
input fails in one line before any weights load or any folder is made.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gpo.cli.flags import CliRequest
from gpo.config import ModelConfig, RunConfig
from gpo.data.base import TaskData
from gpo.data.registry import Benchmark, get_benchmark
from gpo.llm.accounting import Ledger, wrap_llm
from gpo.llm.aliases import ModelSpec, resolve_model
from gpo.llm.base import LLM, GenerationParams, user_message
from gpo.llm.cache import ResponseCache, WorkerCache
from gpo.llm.factory import BackendOptions, build_llm
from gpo.llm.threads import default_threads

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Models:
    scorer: LLM
    optimizer: LLM | None
    scorer_spec: ModelSpec
    optimizer_spec: ModelSpec | None


def load_tasks(config: RunConfig, benchmark: Benchmark, tasks: list[str]) -> dict[str, TaskData]:
    """Read every selected task's splits (fails on missing or malformed data)."""
    from gpo.cli.custom_task import check_custom_task
    from gpo.data.download import ensure_dataset

    data_dir = Path(config.data_dir)
    if getattr(benchmark, "downloadable", True):  # custom task folders are the user's own
        ensure_dataset(benchmark, data_dir)
    data = {t: benchmark.load(t, data_dir, config.max_examples) for t in tasks}
    for task_data in data.values():
        check_custom_task(config, task_data)
    return data


def resolve_specs(config: RunConfig, req: CliRequest, need_optimizer: bool):
    scorer = resolve_model(config.scorer.name, config.scorer.backend, req.openai_base_url)
    optimizer = None
    if need_optimizer:
        optimizer = resolve_model(
            config.optimizer.name, config.optimizer.backend, req.openai_base_url
        )
    return scorer, optimizer


def backend_options(config: RunConfig, req: CliRequest) -> BackendOptions:
    return BackendOptions(
        n_threads=req.n_threads or default_threads(),
        max_retries=req.max_retries,
        max_concurrency=req.max_concurrency,
        gpus=config.gpus,
        openai_base_url=req.openai_base_url,
        openai_api_keys=req.secrets.api_keys,
        seed=config.seed,
    )


CACHE_FILE = "responses.sqlite"
CACHE_PARTS = "parts"  # one SQLite file per Ray worker, merged into CACHE_FILE by the driver


def open_cache(config: RunConfig) -> ResponseCache | None:
    if config.cache_dir is None:
        return None
    path = Path(config.cache_dir) / CACHE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    return ResponseCache(path)


def open_worker_cache(config: RunConfig, name: str) -> WorkerCache | None:
    """A Ray worker's cache: its own part file, over the shared file read-only."""
    if config.cache_dir is None:
        return None
    root = Path(config.cache_dir)
    part = ResponseCache(root / CACHE_PARTS / f"{name}.sqlite", journal_mode="DELETE")
    shared = root / CACHE_FILE
    return WorkerCache(part, ResponseCache(shared, read_only=True) if shared.is_file() else None)


def smoke_test(llm: LLM, role: str) -> None:
    """One tiny greedy request, as the original's start-up check (5.1): a dead server or a bad
    key fails here, before any run folder exists."""
    prompt = user_message("Reply with OK.") if llm.is_chat else "Reply with OK."
    llm.generate([prompt], GenerationParams(temperature=0.0, max_tokens=1))
    log.info("%s %s is up", role, llm.name)


LoadLLM = Callable[[ModelSpec, BackendOptions], LLM]


class ModelPool:
    """Loaded backends and embedders reused by the runs of one process (an experiment's cells).

    One backend per model spec is kept; a request with other options (another seed) closes the
    old one first, so at most one engine per model is in memory.
    """

    def __init__(self, load: LoadLLM = build_llm) -> None:
        self._load = load
        self._llms: dict[ModelSpec, tuple[BackendOptions, LLM]] = {}
        self._embedders: dict[str, object] = {}
        self._caches: dict[str, ResponseCache] = {}

    def llm(self, spec: ModelSpec, options: BackendOptions) -> LLM:
        held = self._llms.get(spec)
        if held is not None and held[0] == options:
            return held[1]
        if held is not None:
            held[1].close()
        llm = self._load(spec, options)
        self._llms[spec] = (options, llm)
        return llm

    def embedder(self, name: str):
        if name not in self._embedders:
            from gpo.llm.embedder import build_embedder

            self._embedders[name] = build_embedder(name)
        return self._embedders[name]

    def cache(self, config: RunConfig) -> ResponseCache | None:
        """The response cache of ``config`` (one open SQLite file per folder)."""
        if config.cache_dir is None:
            return None
        if config.cache_dir not in self._caches:
            self._caches[config.cache_dir] = open_cache(config)
        return self._caches[config.cache_dir]

    def close(self) -> None:
        for _, llm in self._llms.values():
            llm.close()
        self._llms.clear()
        for cache in self._caches.values():
            cache.close()
        self._caches.clear()


def build_models(
    config: RunConfig,
    req: CliRequest,
    specs: tuple[ModelSpec, ModelSpec | None],
    ledger: Ledger,
    pool: ModelPool | None = None,
    cache: ResponseCache | WorkerCache | None | str = "config",
) -> Models:
    """Load the scorer (and optimizer); one engine is shared when both roles use the same model.

    A ``pool`` reuses loaded backends and the open cache across runs (an experiment's cells);
    ``cache="config"`` opens the cache of ``config.cache_dir``, a Ray worker passes its own."""
    options = backend_options(config, req)
    load = pool.llm if pool is not None else build_llm
    if cache == "config":
        cache = pool.cache(config) if pool is not None else open_cache(config)
    scorer_spec, optimizer_spec = specs
    if "vllm" in (scorer_spec.backend, getattr(optimizer_spec, "backend", None)):
        # the original's --gpus -> CUDA_VISIBLE_DEVICES, set here at the edge (an explicit
        # environment setting wins)
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", ",".join(config.gpus))
    log.info("loading scorer %s (%s backend)", scorer_spec.alias, scorer_spec.backend)
    scorer_inner = load(scorer_spec, options)
    smoke_test(scorer_inner, "scorer")
    optimizer = None
    if optimizer_spec is not None:
        if optimizer_spec == scorer_spec:
            optimizer_inner = scorer_inner
        else:
            log.info(
                "loading optimizer %s (%s backend)", optimizer_spec.alias, optimizer_spec.backend
            )
            optimizer_inner = load(optimizer_spec, options)
            smoke_test(optimizer_inner, "optimizer")
        optimizer = wrap_llm(optimizer_inner, "optimizer", ledger, cache)
    scorer = wrap_llm(scorer_inner, "scorer", ledger, cache)
    return Models(scorer, optimizer, scorer_spec, optimizer_spec)


def model_label(model: ModelConfig) -> str:
    return model.name


__all__ = ["ModelPool", "Models", "build_models", "get_benchmark", "load_tasks", "resolve_specs"]
