"""How a command makes the things it runs on: the seams a benchmark or a test swaps in.

A ``Runtime`` says how to load an LLM backend, check it at start, wrap it for the loop (metering
and the response cache), load a sentence embedder, make the usage ledger, and send one round of
scorer prompts. The commands (``run_optimize``, ``run_evaluate``, the experiment grid, the Ray
workers) take a Runtime instead of reaching for module-level functions, so instrumentation never
has to replace private names. ``DEFAULT_RUNTIME`` is production; a Runtime is frozen and, with
module-level functions in its fields, picklable for Ray workers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gpo.evaluation.scorer import Replies, generate_unique
from gpo.llm.accounting import Ledger, wrap_llm
from gpo.llm.aliases import ModelSpec
from gpo.llm.base import LLM, GenerationParams, user_message
from gpo.llm.cache import ResponseCache, WorkerCache
from gpo.llm.factory import build_llm
from gpo.llm.options import BackendOptions

if TYPE_CHECKING:
    from gpo.llm.embedder import Embedder

log = logging.getLogger(__name__)

LoadLLM = Callable[[ModelSpec, BackendOptions], LLM]
CheckLLM = Callable[[LLM, str], None]  # (backend, role) -> None; raises when it cannot answer
WrapLLM = Callable[[LLM, str, Ledger, "ResponseCache | WorkerCache | None"], LLM]
LoadEmbedder = Callable[[str], "Embedder"]


def smoke_test(llm: LLM, role: str) -> None:
    """One tiny greedy request, as the original's start-up check (5.1): a dead server or a bad
    key fails here, before any run folder exists."""
    prompt = user_message("Reply with OK.") if llm.is_chat else "Reply with OK."
    llm.generate([prompt], GenerationParams(temperature=0.0, max_tokens=1))
    log.info("%s %s is up", role, llm.name)


def load_embedder(name: str) -> Embedder:
    """The sentence embedder for ``--embedding_model`` (sentence-transformers loads lazily)."""
    from gpo.llm.embedder import build_embedder

    return build_embedder(name)


@dataclass(frozen=True)
class Runtime:
    """The factories of one process's run (each field a callable; defaults are production)."""

    load_llm: LoadLLM = build_llm  # a backend for a model spec and backend options
    check_llm: CheckLLM = smoke_test  # the start-up request to each loaded backend
    wrap_llm: WrapLLM = wrap_llm  # backend -> the LLM of a role: CachedLLM(MeteredLLM(...))
    load_embedder: LoadEmbedder = load_embedder  # relevance momentum's sentence embedder
    make_ledger: Callable[[], Ledger] = Ledger  # the usage ledger of one run
    scorer_replies: Replies = generate_unique  # one round of greedy scorer prompts


DEFAULT_RUNTIME = Runtime()
