"""OpenAI's fine-tuning statuses and metric events, translated into the provider seam's
normalized status and typed metric points."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.provider_events import TrainingMetricPoint
from core.provider_status import ProviderJobStatus

_STATUSES: dict[str, ProviderJobStatus] = {
    "validating_files": ProviderJobStatus.queued,
    "queued": ProviderJobStatus.queued,
    "running": ProviderJobStatus.running,
    "succeeded": ProviderJobStatus.succeeded,
    "failed": ProviderJobStatus.failed,
    "cancelled": ProviderJobStatus.cancelled,
}


def job_status(raw: str) -> ProviderJobStatus:
    """The normalized status of an OpenAI job status.

    A status this service does not know (one OpenAI adds later, e.g. a pause) counts as
    running: not terminal, so the job is neither failed nor promoted on a word it does not
    understand, and polling goes on until OpenAI reports an end (the wait's timeouts still
    bound it).
    """
    return _STATUSES.get(raw, ProviderJobStatus.running)


def metric_point(
    event_type: str, data: dict[str, Any] | None, created_at: datetime
) -> TrainingMetricPoint | None:
    """The metric point a `metrics` event reports, or None for any other event (or one
    without a numeric step)."""
    if event_type != "metrics" or not data:
        return None
    step = _int_or_none(data.get("step"))
    if step is None:
        return None
    return TrainingMetricPoint(
        step=step,
        recorded_at=created_at,
        total_steps=_int_or_none(data.get("total_steps")),
        train_loss=_float_or_none(data.get("train_loss")),
        valid_loss=_float_or_none(data.get("valid_loss")),
        train_token_accuracy=_float_or_none(data.get("train_mean_token_accuracy")),
        valid_token_accuracy=_float_or_none(data.get("valid_mean_token_accuracy")),
        learning_rate=_float_or_none(data.get("learning_rate")),
        epoch=_float_or_none(data.get("epoch")),
    )


def _float_or_none(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int_or_none(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
