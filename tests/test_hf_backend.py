"""The transformers (hf) backend and the SmolLM2 GGUF -> HF conversion, on the real small model."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from gpo.errors import BackendError
from gpo.llm.base import ChatMessage, GenerationParams, user_message
from gpo.llm.convert import MARKER, is_prepared, prepare_hf_model

try:  # the contract shared by every backend (tests/backend_contract.py)
    import backend_contract

    CONTRACT_CHECKS = sorted(
        (name, fn) for name, fn in vars(backend_contract).items() if name.startswith("check_")
    )
except ImportError:  # pragma: no cover - only before the contract module exists
    CONTRACT_CHECKS = []


def test_prepare_reuses_complete_folder_without_converting(tmp_path: Path) -> None:
    out = tmp_path / "model"
    out.mkdir()
    (out / "config.json").write_text("{}")
    (out / MARKER).write_text(json.dumps({"dtype": "float32"}))
    # The GGUF path does not exist: a reused folder must not even look at it.
    assert prepare_hf_model(tmp_path / "missing.gguf", out) == out.resolve()


def test_prepare_rejects_missing_gguf_and_bad_dtype(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="GGUF file not found"):
        prepare_hf_model(tmp_path / "missing.gguf", tmp_path / "out")
    with pytest.raises(BackendError, match="unsupported dtype"):
        prepare_hf_model(tmp_path / "missing.gguf", tmp_path / "out", dtype="int4")
    assert not (tmp_path / "out").exists()


def test_cli_prints_the_prepared_folder(tmp_path: Path, capsys) -> None:
    from gpo.llm.convert import main

    out = tmp_path / "model"
    out.mkdir()
    (out / "config.json").write_text("{}")
    (out / MARKER).write_text("{}")
    assert main(["--out", str(out), "--gguf", str(tmp_path / "unused.gguf")]) == 0
    assert capsys.readouterr().out.strip() == str(out.resolve())
    assert main(["--out", str(tmp_path / "new"), "--gguf", str(tmp_path / "no.gguf")]) == 2


@pytest.mark.real
def test_gguf_chat_template_is_readable() -> None:
    pytest.importorskip("gguf", reason="pip install gguf")
    from gpo.llm.convert import read_gguf_chat_template
    from gpo.llm.smollm2 import smollm2_gguf_path

    template = read_gguf_chat_template(smollm2_gguf_path())
    assert template and "<|im_start|>" in template and "add_generation_prompt" in template


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    pytest.importorskip("transformers", reason="pip install transformers gguf accelerate")
    from gpo.llm.convert import ensure_smollm2_hf

    return ensure_smollm2_hf()


@pytest.fixture(scope="session")
def hf_llm(smollm2_dir: Path):
    from gpo.llm.aliases import ModelSpec
    from gpo.llm.hf import HFBackend
    from gpo.llm.options import BackendOptions

    spec = ModelSpec("smollm2-135m-hf", "hf", str(smollm2_dir), None, True)
    llm = HFBackend(spec, BackendOptions(gpus=(), n_ctx=2048, n_threads=2))
    yield llm
    llm.close()


@pytest.mark.real
def test_converted_folder_is_a_chat_model(smollm2_dir: Path) -> None:
    from transformers import AutoConfig, AutoTokenizer

    assert is_prepared(smollm2_dir)
    assert list(smollm2_dir.glob("*.safetensors"))
    assert AutoConfig.from_pretrained(smollm2_dir).model_type == "llama"
    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    assert "<|im_start|>user\nHi<|im_end|>" in text
    assert text.rstrip().endswith("<|im_start|>assistant")
    start = time.perf_counter()
    assert prepare_hf_model("unused.gguf", smollm2_dir) == smollm2_dir  # idempotent reuse
    assert time.perf_counter() - start < 1.0


@pytest.mark.real
@pytest.mark.parametrize("name,check", CONTRACT_CHECKS, ids=[n for n, _ in CONTRACT_CHECKS])
def test_backend_contract(hf_llm, name, check) -> None:
    check(hf_llm)


@pytest.mark.real
def test_identity_and_chat_detection(hf_llm) -> None:
    assert hf_llm.backend == "hf"
    assert hf_llm.name == "smollm2-135m-hf"
    assert hf_llm.is_chat is True  # decided from the tokenizer's chat template


@pytest.mark.real
def test_greedy_batch_matches_single_calls_and_counts_tokens(hf_llm) -> None:
    # chat and raw prompts of different lengths: left padding must not change any answer
    prompts = [user_message("What is 2 + 2?"), "The capital of France is", user_message("Hi")]
    params = GenerationParams(temperature=0.0, max_tokens=8)
    batch = hf_llm.generate(prompts, params)
    assert len(batch) == 3
    for prompt, completion in zip(prompts, batch):
        alone = hf_llm.generate([prompt], params)[0]
        assert alone.text == completion.text
        assert 0 < completion.completion_tokens <= 8
        assert completion.prompt_tokens > 0
    assert batch[0].prompt_tokens > 5  # the template tokens are counted too


@pytest.mark.real
def test_chat_prompt_is_templated_once(hf_llm) -> None:
    from gpo.llm.hf import encode_prompt

    tokenizer = hf_llm._tokenizer
    conversation = (ChatMessage("user", "Hello"), ChatMessage("assistant", "Hi"))
    conversation += (ChatMessage("user", "Bye"),)
    ids = encode_prompt(tokenizer, conversation, use_chat_template=True)
    text = tokenizer.decode(ids)
    assert text.count("<|im_start|>user") == 2
    assert text.count("<|im_start|>assistant") == 2
    if tokenizer.bos_token_id is not None:
        assert ids[:2].count(tokenizer.bos_token_id) <= 1


@pytest.mark.real
def test_prompt_longer_than_context_is_a_backend_error(hf_llm) -> None:
    with pytest.raises(BackendError, match="n_ctx"):
        hf_llm.generate(["word " * 3000], GenerationParams(max_tokens=4))
