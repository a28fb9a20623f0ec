"""Reads of `job_metrics`: the training curves a job's provider reported, step by step."""

from __future__ import annotations

import asyncpg

from store.rows import MetricRow


class MetricStepRow(MetricRow):
    """A recorded step with the schedule columns: learning rate and (fractional) epoch,
    NULL where the provider does not report them."""

    learning_rate: float | None = None
    epoch: float | None = None


async def job_metric_rows(pool: asyncpg.Pool, job_id: str) -> list[MetricStepRow]:
    """Every recorded step of the job, in step order."""
    rows = await pool.fetch(
        """
        SELECT step, total_steps, train_loss, valid_loss, train_accuracy, valid_accuracy,
               learning_rate, epoch
        FROM job_metrics WHERE job_id = $1 ORDER BY step
        """,
        job_id,
    )
    return [MetricStepRow.from_record(r) for r in rows]
