"""What a training run on a dataset will cost, and the policy cap on it.

Estimate = billable tokens x epochs x the model's training price (core/pricing.py). With
`n_epochs` unset ("auto") the epochs are the ones the provider will choose for the example
count (`token_stats.auto_epochs`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from activities.datasets.report import Finding, error
from activities.datasets.token_stats import TokenStats, auto_epochs
from core.pricing import training_cost_usd, training_price_per_million

MAX_COST_KEY = "max_cost_usd"


class CostEstimate(BaseModel):
    base_model: str
    epochs: int | None = Field(description="None when there is nothing to train on")
    epochs_source: Literal["explicit", "auto"]
    training_tokens: int = Field(ge=0, description="billable tokens x epochs")
    price_per_million_usd: float | None = Field(description="None when the model has no price")
    cost_usd: float | None


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
            f"estimated training cost {estimate.cost_usd:.2f} USD"
            f" ({estimate.training_tokens} tokens x {estimate.price_per_million_usd} USD/M)"
            f" exceeds {field} of {limit:.2f} USD"
        )
        return [error("cost_limit_exceeded", message, field=field)]
    return []
