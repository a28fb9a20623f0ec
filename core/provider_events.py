"""What a fine-tuning provider reports for a job: its events and, among them, training
metric points (the provider seam returns these; the store records them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class TrainingMetricPoint(BaseModel):
    """One training step's metrics, in the provider's own events translated to our names.

    Token accuracy is the mean per-token accuracy; a provider leaves out what it does not
    report.
    """

    step: int
    recorded_at: datetime
    total_steps: int | None = None
    train_loss: float | None = None
    valid_loss: float | None = None
    train_token_accuracy: float | None = None
    valid_token_accuracy: float | None = None
    learning_rate: float | None = None
    epoch: float | None = None


class ProviderEvent(BaseModel):
    id: str
    created_at: datetime
    level: str
    type: str
    message: str
    data: dict[str, Any] | None = None
    # Set when the event reports a training step's metrics.
    metric: TrainingMetricPoint | None = None
