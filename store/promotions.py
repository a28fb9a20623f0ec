"""Projection writes for promotions: registry ids (as strings) and the decision trail."""

from __future__ import annotations

from typing import Any

import asyncpg


async def upsert_promotion(
    pool: asyncpg.Pool,
    *,
    promotion_id: str,
    job_id: str,
    evaluation_id: str | None,
    tenant_id: str,
    promoted: bool,
    forced: bool,
    reason: str | None,
    metadata: dict[str, Any],
    decision: dict[str, Any],
    registry_model_id: str | None = None,
    registry_version_id: str | None = None,
    registry_binding_id: str | None = None,
    error_message: str | None = None,
) -> None:
    await pool.execute(
        """
        INSERT INTO promotions (id, job_id, evaluation_id, tenant_id, promoted, forced,
            promotion_reason, promotion_metadata, decision, registry_model_id,
            registry_version_id, registry_binding_id, error_message)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
        ON CONFLICT (id) DO UPDATE SET
            promoted = EXCLUDED.promoted, promotion_reason = EXCLUDED.promotion_reason,
            decision = EXCLUDED.decision, forced = EXCLUDED.forced,
            promotion_metadata = EXCLUDED.promotion_metadata,
            registry_model_id = COALESCE(EXCLUDED.registry_model_id,
                                         promotions.registry_model_id),
            registry_version_id = COALESCE(EXCLUDED.registry_version_id,
                                           promotions.registry_version_id),
            registry_binding_id = COALESCE(EXCLUDED.registry_binding_id,
                                           promotions.registry_binding_id),
            error_message = EXCLUDED.error_message, updated_at = now()
        """,
        promotion_id,
        job_id,
        evaluation_id,
        tenant_id,
        promoted,
        forced,
        reason,
        metadata,
        decision,
        registry_model_id,
        registry_version_id,
        registry_binding_id,
        error_message,
    )


async def load_promotion(pool: asyncpg.Pool, promotion_id: str) -> asyncpg.Record | None:
    return await pool.fetchrow("SELECT * FROM promotions WHERE id = $1", promotion_id)


async def complete_failed_job(pool: asyncpg.Pool, job_id: str) -> None:
    """A job that failed at its promotion step and has now been promoted is completed."""
    await pool.execute(
        """
        UPDATE jobs SET status = 'completed', error_code = NULL, error_message = NULL,
            updated_at = now()
        WHERE id = $1 AND status = 'failed' AND provider_model_id IS NOT NULL
        """,
        job_id,
    )


async def current_champion(
    pool: asyncpg.Pool, tenant_id: str, job_name: str, exclude_job_id: str
) -> asyncpg.Record | None:
    """The tenant's latest promoted model under this job name (another job's)."""
    return await pool.fetchrow(
        """
        SELECT p.job_id, p.evaluation_id, j.provider_model_id
        FROM promotions p JOIN jobs j ON j.id = p.job_id
        WHERE p.tenant_id = $1 AND j.name = $2 AND p.promoted AND p.job_id <> $3
        ORDER BY p.updated_at DESC LIMIT 1
        """,
        tenant_id,
        job_name,
        exclude_job_id,
    )


async def scored_samples(
    pool: asyncpg.Pool, evaluation_id: str, role: str
) -> dict[tuple[str, str], float]:
    rows = await pool.fetch(
        """
        SELECT suite, sample_id, score FROM evaluation_samples
        WHERE evaluation_id = $1 AND role = $2 AND NOT errored AND score IS NOT NULL
        """,
        evaluation_id,
        role,
    )
    return {(r["suite"], r["sample_id"]): float(r["score"]) for r in rows}
