"""What a training run on a dataset will cost, and the policy cap on it.

Two bases, named in the estimate's `basis`:
- `token_price` (OpenAI): billable tokens x epochs x the model's training price
  (core/pricing.py). With `n_epochs` unset ("auto") the epochs are the ones the provider will
  choose for the example count (`token_stats.auto_epochs`).
- `gpu_time` (self-hosted): billable tokens x epochs / the GPU pool's throughput gives the
  pool time (`gpu_hours`), x the pool's hourly price gives the cost.

Both go through the same `restrictions.max_cost_usd` cap here and the same approval rule in
the workflow (its `estimated_cost_usd`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from activities.datasets.report import Finding, error
from activities.datasets.token_stats import TokenStats, auto_epochs
from core.pricing import (
    gpu_hours,
    gpu_time_cost_usd,
    training_cost_usd,
    training_price_per_million,
)

MAX_COST_KEY = "max_cost_usd"


class CostEstimate(BaseModel):
    base_model: str
    basis: Literal["token_price", "gpu_time"] = "token_price"
    epochs: int | None = Field(description="None when there is nothing to train on")
    epochs_source: Literal["explicit", "auto", "default"]
    training_tokens: int = Field(ge=0, description="billable tokens x epochs")
    price_per_million_usd: float | None = Field(
        description="token_price: None when the model has no price; gpu_time: None"
    )
    cost_usd: float | None
    # gpu_time only: the pool that trains the model, its figures, and the time it takes.
    pool: str | None = None
    tokens_per_second: float | None = None
    hourly_price_usd: float | None = None
    gpu_hours: float | None = None


def estimate_cost(base_model: str, stats: TokenStats, n_epochs: int | None) -> CostEstimate:
    if n_epochs is not None:
        epochs: int | None = n_epochs
    else:
        epochs = auto_epochs(stats.examples) if stats.examples else None
    training_tokens = stats.billable_tokens * (epochs or 0)
    return CostEstimate(
        base_model=base_model,
        epochs=epochs,
        epochs_source="auto" if n_epochs is None else "explicit",
        training_tokens=training_tokens,
        price_per_million_usd=training_price_per_million(base_model),
        cost_usd=training_cost_usd(base_model, training_tokens),
    )


def estimate_gpu_cost(
    base_model: str,
    stats: TokenStats,
    epochs: int,
    *,
    pool_name: str,
    tokens_per_second: float,
    hourly_price_usd: float,
    epochs_source: Literal["explicit", "default"] = "explicit",
) -> CostEstimate:
    """GPU time for every token the trainer processes (the loss counts only the assistant's,
    but the forward and backward passes run over the whole sequence)."""
    training_tokens = stats.billable_tokens * epochs
    return CostEstimate(
        base_model=base_model,
        basis="gpu_time",
        epochs=epochs,
        epochs_source=epochs_source,
        training_tokens=training_tokens,
        price_per_million_usd=None,
        cost_usd=gpu_time_cost_usd(training_tokens, tokens_per_second, hourly_price_usd),
        pool=pool_name,
        tokens_per_second=tokens_per_second,
        hourly_price_usd=hourly_price_usd,
        gpu_hours=round(gpu_hours(training_tokens, tokens_per_second), 6),
    )


def check_cost_limit(estimate: CostEstimate, restrictions: Mapping[str, Any]) -> list[Finding]:
    """`restrictions.max_cost_usd` refuses a job whose estimate is above it (or unknown)."""
    if MAX_COST_KEY not in restrictions or restrictions[MAX_COST_KEY] is None:
        return []
    limit = restrictions[MAX_COST_KEY]
    field = f"policy.restrictions.{MAX_COST_KEY}"
    if isinstance(limit, bool) or not isinstance(limit, int | float) or not math.isfinite(limit):
        return [error("invalid_restriction", f"{field} must be a number", field=field)]
    if estimate.cost_usd is None:
        message = (
            f"{field} is {limit:.2f} USD but there is no training price for"
            f" {estimate.base_model!r}, so the cost cannot be checked"
        )
        return [error("cost_unknown", message, field=field)]
    if estimate.cost_usd > limit:
        message = (
            f"estimated training cost {estimate.cost_usd:.2f} USD ({_basis_text(estimate)})"
            f" exceeds {field} of {limit:.2f} USD"
        )
        return [error("cost_limit_exceeded", message, field=field)]
    return []


def _basis_text(estimate: CostEstimate) -> str:
    if estimate.basis == "gpu_time":
        return (
            f"{estimate.training_tokens} tokens at {estimate.tokens_per_second:g} tokens/s on"
            f" pool {estimate.pool!r}: {estimate.gpu_hours:.2f} GPU hours x"
            f" {estimate.hourly_price_usd:g} USD/h"
        )
    return f"{estimate.training_tokens} tokens x {estimate.price_per_million_usd} USD/M"
