"""Reads of `job_metrics`: the training curves a job's provider reported, step by step."""

from __future__ import annotations

import asyncpg
from pydantic import BaseModel


class MetricRow(BaseModel):
    """One recorded training step."""

    step: int
    total_steps: int | None = None
    train_loss: float | None = None
    valid_loss: float | None = None
    train_accuracy: float | None = None
    valid_accuracy: float | None = None


async def job_metric_rows(pool: asyncpg.Pool, job_id: str) -> list[MetricRow]:
    """Every recorded step of the job, in step order."""
    rows = await pool.fetch(
        """
        SELECT step, total_steps, train_loss, valid_loss, train_accuracy, valid_accuracy
        FROM job_metrics WHERE job_id = $1 ORDER BY step
        """,
        job_id,
    )
    return [MetricRow.model_validate(dict(r)) for r in rows]
