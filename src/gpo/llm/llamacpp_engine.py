"""The embedded llama.cpp engine: one xllamacpp server per GGUF and settings, per process.

xllamacpp wraps llama.cpp's own C++ server in-process: it is thread-safe, serves ``n_parallel``
slots with continuous batching, and keeps a prompt cache (the KV of each slot's last prompt and,
in host memory, the states of earlier ones), so a request whose prompt starts like an earlier one
prefills only the rest (``timings.cache_n`` in its reply). Loading is cached per process and
settings, so the scorer and the optimizer on one file share one server.

The default slot count comes from the cores and the context (``default_parallel``): on a CPU,
decoding several sequences together costs little more than one, and every slot has its own KV
cache of ``n_ctx`` tokens, so memory grows with slots x ``n_ctx``.

Memory is sized to the work (``SizedEngine``): without an explicit ``n_ctx``, each slot's context
starts at ``MIN_SIZED_CTX`` tokens and grows (the engine is loaded again, between requests) to
the longest prompt plus its max tokens the run sends, rounded up to ``CTX_STEP``, up to the
model's trained context. The host prompt cache holds two slots' contexts of KV
(``host_cache_mib``), not a fixed 1 GiB. An explicit ``n_ctx`` is loaded as given and never grows.

SmolLM2's replies do not depend on the slot count or on the cache (measured, and tested for real):
each slot keeps its own KV cache (not one unified cache, where a sequence's place in the cache
changed the attention's rounding) and flash attention is off (its tiled reduction did the same).
The Qwen2.5-Coder GGUFs are not quite there: with several slots, which requests llama.cpp decodes
in one batch depends on timing, and a sequence's logits then change in the last bits, so a
greedy reply now and then takes another word (measured on date_iso, 0.5B, 3 prompts x 32
records: 2-4 of 96 replies differed from 1 slot, with the prompt cache on or off, and from run
to run; without weight repacking too). With one slot (``--n_parallel=1``) every request is
decoded alone, so its reply cannot depend on others; that scoring took 1.3x as long.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gpo.errors import BackendError
from gpo.llm.gguf import context_length, kv_bytes_per_token, metadata_keys
from gpo.llm.threads import cpu_count, log_threads

log = logging.getLogger(__name__)

MAX_DEFAULT_PARALLEL = 8  # measured: 8 slots served the quick start's scorer fastest on 2 cores
MAX_DEFAULT_KV_TOKENS = 32768  # slots x n_ctx (about 1.9 GB of f32 KV for a 1.5B model)
SLOT_CTX = 4096  # the n_ctx the default slot count assumes (Llama-2's 4096)
MIN_SIZED_CTX = 512  # a sized engine's first context per slot
CTX_STEP = 512  # sized contexts are a multiple of this
HOST_CACHE_SLOTS = 2  # the host prompt cache holds this many slots' contexts of KV
MIB = 1 << 20


def engine_version() -> str:
    """The engine's name and version, part of every response-cache key of this backend."""
    try:
        import xllamacpp
    except ImportError as exc:
        raise BackendError("the llamacpp backend needs xllamacpp: pip install xllamacpp") from exc
    return f"xllamacpp {getattr(xllamacpp, '__version__', 'unknown')}"


def default_parallel(n_ctx: int, cores: int | None = None) -> int:
    """Slots: 4 per core, at most 8, and at most ``MAX_DEFAULT_KV_TOKENS`` of KV in all."""
    by_cores = 4 * (cores or cpu_count())
    return max(1, min(MAX_DEFAULT_PARALLEL, by_cores, MAX_DEFAULT_KV_TOKENS // n_ctx))


@dataclass(frozen=True)
class EngineSettings:
    """What a loaded server depends on (the key of the per-process cache)."""

    model_path: str
    n_ctx: int
    n_threads: int
    n_threads_batch: int
    n_parallel: int
    prompt_cache: bool = True  # False: no reuse of earlier prompts (the benchmark's baseline)
    sized: bool = False  # True: n_ctx grows to the work (SizedEngine); False: as given


@dataclass(frozen=True)
class Engine:
    """A loaded xllamacpp server and what it was loaded with."""

    server: Any
    settings: EngineSettings
    version: str
    chat_template: bool


def check_gguf(path: Path) -> bool:
    """Fail with one line unless ``path`` is a GGUF file; True when it has a chat template."""
    if not path.is_file():
        raise BackendError(f"GGUF file not found: {path}; check the model path")
    return bool(metadata_keys(path).get("tokenizer.chat_template"))


def common_params(settings: EngineSettings) -> Any:
    """xllamacpp's ``CommonParams`` for the settings."""
    import xllamacpp

    p = xllamacpp.CommonParams()
    p.model.path = settings.model_path
    p.n_ctx = settings.n_ctx * settings.n_parallel  # n_ctx per slot
    p.n_parallel = settings.n_parallel
    p.kv_unified = False  # one KV cache per slot: replies independent of the slot count
    p.cont_batching = True
    p.cpuparams.n_threads = settings.n_threads
    p.cpuparams_batch.n_threads = settings.n_threads_batch
    # No server seed: every request carries its own (``request_body``), so one loaded engine
    # serves every seed of a grid's cells.
    p.cache_prompt = settings.prompt_cache
    p.cache_ram_mib = host_cache_mib(settings) if settings.prompt_cache else 0
    # Flash attention off: its tiled reduction made greedy replies depend on what the cache
    # held (measured); the plain attention gives the same replies with and without the cache.
    p.flash_attn_type = xllamacpp.llama_flash_attn_type.LLAMA_FLASH_ATTN_TYPE_DISABLED
    # An f32 KV cache: with the f16 cache, what other slots were decoding in the same batch
    # changed greedy replies (measured: 1-3 of 24 on navigate with 4 slots, varying from run to
    # run); with f32, 4 slots give 1 slot's replies. It doubles the KV memory. Repacked weights
    # stay on (Qwen2.5-1.5B decodes 12.7 tok/s with them, 8.7 without, on 2 cores).
    p.cache_type_k = xllamacpp.ggml_type.GGML_TYPE_F32
    p.cache_type_v = xllamacpp.ggml_type.GGML_TYPE_F32
    # The weights read into memory, not mapped: the repacked tensors are copies, and with the
    # file mapped its pages stayed resident beside them (measured: both Qwen models loaded took
    # 2,374 MiB mapped, 1,759 read). The same weights and kernels: the same replies (measured).
    p.load_mode = xllamacpp.llama_load_mode.LLAMA_LOAD_MODE_NONE
    p.warmup = False
    p.use_jinja = True  # the GGUF's own chat template
    # llama.cpp's own per-slot log lines flood the terminal; errors still come back in each
    # reply (BackendError). At --verbosity=debug (this logger at DEBUG) they are shown.
    p.verbosity = 1 if log.isEnabledFor(logging.DEBUG) else -1
    return p


def sized_ctx(tokens: int) -> int:
    """The context per slot for ``tokens`` (a prompt plus its max tokens): rounded up to a
    multiple of ``CTX_STEP``, at least ``MIN_SIZED_CTX``."""
    return max(MIN_SIZED_CTX, -(-tokens // CTX_STEP) * CTX_STEP)


def host_cache_mib(settings: EngineSettings) -> int:
    """llama.cpp's host prompt cache (``cache_ram_mib``), the states of the slots' earlier
    prompts: ``HOST_CACHE_SLOTS`` full slot contexts of f32 KV (several prompts' states, each as
    long as its prompt), instead of a fixed 1 GiB."""
    per_token = kv_bytes_per_token(Path(settings.model_path))
    slots = min(HOST_CACHE_SLOTS, settings.n_parallel)
    return max(1, -(-slots * settings.n_ctx * per_token // MIB))


class SizedEngine:
    """The engine of one GGUF file, loaded again with a longer context when a request needs one.

    Requests hold the engine while they run (``use``); ``fit`` waits until none does, then frees
    the engine and loads the new one, so two engines of a file are never in memory at once.
    ``settings.sized`` False: the context is the one given, and ``fit`` only says if it fits.
    """

    def __init__(self, settings: EngineSettings, loaded: Engine | None = None) -> None:
        """Load ``settings`` (or hold ``loaded``, an engine loaded with them)."""
        self.requested = settings
        self.limit = context_length(Path(settings.model_path)) if settings.sized else None
        self._engine: Engine | None = loaded or _load(settings)
        self._users = 0
        self._idle = threading.Condition()

    @property
    def engine(self) -> Engine:
        assert self._engine is not None, "the engine is being loaded"
        return self._engine

    @property
    def settings(self) -> EngineSettings:
        return self.engine.settings

    @contextmanager
    def use(self) -> Iterator[Engine]:
        """The current engine, held (not replaced) until the block ends."""
        with self._idle:
            while self._engine is None:
                self._idle.wait()
            self._users += 1
            engine = self._engine
        try:
            yield engine
        finally:
            with self._idle:
                self._users -= 1
                self._idle.notify_all()

    def can_grow(self, tokens: int) -> bool:
        """Whether ``fit`` may load a longer context for ``tokens``."""
        limit = self.limit
        return self.requested.sized and (limit is None or sized_ctx(tokens) <= limit)

    def fit(self, tokens: int) -> bool:
        """Make every slot hold ``tokens`` (a prompt plus its max tokens); False when it cannot
        (an explicit n_ctx, or more than the model's trained context)."""
        with self._idle:
            while self._engine is None:
                self._idle.wait()
            current = self._engine.settings
            if tokens <= current.n_ctx:
                return True
            if not self.can_grow(tokens):
                return False
            n_ctx = sized_ctx(tokens)
            while self._users:
                self._idle.wait()
            self._engine = None  # the old server is freed before the new one loads
            log.info("a prompt needs %d tokens: the context grows to %d per slot", tokens, n_ctx)
            try:
                self._engine = _load(replace(current, n_ctx=n_ctx))
            except BackendError:
                self._engine = _load(current)
                raise
            finally:
                self._idle.notify_all()
            return True


# The engines no backend holds, one per GGUF file: a backend takes one (``load_engine``) and gives
# it back when it closes (``release_engine``), so a Ray worker running cell after cell (other
# seeds, other settings) reuses the loaded model and holds at most one idle engine, and one KV
# cache, per file (keeping every variant loaded ran a 2-worker grid out of memory), while two
# backends in use at once (two API calls in two threads) never share an engine's slots.
_IDLE: dict[str, SizedEngine] = {}
_IDLE_LOCK = threading.Lock()


def load_engine(settings: EngineSettings) -> SizedEngine:
    """An engine of ``settings`` for one backend: the idle one of its GGUF file when it has
    these settings, else a new one (an idle engine of other settings is freed first)."""
    with _IDLE_LOCK:
        idle = _IDLE.pop(settings.model_path, None)
    if idle is not None and idle.requested == settings:
        return idle
    del idle  # freed before the new one loads
    return SizedEngine(settings)


def release_engine(engine: SizedEngine) -> None:
    """``engine`` is no backend's any more: keep it for the next backend of its file (replacing,
    and so freeing, any other idle engine of that file)."""
    with _IDLE_LOCK:
        _IDLE[engine.requested.model_path] = engine


def _load(settings: EngineSettings) -> Engine:
    path = Path(settings.model_path)
    chat_template = check_gguf(path)
    version = engine_version()
    log.info(
        "loading %s with %s (n_ctx=%d per slot%s, %d slot(s), prompt cache %s; --n_parallel)",
        path,
        version,
        settings.n_ctx,
        ", sized to the prompts" if settings.sized else "",
        settings.n_parallel,
        f"on, {host_cache_mib(settings)} MiB of host memory" if settings.prompt_cache else "off",
    )
    log_threads("llama.cpp", settings.n_threads, settings.n_threads_batch)
    import xllamacpp

    try:
        server = xllamacpp.Server(common_params(settings))
    except (ValueError, RuntimeError) as exc:
        raise BackendError(f"llama.cpp cannot load {path}: {exc}") from exc
    return Engine(server, settings, version, chat_template)


def clear_engine_cache() -> int:
    """Free the idle engines (an engine a backend holds is freed when that backend closes);
    returns how many."""
    with _IDLE_LOCK:
        count = len(_IDLE)
        _IDLE.clear()
    return count
