"""A job's row as the API creates, reads and edits it. Reads take the caller's tenant
filter (None = all tenants, for admins), so another tenant's rows are simply not found.

The workflow's projection writes (status, stage, progress, results) are in `store.jobs`.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from core.models import JobStatus
from store.rows import JobRow


async def insert_job(conn: asyncpg.Pool | asyncpg.Connection, job: dict[str, Any]) -> bool:
    """Insert a new job row; False when this id already exists (idempotent replay)."""
    row = await conn.fetchrow(
        """
        INSERT INTO jobs (id, tenant_id, name, description, provider, base_model, dataset_uri,
                          config, policy, datasheet, idempotency_key, workflow_id,
                          request_sha256)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
        ON CONFLICT (id) DO NOTHING
        RETURNING id
        """,
        job["id"],
        job["tenant_id"],
        job["name"],
        job["description"],
        job["provider"],
        job["base_model"],
        job["dataset_uri"],
        job["config"],
        job["policy"],
        job["datasheet"],
        job["idempotency_key"],
        job["workflow_id"],
        job.get("request_sha256"),
    )
    return row is not None


async def delete_job(pool: asyncpg.Pool, job_id: str) -> None:
    """Drop a job whose workflow could not be started (nothing else refers to it yet)."""
    await pool.execute("DELETE FROM jobs WHERE id = $1", job_id)


async def get_job(pool: asyncpg.Pool, job_id: str, tenant: str | None) -> JobRow | None:
    row = await pool.fetchrow(
        "SELECT * FROM jobs WHERE id = $1 AND ($2::text IS NULL OR tenant_id = $2)",
        job_id,
        tenant,
    )
    return JobRow.from_optional(row)


async def update_job_text(
    pool: asyncpg.Pool, job_id: str, name: str | None, description: str | None
) -> None:
    await pool.execute(
        """
        UPDATE jobs SET name = COALESCE($2, name), description = COALESCE($3, description),
            updated_at = now()
        WHERE id = $1
        """,
        job_id,
        name,
        description,
    )


async def close_open_job(
    pool: asyncpg.Pool, job_id: str, status: JobStatus, error_code: str, error_message: str
) -> bool:
    """End a job whose row is still open; True only for the write that ended it."""
    assert status.is_terminal
    row = await pool.fetchrow(
        """
        UPDATE jobs SET
            status = $2, status_rank = 9, stage = 'done', updated_at = now(),
            stage_changed_at = now(), completed_at = COALESCE(completed_at, now()),
            error_code = $3, error_message = $4
        WHERE id = $1 AND status_rank < 9
        RETURNING id
        """,
        job_id,
        status.value,
        error_code,
        error_message,
    )
    return row is not None
