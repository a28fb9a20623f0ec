"""Training prices: OpenAI's per million training tokens (USD), from the provider's price
list, and the GPU-time price of self-hosted training.

Keyed by model-name prefix; the longest matching prefix wins so dated snapshots share
their family's price, and a fine-tuned model (`ft:<base>:...`, continued training) is priced
as its base. Per-token training only: reinforcement fine-tuning (o-series) is billed by the
hour and has no entry, so its cost is unknown here. Review when the provider's list changes.

Self-hosted training is priced by the time a worker of its GPU pool spends on the tokens:
tokens / the pool's throughput (tokens per second) x the pool's hourly price (USD), both
from the deployment's base-model catalogue.
"""

from __future__ import annotations

TRAINING_PRICE_PER_MILLION: dict[str, float] = {
    "gpt-4.1-nano": 1.50,
    "gpt-4.1-mini": 5.00,
    "gpt-4.1": 25.00,
    "gpt-4o-mini": 3.00,
    "gpt-4o": 25.00,
    "gpt-3.5-turbo": 8.00,
}


def training_price_per_million(base_model: str) -> float | None:
    if base_model.startswith("ft:"):
        base_model = base_model[3:].split(":", 1)[0]
    matches = [p for p in TRAINING_PRICE_PER_MILLION if base_model.startswith(p)]
    if not matches:
        return None
    return TRAINING_PRICE_PER_MILLION[max(matches, key=len)]


def training_cost_usd(base_model: str, trained_tokens: int | None) -> float | None:
    price = training_price_per_million(base_model)
    if price is None or trained_tokens is None:
        return None
    return round(trained_tokens * price / 1_000_000, 6)


def gpu_hours(tokens: int, tokens_per_second: float) -> float:
    """Hours one worker of a GPU pool takes to train on `tokens` at its throughput."""
    return tokens / tokens_per_second / 3600


def gpu_time_cost_usd(tokens: int, tokens_per_second: float, hourly_price_usd: float) -> float:
    """Self-hosted training's cost: the GPU time for `tokens` at the pool's hourly price."""
    return round(gpu_hours(tokens, tokens_per_second) * hourly_price_usd, 6)
