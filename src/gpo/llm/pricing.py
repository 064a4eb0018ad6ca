"""Prices of API optimizer/scorer models, for the cost side of the run budget.

The paper's optimizer is an API model (gpt-3.5-turbo or gpt-4, GPO_REFERENCE.md section 6) while the
scorer is usually a local model. This module turns token counts into US dollars so a run can stop
at a cost budget. Local backends cost nothing; an API model missing from the table has an unknown
cost (``None``) rather than a guessed one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

LOCAL_BACKENDS = frozenset({"llamacpp", "vllm", "hf", "fake"})


@dataclass(frozen=True)
class ModelPrice:
    """US dollars per one million input (prompt) and output (completion) tokens."""

    input_per_million: float
    output_per_million: float


# Standard (non-batch) OpenAI list prices in USD per 1M tokens, as published on
# openai.com/api/pricing between 2024-10 and 2025-01. Prices change: check them before relying on
# a cost budget. Names are matched exactly (lower-cased); no prefix guessing, because dated
# snapshots of one family are priced differently (gpt-4o-2024-05-13 vs gpt-4o-2024-08-06).
DEFAULT_PRICES: Mapping[str, ModelPrice] = MappingProxyType(
    {
        "gpt-3.5-turbo": ModelPrice(0.50, 1.50),  # alias of gpt-3.5-turbo-0125
        "gpt-3.5-turbo-0125": ModelPrice(0.50, 1.50),
        "gpt-3.5-turbo-1106": ModelPrice(1.00, 2.00),
        "gpt-4": ModelPrice(30.00, 60.00),  # 8k context
        "gpt-4-0613": ModelPrice(30.00, 60.00),
        "gpt-4-turbo": ModelPrice(10.00, 30.00),
        "gpt-4o": ModelPrice(2.50, 10.00),  # alias of gpt-4o-2024-08-06
        "gpt-4o-2024-08-06": ModelPrice(2.50, 10.00),
        "gpt-4o-2024-05-13": ModelPrice(5.00, 15.00),
        "gpt-4o-mini": ModelPrice(0.15, 0.60),
        "gpt-4o-mini-2024-07-18": ModelPrice(0.15, 0.60),
    }
)


def price_of(model: str, prices: Mapping[str, ModelPrice] = DEFAULT_PRICES) -> ModelPrice | None:
    """The price entry of ``model`` (exact, case-insensitive name), or None when unknown."""
    return prices.get(model.strip().lower())


def cost_usd(
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    *,
    backend: str | None = None,
    prices: Mapping[str, ModelPrice] = DEFAULT_PRICES,
) -> float | None:
    """Dollar cost of the given token counts.

    A model served by a local backend (``backend`` in LOCAL_BACKENDS) costs 0.0. Otherwise the
    model is looked up in ``prices``; an unknown model returns None (cost cannot be told).
    """
    if backend in LOCAL_BACKENDS:
        return 0.0
    price = price_of(model, prices)
    if price is None:
        return None
    return (
        prompt_tokens * price.input_per_million + completion_tokens * price.output_per_million
    ) / 1_000_000
