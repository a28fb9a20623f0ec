"""Projection writes for jobs, their provider events and training metrics.

Every write is idempotent: status moves only forward (by rank), progress only to a later
step, events and metrics are keyed by the provider's ids so a retried activity adds nothing.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from core.metrics import record_job_finished
from core.models import JobStage, JobStatus, TrainingProgress
from core.provider_events import ProviderEvent


async def set_status(
    pool: asyncpg.Pool,
    job_id: str,
    status: JobStatus,
    stage: JobStage,
    *,
    error_message: str | None = None,
    error_code: str | None = None,
) -> bool:
    """Move the job forward to `status`; returns False when it was already past it."""
    row = await pool.fetchrow(
        """
        UPDATE jobs SET
            status = $2, status_rank = $3, stage = $4, updated_at = now(),
            stage_changed_at = CASE WHEN stage <> $4 THEN now() ELSE stage_changed_at END,
            started_at = CASE WHEN $3 >= 1 THEN COALESCE(started_at, now()) ELSE started_at END,
            completed_at = CASE WHEN $3 = 9 THEN COALESCE(completed_at, now())
                                ELSE completed_at END,
            error_message = COALESCE($5, error_message),
            error_code = COALESCE($6, error_code)
        WHERE id = $1 AND (status_rank < $3 OR (status_rank = $3 AND status = $2))
        RETURNING id
        """,
        job_id,
        status.value,
        status.rank,
        stage.value,
        error_message,
        error_code,
    )
    return row is not None


async def finish(
    pool: asyncpg.Pool,
    job_id: str,
    status: JobStatus,
    *,
    error_message: str | None = None,
    error_code: str | None = None,
) -> bool:
    """End the job with a terminal `status`; True only for the write that ended it (so a
    retried step counts its job once in the metrics)."""
    assert status.is_terminal
    row = await pool.fetchrow(
        """
        UPDATE jobs SET
            status = $2, status_rank = 9, stage = 'done', updated_at = now(),
            stage_changed_at = now(),
            completed_at = now(),
            error_message = COALESCE($3, error_message),
            error_code = COALESCE($4, error_code)
        WHERE id = $1 AND status_rank < 9
        RETURNING tenant_id
        """,
        job_id,
        status.value,
        error_message,
        error_code,
    )
    if row is not None:
        record_job_finished(status.value, row["tenant_id"])
    return row is not None


async def force_finish(pool: asyncpg.Pool, job_id: str, status: JobStatus, error_code: str) -> bool:
    """The fallback when `finish` is refused for good: status and code only, no text the
    database could refuse. True only for the write that ended the job."""
    assert status.is_terminal
    row = await pool.fetchrow(
        """
        UPDATE jobs SET
            status = $2, status_rank = 9, stage = 'done', updated_at = now(),
            stage_changed_at = now(), completed_at = now(),
            error_code = $3
        WHERE id = $1 AND status_rank < 9
        RETURNING tenant_id
        """,
        job_id,
        status.value,
        error_code,
    )
    if row is not None:
        record_job_finished(status.value, row["tenant_id"])
    return row is not None


async def set_stage(pool: asyncpg.Pool, job_id: str, stage: JobStage) -> None:
    await pool.execute(
        "UPDATE jobs SET stage = $2, updated_at = now(), "
        "stage_changed_at = CASE WHEN stage <> $2 THEN now() ELSE stage_changed_at END "
        "WHERE id = $1 AND status_rank < 9",
        job_id,
        stage.value,
    )


async def record_validation(pool: asyncpg.Pool, job_id: str, report: dict[str, Any]) -> None:
    await pool.execute(
        "UPDATE jobs SET validation_report = $2, updated_at = now() WHERE id = $1",
        job_id,
        report,
    )


async def record_uploaded_file(pool: asyncpg.Pool, job_id: str, file_id: str) -> None:
    await pool.execute(
        "UPDATE jobs SET provider_file_id = $2, updated_at = now() WHERE id = $1",
        job_id,
        file_id,
    )


async def record_provider_job(
    pool: asyncpg.Pool, job_id: str, provider_job_id: str, metadata: dict[str, Any]
) -> None:
    await pool.execute(
        """
        UPDATE jobs SET provider_job_id = $2,
            provider_metadata = provider_metadata || $3::jsonb, updated_at = now()
        WHERE id = $1
        """,
        job_id,
        provider_job_id,
        metadata,
    )


async def record_progress(
    pool: asyncpg.Pool, job_id: str, progress: TrainingProgress, stage: JobStage
) -> None:
    """Store the latest progress unless a later step is already recorded."""
    await pool.execute(
        """
        UPDATE jobs SET progress = $2::jsonb, stage = $3, updated_at = now(),
            stage_changed_at = CASE WHEN stage <> $3 THEN now() ELSE stage_changed_at END
        WHERE id = $1 AND status_rank < 9
          AND COALESCE((progress->>'step')::int, -1) <= COALESCE(($2::jsonb->>'step')::int, -1)
        """,
        job_id,
        json.loads(progress.model_dump_json()),
        stage.value,
    )


async def record_events(pool: asyncpg.Pool, job_id: str, events: list[ProviderEvent]) -> None:
    """The events as reported, and the metric points the provider read from them, one row
    per step."""
    if not events:
        return
    async with pool.acquire() as conn, conn.transaction():
        await conn.executemany(
            """
            INSERT INTO job_events (job_id, provider_event_id, created_at, level, type,
                                    message, data)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (job_id, provider_event_id) DO NOTHING
            """,
            [(job_id, e.id, e.created_at, e.level, e.type, e.message, e.data) for e in events],
        )
        points = [e.metric for e in events if e.metric is not None]
        await conn.executemany(
            """
            INSERT INTO job_metrics (job_id, step, total_steps, train_loss, valid_loss,
                                     train_accuracy, valid_accuracy, learning_rate, epoch,
                                     recorded_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT (job_id, step) DO NOTHING
            """,
            [
                (
                    job_id,
                    p.step,
                    p.total_steps,
                    p.train_loss,
                    p.valid_loss,
                    p.train_token_accuracy,
                    p.valid_token_accuracy,
                    p.learning_rate,
                    p.epoch,
                    p.recorded_at,
                )
                for p in points
            ],
        )


async def record_training_result(
    pool: asyncpg.Pool,
    job_id: str,
    *,
    fine_tuned_model: str | None,
    trained_tokens: int | None,
    training_cost: float | None,
    training_duration: int | None,
) -> None:
    await pool.execute(
        """
        UPDATE jobs SET provider_model_id = COALESCE($2, provider_model_id),
            training_tokens = COALESCE($3, training_tokens),
            training_cost = COALESCE($4, training_cost),
            training_duration = COALESCE($5, training_duration),
            updated_at = now()
        WHERE id = $1
        """,
        job_id,
        fine_tuned_model,
        trained_tokens,
        training_cost,
        training_duration,
    )


async def latest_metrics(pool: asyncpg.Pool, job_id: str) -> TrainingProgress:
    """The latest recorded training step's metrics (all None before the first)."""
    row = await pool.fetchrow(
        "SELECT step, total_steps, train_loss, valid_loss, train_accuracy "
        "FROM job_metrics WHERE job_id = $1 ORDER BY step DESC LIMIT 1",
        job_id,
    )
    return TrainingProgress() if row is None else TrainingProgress.model_validate(dict(row))


async def count_attempt(pool: asyncpg.Pool, job_id: str, attempt: int) -> None:
    """Keep `retryCount` as the highest activity attempt seen beyond the first."""
    await pool.execute(
        "UPDATE jobs SET retry_count = GREATEST(retry_count, $2) WHERE id = $1",
        job_id,
        attempt - 1,
    )
