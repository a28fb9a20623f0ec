"""The API's job list and the stats computed in the database.

Every read takes the caller's tenant filter (None = all tenants, for admins), so another
tenant's rows are simply not found.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg


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
