"""The composition root: names from the config become objects (benchmarks, LLMs, cache, ledger).

How each object is made comes from the pool's ``Runtime`` (``gpo.runs.runtime``); ``load_run`` is
the one wiring of an optimization run, for the single-process command and every Ray worker.

Everything that can be checked without loading a model is checked once before, by
``gpo.runs.preflight.validate_run``, so bad input fails in one line before any weights load or any
folder is made.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpo.config import ModelConfig, RunConfig
from gpo.data.base import TaskData
from gpo.data.registry import Benchmark, get_benchmark
from gpo.errors import ConfigError
from gpo.evaluation.scorer import Scorer
from gpo.llm.accounting import Ledger
from gpo.llm.aliases import ModelSpec, resolve_model
from gpo.llm.base import LLM
from gpo.llm.cache import PartLock, ResponseCache, WorkerCache
from gpo.llm.options import BackendOptions
from gpo.llm.user import USER_BACKEND
from gpo.optimization.components import needs_embedder
from gpo.runs.common import make_scorer
from gpo.runs.request import RunRequest
from gpo.runs.runtime import DEFAULT_RUNTIME, Runtime

if TYPE_CHECKING:
    from gpo.llm.embedder import Embedder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Models:
    scorer: LLM
    optimizer: LLM | None
    scorer_spec: ModelSpec
    optimizer_spec: ModelSpec | None


def load_tasks(config: RunConfig, benchmark: Benchmark, tasks: list[str]) -> dict[str, TaskData]:
    """Read every selected task's splits (fails on missing or malformed data)."""
    from gpo.data.download import ensure_dataset
    from gpo.runs.custom_task import check_custom_task

    data_dir = Path(config.data_dir)
    if getattr(benchmark, "downloadable", True):  # custom task folders are the user's own
        ensure_dataset(benchmark, data_dir)
    data = {t: benchmark.load(t, data_dir, config.max_examples) for t in tasks}
    for task_data in data.values():
        check_custom_task(config, task_data)
    return data


def resolve_specs(config: RunConfig, req: RunRequest, need_optimizer: bool):
    """The scorer's (and optimizer's) ModelSpec: a name through the alias table, a model object
    given from Python (``req.models``) as a ``python`` spec."""
    scorer = _spec(config.scorer, "scorer", req)
    optimizer = _spec(config.optimizer, "optimizer", req) if need_optimizer else None
    return scorer, optimizer


def _spec(model: ModelConfig, role: str, req: RunRequest) -> ModelSpec:
    if model.backend != USER_BACKEND:
        return resolve_model(model.name, model.backend, req.openai_base_url)
    given = req.models.get(role)
    if given is None:
        raise ConfigError(
            f"this run's {role} was a Python model named {model.name!r}; resume it from Python: "
            f"gpo.optimize(None, resume=<run folder>, {role}=<that model>)"
        )
    if given.name != model.name:
        raise ConfigError(
            f"{role}={given.name!r}: this run's {role} was the model named {model.name!r}; "
            "pass that model (the same name) to resume it"
        )
    # second_round on: a custom task's task.json (second_round) decides, as for local chat models
    return ModelSpec(given.name, USER_BACKEND, given.name, given.is_chat, True, "the client's own")


def backend_options(config: RunConfig, req: RunRequest) -> BackendOptions:
    """The backends' options; without --n_threads, BackendOptions' own default (half the cores)."""
    threads = {"n_threads": req.n_threads} if req.n_threads else {}
    return BackendOptions(
        **threads,
        n_parallel=req.n_parallel,
        n_ctx=req.n_ctx,
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
    path = root / CACHE_PARTS / f"{name}.sqlite"
    lock = PartLock(path)  # before the part exists: no driver merges it while this worker writes
    part: ResponseCache | None = None
    try:
        part = ResponseCache(path, journal_mode="DELETE")
        shared = root / CACHE_FILE
        read = ResponseCache(shared, read_only=True) if shared.is_file() else None
    except BaseException:
        if part is not None:
            part.close()
        lock.release()
        raise
    return WorkerCache(part, read, lock)


class ModelPool:
    """Loaded backends and embedders reused by the runs of one process (an experiment's cells).

    One backend per model spec is kept; a request with other options (another seed) closes the
    old one first, so at most one engine per model is in memory. Backends and embedders are
    made by ``runtime``, which the runs that use the pool share.
    """

    def __init__(self, runtime: Runtime = DEFAULT_RUNTIME) -> None:
        self.runtime = runtime
        self._llms: dict[ModelSpec, tuple[BackendOptions, LLM]] = {}
        self._embedders: dict[str, Embedder] = {}
        self._caches: dict[str, ResponseCache | WorkerCache | None] = {}

    def llm(self, spec: ModelSpec, options: BackendOptions) -> LLM:
        held = self._llms.get(spec)
        if held is not None and held[0] == options:
            return held[1]
        if held is not None:
            held[1].close()
        llm = self.runtime.load_llm(spec, options)
        self._llms[spec] = (options, llm)
        return llm

    def embedder(self, name: str) -> Embedder:
        if name not in self._embedders:
            self._embedders[name] = self.runtime.load_embedder(name)
        return self._embedders[name]

    def cache(self, config: RunConfig) -> ResponseCache | WorkerCache | None:
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
            if cache is not None:
                cache.close()
        self._caches.clear()


class ModelLender:
    """Loaded backends and embedders kept between the calls of one process (the Python API),
    lent to one call at a time.

    A call borrows what matches its model and settings (the runtime, the model spec and the
    backend options; an embedder by name) or loads it; when the call ends it gives it back, and
    the next call with the same model and settings skips the load. A model is never used by two
    calls at once: a call that finds it lent loads its own, so calls in parallel threads run
    side by side and give what they give one after another. At most ``max_idle`` idle objects
    are kept (the oldest closed first); ``release`` closes them all (``gpo.release_models``).
    """

    def __init__(self, max_idle: int = 2) -> None:
        self.max_idle = max_idle
        self._idle: list[tuple[object, Any]] = []  # (key, object), oldest first
        self._lock = threading.Lock()

    def borrow(self, key: object, make: Callable[[], Any]) -> Any:
        """An idle object of ``key``, else a new one from ``make`` (loaded outside the lock)."""
        with self._lock:
            for i, (held_key, obj) in enumerate(self._idle):
                if held_key == key:
                    del self._idle[i]
                    return obj
        return make()

    def give_back(self, key: object, obj: Any) -> None:
        """``obj`` is idle again; beyond ``max_idle`` idle objects the oldest is closed."""
        with self._lock:
            self._idle.append((key, obj))
            evicted = self._idle[: max(0, len(self._idle) - self.max_idle)]
            del self._idle[: len(evicted)]
        for _, old in evicted:
            _close(old)

    def release(self) -> int:
        """Close every idle object; returns how many."""
        with self._lock:
            idle, self._idle = self._idle, []
        for _, obj in idle:
            _close(obj)
        return len(idle)


def _close(obj: Any) -> None:
    close = getattr(obj, "close", None)
    if callable(close):
        close()


LENDER = ModelLender()  # the Python API's calls of this process share it


class SharedModelPool(ModelPool):
    """One API call's pool: its models borrowed from ``lender`` and given back by ``close``
    (the response cache is the call's own and closed)."""

    def __init__(self, runtime: Runtime = DEFAULT_RUNTIME, lender: ModelLender = LENDER) -> None:
        super().__init__(runtime)
        self.lender = lender
        self._borrowed: list[tuple[object, Any]] = []

    def llm(self, spec: ModelSpec, options: BackendOptions) -> LLM:
        held = self._llms.get(spec)
        if held is not None and held[0] == options:
            return held[1]
        if held is not None:  # another seed of the same model: at most one engine per model
            self._give_back(held[1])
        key = ("llm", self.runtime, spec, options)
        llm = self.lender.borrow(key, lambda: self.runtime.load_llm(spec, options))
        self._borrowed.append((key, llm))
        self._llms[spec] = (options, llm)
        return llm

    def _give_back(self, obj: Any) -> None:
        for i, (key, held) in enumerate(self._borrowed):
            if held is obj:
                del self._borrowed[i]
                self.lender.give_back(key, obj)
                return

    def embedder(self, name: str) -> Embedder:
        if name not in self._embedders:
            key = ("embedder", self.runtime, name)
            embedder = self.lender.borrow(key, lambda: self.runtime.load_embedder(name))
            self._borrowed.append((key, embedder))
            self._embedders[name] = embedder
        return self._embedders[name]

    def close(self) -> None:
        borrowed, self._borrowed = self._borrowed, []
        self._llms.clear()
        self._embedders.clear()
        super().close()
        for key, obj in borrowed:
            self.lender.give_back(key, obj)


class WorkerModelPool(ModelPool):
    """A Ray worker's pool: loaded models as usual, responses cached in this worker's own part
    (``open_worker_cache``) over the shared cache read-only."""

    def cache(self, config: RunConfig) -> ResponseCache | WorkerCache | None:
        if config.cache_dir is None:
            return None
        if config.cache_dir not in self._caches:
            name = f"{socket.gethostname()}-{os.getpid()}"
            self._caches[config.cache_dir] = open_worker_cache(config, name)
        return self._caches[config.cache_dir]


def build_models(
    config: RunConfig,
    req: RunRequest,
    specs: tuple[ModelSpec, ModelSpec | None],
    ledger: Ledger,
    pool: ModelPool,
) -> Models:
    """Load the scorer (and optimizer) through ``pool`` (which reuses loaded backends and the
    open cache across runs); one engine is shared when both roles use the same model. A model
    object given from Python is used as it is, cached only under the name its user gave."""
    scorer_spec, optimizer_spec = specs
    if "vllm" in (scorer_spec.backend, getattr(optimizer_spec, "backend", None)):
        # the original's --gpus -> CUDA_VISIBLE_DEVICES, set here at the edge (an explicit
        # environment setting wins)
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", ",".join(config.gpus))
    loader = _RoleLoader(config, req, pool, ledger)
    scorer_inner = loader.backend("scorer", scorer_spec)
    optimizer = None
    if optimizer_spec is not None:
        shared = optimizer_spec == scorer_spec and scorer_spec.backend != USER_BACKEND
        optimizer_inner = scorer_inner if shared else loader.backend("optimizer", optimizer_spec)
        optimizer = loader.wrap(optimizer_inner, "optimizer")
    scorer = loader.wrap(scorer_inner, "scorer")
    return Models(scorer, optimizer, scorer_spec, optimizer_spec)


class _RoleLoader:
    """Each role's backend (loaded by the pool, or the user's object) and its wrapping."""

    def __init__(self, config: RunConfig, req: RunRequest, pool: ModelPool, ledger: Ledger):
        self.req, self.pool, self.ledger = req, pool, ledger
        self.options, self.cache = backend_options(config, req), pool.cache(config)

    def backend(self, role: str, spec: ModelSpec) -> LLM:
        if spec.backend == USER_BACKEND:
            llm: LLM = self.req.models[role]
            log.info("%s: the Python model %s", role, spec.alias)
        else:
            log.info("loading %s %s (%s backend)", role, spec.alias, spec.backend)
            llm = self.pool.llm(spec, self.options)
        self.pool.runtime.check_llm(llm, role)
        return llm

    def wrap(self, llm: LLM, role: str) -> LLM:
        cache = self.cache
        if (
            cache is not None
            and llm.backend == USER_BACKEND
            and not getattr(llm, "cache_name", None)
        ):
            log.info(
                "%s: the Python model has no name, so its replies are not cached; give it one "
                "(gpo.CallableLLM(fn, name=...) or a name attribute) to cache them",
                role,
            )
            cache = None
        return self.pool.runtime.wrap_llm(llm, role, self.ledger, cache)


def scorer_for(models: Models, benchmark: Benchmark, config: RunConfig, pool: ModelPool) -> Scorer:
    """The Scorer of ``benchmark`` on the loaded scorer model (rounds sent the runtime's way)."""
    return make_scorer(
        models.scorer, models.scorer_spec, benchmark, config, pool.runtime.scorer_replies
    )


@dataclass(frozen=True)
class LoadedRun:
    """What an optimization runs on: its ledger, models, scorer and (relevance momentum's)
    embedder; the same wiring for the single-process command and each Ray worker."""

    ledger: Ledger
    models: Models
    scorer: Scorer
    embedder: Embedder | None


def load_run(
    config: RunConfig,
    req: RunRequest,
    specs: tuple[ModelSpec, ModelSpec | None],
    benchmark: Benchmark,
    pool: ModelPool,
) -> LoadedRun:
    """Load everything an optimization run needs through ``pool`` and its runtime."""
    embedder = pool.embedder(config.opt.embedding_model) if needs_embedder(config.opt) else None
    ledger = pool.runtime.make_ledger()
    models = build_models(config, req, specs, ledger, pool)
    return LoadedRun(ledger, models, scorer_for(models, benchmark, config, pool), embedder)


def model_label(model: ModelConfig) -> str:
    return model.name


__all__ = [
    "LoadedRun",
    "ModelPool",
    "Models",
    "WorkerModelPool",
    "build_models",
    "get_benchmark",
    "load_run",
    "load_tasks",
    "resolve_specs",
]
