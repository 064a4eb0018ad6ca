"""GEPA's reflection model (``reflection_lm``: prompt -> reply) on the run's optimizer LLM.

Any backend the optimizer role supports works; each call goes through the run's LLM wrapper, so
it is cached and counted as an optimizer request. Sampling uses the optimizer's temperature and
token limit with a seed fixed by (run seed, prompt): a resumed run asks the same and gets the
cached reply.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable
from typing import Any

from gpo.llm.base import LLM, GenerationParams
from gpo.optimization.proposal import optimizer_prompt

log = logging.getLogger(__name__)


def prompt_as_text(prompt: str | list[dict[str, Any]]) -> str:
    """GEPA's prompt as one text (a chat-message list is joined by its contents)."""
    if isinstance(prompt, str):
        return prompt
    return "\n\n".join(str(m.get("content", "")) for m in prompt)


class ReflectionModel:
    """``reflection_lm`` for ``gepa.optimize``; ``calls`` counts its requests. GEPA logs and
    skips a failed reflection, so a failure is also handed to ``on_error`` (the run stops)."""

    def __init__(
        self,
        llm: LLM,
        temperature: float,
        max_tokens: int,
        seed: int,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.llm, self.temperature, self.max_tokens, self.seed = llm, temperature, max_tokens, seed
        self.on_error = on_error
        self.calls = 0

    def __call__(self, prompt: str | list[dict[str, Any]]) -> str:
        text = prompt_as_text(prompt)
        seed = (self.seed * 1_000_003 + zlib.crc32(text.encode("utf-8"))) % (2**31)
        params = GenerationParams(self.temperature, self.max_tokens, seed)
        try:
            (reply,) = self.llm.generate(
                [optimizer_prompt(self.llm, text)], params, sample_indices=[0]
            )
        except Exception as e:
            if self.on_error is not None:
                self.on_error(e)
            raise
        self.calls += 1
        log.debug("reflection reply: %r", reply.text)
        return reply.text
