"""Reads of `job_metrics`: the training curves a job's provider reported, step by step."""

from __future__ import annotations

import asyncpg

from store.rows import MetricRow


async def job_metric_rows(pool: asyncpg.Pool, job_id: str) -> list[MetricRow]:
    """Every recorded step of the job, in step order."""
    rows = await pool.fetch(
        """
        SELECT step, total_steps, train_loss, valid_loss, train_accuracy, valid_accuracy
        FROM job_metrics WHERE job_id = $1 ORDER BY step
        """,
        job_id,
    )
    return [MetricRow.from_record(r) for r in rows]
