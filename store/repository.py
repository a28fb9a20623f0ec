"""The API's SQL: job creation, tenant-scoped reads, and stats computed in the database.

Every read takes the caller's tenant filter (None = all tenants, for admins), so another
tenant's rows are simply not found.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg


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


async def get_job(pool: asyncpg.Pool, job_id: str, tenant: str | None) -> asyncpg.Record | None:
    return await pool.fetchrow(
        "SELECT * FROM jobs WHERE id = $1 AND ($2::text IS NULL OR tenant_id = $2)",
        job_id,
        tenant,
    )


async def list_jobs(
    pool: asyncpg.Pool,
    tenant: str | None,
    status: str | None,
    provider: str | None,
    offset: int,
    limit: int,
) -> tuple[list[asyncpg.Record], int]:
    where = """($1::text IS NULL OR tenant_id = $1) AND ($2::text IS NULL OR status = $2)
               AND ($3::text IS NULL OR provider = $3)"""
    rows = await pool.fetch(
        f"SELECT * FROM jobs WHERE {where} ORDER BY created_at DESC, id LIMIT $4 OFFSET $5",
        tenant,
        status,
        provider,
        limit,
        offset,
    )
    total = await pool.fetchval(
        f"SELECT count(*) FROM jobs WHERE {where}", tenant, status, provider
    )
    return list(rows), int(total)


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


async def latest_evaluation(pool: asyncpg.Pool, job_id: str) -> asyncpg.Record | None:
    return await pool.fetchrow(
        "SELECT * FROM evaluations WHERE job_id = $1 ORDER BY created_at DESC LIMIT 1", job_id
    )


async def latest_promotion(pool: asyncpg.Pool, job_id: str) -> asyncpg.Record | None:
    return await pool.fetchrow(
        "SELECT * FROM promotions WHERE job_id = $1 ORDER BY created_at DESC LIMIT 1", job_id
    )


async def insert_evaluation(pool: asyncpg.Pool, ev: dict[str, Any]) -> asyncpg.Record | None:
    """The new pending evaluation, or None while another one of the job is in flight (the
    partial unique index `evaluations_one_in_flight` decides, so concurrent starts agree)."""
    return await pool.fetchrow(
        """
        INSERT INTO evaluations (id, job_id, tenant_id, name, description, status,
                                 harness_config, thresholds, workflow_id)
        VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8)
        ON CONFLICT (job_id) WHERE status IN ('pending', 'running') DO NOTHING
        RETURNING *
        """,
        ev["id"],
        ev["job_id"],
        ev["tenant_id"],
        ev["name"],
        ev["description"],
        ev["harness_config"],
        ev["thresholds"],
        ev["workflow_id"],
    )


async def in_flight_evaluation(pool: asyncpg.Pool, job_id: str) -> asyncpg.Record | None:
    return await pool.fetchrow(
        "SELECT * FROM evaluations WHERE job_id = $1 AND status IN ('pending', 'running')",
        job_id,
    )


async def close_evaluation(pool: asyncpg.Pool, evaluation_id: str, message: str) -> None:
    """End an in-flight evaluation that nothing will finish (its workflow never started or
    is gone), so it stops holding the job's one in-flight slot."""
    await pool.execute(
        """
        UPDATE evaluations SET status = 'error', passed = false, error_message = $2,
            updated_at = now(), completed_at = now()
        WHERE id = $1 AND status IN ('pending', 'running')
        """,
        evaluation_id,
        message,
    )


async def get_evaluation(
    pool: asyncpg.Pool, evaluation_id: str, tenant: str | None
) -> asyncpg.Record | None:
    return await pool.fetchrow(
        "SELECT * FROM evaluations WHERE id = $1 AND ($2::text IS NULL OR tenant_id = $2)",
        evaluation_id,
        tenant,
    )


async def list_evaluations(
    pool: asyncpg.Pool,
    tenant: str | None,
    job_id: str | None,
    status: str | None,
    offset: int,
    limit: int,
) -> tuple[list[asyncpg.Record], int]:
    where = """($1::text IS NULL OR tenant_id = $1) AND ($2::uuid IS NULL OR job_id = $2)
               AND ($3::text IS NULL OR status = $3)"""
    rows = await pool.fetch(
        f"SELECT * FROM evaluations WHERE {where} ORDER BY created_at DESC, id LIMIT $4 OFFSET $5",
        tenant,
        job_id,
        status,
        limit,
        offset,
    )
    total = await pool.fetchval(
        f"SELECT count(*) FROM evaluations WHERE {where}", tenant, job_id, status
    )
    return list(rows), int(total)


async def list_samples(
    pool: asyncpg.Pool, evaluation_id: str, role: str | None, offset: int, limit: int
) -> tuple[list[asyncpg.Record], int]:
    where = "evaluation_id = $1 AND ($2::text IS NULL OR role = $2)"
    rows = await pool.fetch(
        f"SELECT * FROM evaluation_samples WHERE {where} "
        "ORDER BY role, suite, sample_id LIMIT $3 OFFSET $4",
        evaluation_id,
        role,
        limit,
        offset,
    )
    total = await pool.fetchval(
        f"SELECT count(*) FROM evaluation_samples WHERE {where}", evaluation_id, role
    )
    return list(rows), int(total)


async def requested_promotion(pool: asyncpg.Pool, promo: dict[str, Any]) -> asyncpg.Record:
    """The job's promotion row for this evaluation (`request_key`), created 'in progress'
    when there is none yet. One statement under a unique index, so concurrent requests all
    get the same row."""
    return await pool.fetchrow(
        """
        INSERT INTO promotions (id, job_id, evaluation_id, tenant_id, promoted, forced,
                                promotion_reason, promotion_metadata, request_key)
        VALUES ($1, $2, $3, $4, false, $5, 'in progress', $6, $7)
        ON CONFLICT (job_id, request_key) WHERE request_key IS NOT NULL
        DO UPDATE SET updated_at = now()
        RETURNING *
        """,
        promo["id"],
        promo["job_id"],
        promo["evaluation_id"],
        promo["tenant_id"],
        promo["forced"],
        promo["metadata"],
        promo["evaluation_id"] or "unevaluated",
    )


async def get_promotion(pool: asyncpg.Pool, promotion_id: str) -> asyncpg.Record | None:
    return await pool.fetchrow("SELECT * FROM promotions WHERE id = $1", promotion_id)


async def list_events(
    pool: asyncpg.Pool, job_id: str, offset: int, limit: int
) -> tuple[list[asyncpg.Record], int]:
    rows = await pool.fetch(
        "SELECT * FROM job_events WHERE job_id = $1 ORDER BY seq LIMIT $2 OFFSET $3",
        job_id,
        limit,
        offset,
    )
    total = await pool.fetchval("SELECT count(*) FROM job_events WHERE job_id = $1", job_id)
    return list(rows), int(total)


async def service_stats(
    pool: asyncpg.Pool, tenant: str | None, since: datetime | None = None
) -> asyncpg.Record:
    """The contract's totals over jobs, evaluations and promotions created since `since`."""
    return await pool.fetchrow(
        """
        WITH j AS (SELECT * FROM jobs WHERE ($1::text IS NULL OR tenant_id = $1)
                       AND ($2::timestamptz IS NULL OR created_at >= $2)),
             e AS (SELECT * FROM evaluations WHERE ($1::text IS NULL OR tenant_id = $1)
                       AND ($2::timestamptz IS NULL OR created_at >= $2)),
             p AS (SELECT * FROM promotions WHERE ($1::text IS NULL OR tenant_id = $1)
                       AND ($2::timestamptz IS NULL OR created_at >= $2))
        SELECT
            (SELECT count(*) FROM j) AS total_jobs,
            (SELECT count(*) FROM j WHERE status IN
                ('pending', 'validating', 'training', 'evaluating')) AS active_jobs,
            (SELECT count(*) FROM j WHERE status = 'completed') AS completed_jobs,
            (SELECT count(*) FROM j WHERE status = 'failed') AS failed_jobs,
            (SELECT count(*) FROM e) AS total_evaluations,
            (SELECT count(*) FROM e WHERE status = 'passed') AS passed_evaluations,
            (SELECT count(*) FROM e WHERE status = 'failed') AS failed_evaluations,
            (SELECT count(*) FROM p) AS total_promotions,
            (SELECT count(*) FROM p WHERE promoted) AS successful_promotions,
            (SELECT avg(training_duration)::float8 FROM j
                WHERE training_duration IS NOT NULL) AS average_training_time,
            (SELECT COALESCE(sum(training_cost), 0)::float8 FROM j) AS total_training_cost
        """,
        tenant,
        since,
    )


# Columns a usage breakdown may group by (interpolated into SQL: never from input).
BREAKDOWN_COLUMNS = frozenset({"tenant_id", "base_model"})


async def usage_breakdown(
    pool: asyncpg.Pool, column: str, tenant: str | None, since: datetime | None = None
) -> list[asyncpg.Record]:
    """Per value of `column`: jobs by status, training cost and trained tokens."""
    if column not in BREAKDOWN_COLUMNS:
        raise ValueError(f"cannot break usage down by {column!r}")
    return await pool.fetch(
        f"""
        WITH by_status AS (
            SELECT {column} AS key, status, count(*) AS jobs,
                   COALESCE(sum(training_cost), 0) AS cost,
                   COALESCE(sum(training_tokens), 0) AS tokens
            FROM jobs
            WHERE ($1::text IS NULL OR tenant_id = $1)
              AND ($2::timestamptz IS NULL OR created_at >= $2)
            GROUP BY {column}, status
        )
        SELECT key, sum(jobs)::bigint AS total_jobs,
               jsonb_object_agg(status, jobs) AS jobs_by_status,
               sum(cost)::float8 AS training_cost,
               sum(tokens)::bigint AS training_tokens
        FROM by_status
        GROUP BY key
        ORDER BY key
        """,
        tenant,
        since,
    )


async def jobs_by_stage(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    """Unfinished jobs per stage and how long the oldest has gone without a change."""
    return await pool.fetch(
        """
        SELECT stage, count(*)::int AS jobs, max(now() - stage_changed_at) AS oldest
        FROM jobs WHERE status_rank < 9
        GROUP BY stage
        """
    )
