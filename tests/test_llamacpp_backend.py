"""In-process llama.cpp backend on SmolLM2-135M (GPO_REFERENCE 3.2 on CPU): the backend contract."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backend_contract import (
    check_batch_order,
    check_chat_and_raw,
    check_empty_batch,
    check_greedy_deterministic,
    check_sampling_reproducible_and_distinct,
    check_token_counts,
)
from gpo.errors import BackendError
from gpo.llm.aliases import ModelSpec, resolve_model
from gpo.llm.base import GenerationParams, user_message
from gpo.llm.factory import build_llm
from gpo.llm.llamacpp import LlamaCppBackend
from gpo.llm.options import BackendOptions

OPTIONS = BackendOptions(n_threads=1, n_ctx=1024)  # 1 thread: fastest on shared cores


@pytest.fixture(scope="module")
def llm() -> Iterator[LlamaCppBackend]:
    backend = build_llm(resolve_model("smollm2-135m"), OPTIONS)
    assert isinstance(backend, LlamaCppBackend)
    yield backend
    backend.close()


pytestmark = [pytest.mark.real, pytest.mark.timeout(300)]


def test_identity(llm: LlamaCppBackend) -> None:
    assert (llm.name, llm.backend, llm.is_chat) == ("smollm2-135m", "llamacpp", True)
    assert "smollm2-135m" in repr(llm)


def test_empty_batch(llm: LlamaCppBackend) -> None:
    check_empty_batch(llm)


def test_greedy_deterministic(llm: LlamaCppBackend) -> None:
    check_greedy_deterministic(llm)


def test_batch_order(llm: LlamaCppBackend) -> None:
    check_batch_order(llm)


def test_chat_and_raw(llm: LlamaCppBackend) -> None:
    check_chat_and_raw(llm)


def test_sampling_reproducible_and_distinct(llm: LlamaCppBackend) -> None:
    check_sampling_reproducible_and_distinct(llm)


def test_token_counts(llm: LlamaCppBackend) -> None:
    check_token_counts(llm)


def test_model_is_loaded_once_and_shared(llm: LlamaCppBackend) -> None:
    other = build_llm(resolve_model("smollm2-135m"), OPTIONS)
    assert other._model is llm._model  # scorer and optimizer share one loaded model
    params = GenerationParams(temperature=0.0, max_tokens=8)
    prompt = user_message("Say hello.")
    assert other.generate([prompt], params)[0].text == llm.generate([prompt], params)[0].text


def test_chat_detection_from_the_gguf(llm: LlamaCppBackend) -> None:
    path = llm.spec.model
    detected = LlamaCppBackend(ModelSpec(path, "llamacpp", path, None, True), OPTIONS)
    assert detected.is_chat is True


def test_prompt_longer_than_the_context_is_a_backend_error(llm: LlamaCppBackend) -> None:
    with pytest.raises(BackendError, match="n_ctx"):
        llm.generate(["word " * 3000], GenerationParams(max_tokens=4))


def test_missing_gguf_file_is_a_backend_error(tmp_path) -> None:
    spec = ModelSpec("x", "llamacpp", str(tmp_path / "nope.gguf"), None, True)
    with pytest.raises(BackendError, match="not found"):
        LlamaCppBackend(spec, OPTIONS)
