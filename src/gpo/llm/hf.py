"""Transformers backend: the task model (scorer) of GPO run with plain Hugging Face transformers.

This mirrors the paper's vLLM scorer call (GPO_REFERENCE 3.2) without vLLM: chat prompts are
rendered with the tokenizer's chat template (``add_generation_prompt=True``) into token ids, so a
BOS written by the template is not added twice; raw strings are tokenized as they are. Greedy
calls run batched with left padding; sampled calls run one request at a time with a
``torch.Generator`` seeded ``params.seed + sample_index``, so every sample is reproducible whatever
the batch it arrives in. It loads any HF folder, e.g. the converted SmolLM2 (gpo.llm.convert).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Sequence
from typing import Any

from gpo.errors import BackendError
from gpo.llm.aliases import ModelSpec
from gpo.llm.base import (
    ChatMessage,
    Completion,
    GenerationParams,
    Prompt,
    batch_sample_indices,
)
from gpo.llm.options import DEFAULT_N_CTX, BackendOptions
from gpo.llm.threads import log_threads

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 8


def encode_prompt(tokenizer: Any, prompt: Prompt, use_chat_template: bool) -> list[int]:
    """Token ids of one prompt.

    A chat prompt is rendered with the chat template and encoded without extra special tokens
    (the template writes BOS itself). A raw string is encoded with the tokenizer's defaults, as
    vLLM does for text prompts. A chat prompt sent to a model without chat use is flattened to
    its message contents, one per line.
    """
    if isinstance(prompt, str):
        return list(tokenizer(prompt)["input_ids"])
    if not use_chat_template:
        return list(tokenizer(flatten_chat(prompt))["input_ids"])
    conversation = [{"role": m.role, "content": m.content} for m in prompt]
    text = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def flatten_chat(messages: Sequence[ChatMessage]) -> str:
    """Plain text of a conversation for a model used without a chat template."""
    return "\n".join(m.content for m in messages)


def resolve_is_chat(spec: Any, tokenizer: Any) -> bool:
    """``spec.is_chat`` when set; otherwise whether the tokenizer has a chat template."""
    has_template = bool(getattr(tokenizer, "chat_template", None))
    wanted = getattr(spec, "is_chat", None)
    if wanted is None:
        return has_template
    if wanted and not has_template:
        raise BackendError(
            f"model {getattr(spec, 'model', '?')} has no chat template; "
            "use a chat model or declare the alias with is_chat=False"
        )
    return bool(wanted)


def eos_token_ids(tokenizer: Any, generation_config: Any) -> list[int]:
    """All end-of-sequence ids known to the tokenizer and the model's generation config."""
    ids: list[int] = []
    configured = getattr(generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.append(configured)
    elif configured:
        ids.extend(int(i) for i in configured)
    if tokenizer.eos_token_id is not None:
        ids.append(int(tokenizer.eos_token_id))
    return sorted(set(ids))


def cut_at_eos(tokens: Sequence[int], eos_ids: Sequence[int]) -> list[int]:
    """Generated tokens up to and including the first EOS (later ones are padding)."""
    out: list[int] = []
    for t in tokens:
        out.append(int(t))
        if t in eos_ids:
            break
    return out


class HFBackend:
    """An LLM (gpo.llm.base) backed by transformers ``AutoModelForCausalLM``."""

    backend = "hf"

    def __init__(
        self, spec: ModelSpec, options: BackendOptions, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> None:
        self.name: str = str(spec.alias or spec.model)
        self._batch_size = max(1, int(batch_size))
        self._n_ctx: int | None = options.n_ctx or DEFAULT_N_CTX
        self._torch, self._tokenizer, self._model = _load(spec, options)
        self.is_chat: bool = resolve_is_chat(spec, self._tokenizer)
        self._eos = eos_token_ids(self._tokenizer, self._model.generation_config)
        self._device = next(self._model.parameters()).device
        logger.info("hf backend: %s on %s (chat=%s)", spec.model, self._device, self.is_chat)

    def generate(
        self,
        prompts: Sequence[Prompt],
        params: GenerationParams,
        sample_indices: Sequence[int] | None = None,
    ) -> list[Completion]:
        if self._model is None:
            raise BackendError("the hf backend was closed; build a new one")
        idx = batch_sample_indices(prompts, sample_indices)
        encoded = [encode_prompt(self._tokenizer, p, self.is_chat) for p in prompts]
        limits = [self._max_new_tokens(ids, params.max_tokens) for ids in encoded]
        if params.temperature <= 0:
            outputs = self._greedy(encoded, limits)
        else:
            outputs = [
                self._sample(ids, limit, params.temperature, params.seed + i)
                for ids, limit, i in zip(encoded, limits, idx)
            ]
        return [
            Completion(
                self._tokenizer.decode(out, skip_special_tokens=True),
                prompt_tokens=len(ids),
                completion_tokens=len(out),
            )
            for ids, out in zip(encoded, outputs)
        ]

    def close(self) -> None:
        self._model = None
        gc.collect()

    def _max_new_tokens(self, ids: list[int], wanted: int) -> int:
        if self._n_ctx is None:
            return wanted
        room = self._n_ctx - len(ids)
        if room <= 0:
            raise BackendError(
                f"a prompt of {len(ids)} tokens does not fit the context of {self._n_ctx}; "
                "raise n_ctx or shorten the prompt"
            )
        return min(wanted, room)

    def _greedy(self, encoded: list[list[int]], limits: list[int]) -> list[list[int]]:
        """Batched greedy decoding with left padding; prompts of similar length share a batch."""
        order = sorted(range(len(encoded)), key=lambda i: (len(encoded[i]), limits[i]))
        outputs: list[list[int]] = [[] for _ in encoded]
        for start in range(0, len(order), self._batch_size):
            chunk = order[start : start + self._batch_size]
            batch = self._generate_batch([encoded[i] for i in chunk], max(limits[i] for i in chunk))
            for i, out in zip(chunk, batch):
                outputs[i] = out[: limits[i]]
        return outputs

    def _generate_batch(
        self, batch: list[list[int]], max_new: int, processors: list[Any] | None = None
    ) -> list[list[int]]:
        """One ``model.generate`` over left-padded prompts, in greedy mode.

        Sampling is done by ``processors`` (see SeededSampler), which leave only the sampled
        token possible, so greedy decoding then picks it.
        """
        from transformers import GenerationConfig, LogitsProcessorList

        torch = self._torch
        width = max(len(ids) for ids in batch)
        pad = self._tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in batch])
        mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in batch])
        config = GenerationConfig(
            max_new_tokens=max_new, do_sample=False, pad_token_id=pad, eos_token_id=self._eos
        )
        with torch.inference_mode():
            out = self._model.generate(
                input_ids=input_ids.to(self._device),
                attention_mask=mask.to(self._device),
                generation_config=config,
                logits_processor=LogitsProcessorList(processors or []),
            )
        return [cut_at_eos(row[width:].tolist(), self._eos) for row in out]

    def _sample(self, ids: list[int], max_new: int, temperature: float, seed: int) -> list[int]:
        """Temperature sampling of one request with its own seeded ``torch.Generator``."""
        generator = self._torch.Generator(device=self._device).manual_seed(seed)
        sampler = SeededSampler(self._torch, temperature, generator)
        return self._generate_batch([ids], max_new, [sampler])[0]


class SeededSampler:
    """A logits processor that samples the next token with a private generator.

    It returns scores where only the sampled token is finite, so greedy decoding emits it. The
    global torch RNG is never touched, so samples depend only on (prompt, temperature, seed).
    """

    def __init__(self, torch: Any, temperature: float, generator: Any) -> None:
        self._torch = torch
        self._temperature = temperature
        self._generator = generator

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        torch = self._torch
        probs = torch.softmax(scores.float() / self._temperature, dim=-1)
        choice = torch.multinomial(probs, 1, generator=self._generator)
        out = torch.full_like(scores, float("-inf"))
        return out.scatter_(1, choice, 0.0)


def _load(spec: ModelSpec, options: BackendOptions) -> tuple[Any, Any, Any]:
    """Import torch/transformers lazily and load tokenizer + model from ``spec.model``."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise BackendError(
            f"the hf backend needs torch and transformers ({exc}); "
            "run: pip install torch==2.13.0 transformers accelerate"
        ) from exc
    gpus = tuple(options.gpus)
    use_cuda = bool(gpus) and torch.cuda.is_available()
    if gpus and not use_cuda:
        logger.info("CUDA is not available (gpus %s ignored); running on CPU", gpus)
    threads = options.n_threads
    if threads and not use_cuda:
        # process-wide in torch; like llama.cpp, all cores collapses beside busy neighbours
        torch.set_num_threads(int(threads))
        log_threads("torch", int(threads))
    dtype = _torch_dtype(torch, options.dtype or "auto", use_cuda)
    try:
        tokenizer = AutoTokenizer.from_pretrained(spec.model, trust_remote_code=True)
        model = AutoModelForCausalLM.from_pretrained(spec.model, trust_remote_code=True)
    except (OSError, ValueError) as exc:
        raise BackendError(
            f"cannot load HF model from {spec.model!r} ({exc}); pass a local HF folder, "
            "e.g. one made by: python -m gpo.llm.convert"
        ) from exc
    model = model.to(device="cuda" if use_cuda else "cpu", dtype=dtype).eval()
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return torch, tokenizer, model


def _torch_dtype(torch: Any, name: str, use_cuda: bool) -> Any:
    """``auto`` is float32 on CPU (fast and exact there) and float16 on GPU."""
    if name == "auto":
        return torch.float16 if use_cuda else torch.float32
    names = {"float32": "float32", "float": "float32", "float16": "float16", "half": "float16"}
    names["bfloat16"] = "bfloat16"
    if name not in names:
        raise BackendError(f"unknown dtype {name!r}; use auto, float32, float16 or bfloat16")
    return getattr(torch, names[name])
