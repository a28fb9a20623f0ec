"""Promotions: the API's request row and reads, and the projection the promotion activity
writes (registry ids as strings, and the decision trail)."""

from __future__ import annotations

from typing import Any

import asyncpg

from core.models import Provider
from store.rows import ChampionRow, PromotionRow, Row


async def requested_promotion(pool: asyncpg.Pool, promo: dict[str, Any]) -> PromotionRow:
    """The job's promotion row for this evaluation (`request_key`), created 'in progress'
    when there is none yet. One statement under a unique index, so concurrent requests all
    get the same row."""
    row = await pool.fetchrow(
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
    assert row is not None  # an upsert with RETURNING always returns its row
    return PromotionRow.from_record(row)


async def latest_promotion(pool: asyncpg.Pool, job_id: str) -> PromotionRow | None:
    row = await pool.fetchrow(
        "SELECT * FROM promotions WHERE job_id = $1 ORDER BY created_at DESC LIMIT 1", job_id
    )
    return PromotionRow.from_optional(row)


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


async def load_promotion(pool: asyncpg.Pool, promotion_id: str) -> PromotionRow | None:
    row = await pool.fetchrow("SELECT * FROM promotions WHERE id = $1", promotion_id)
    return PromotionRow.from_optional(row)


async def fail_promotion(pool: asyncpg.Pool, promotion_id: str, message: str) -> None:
    """Close a promotion row that no decision was recorded for (its workflow failed)."""
    await pool.execute(
        """
        UPDATE promotions SET promoted = false, promotion_reason = 'promotion failed',
            error_message = $2,
            decision = decision || '{"outcome": "failed"}'::jsonb, updated_at = now()
        WHERE id = $1 AND NOT (decision ? 'outcome')
        """,
        promotion_id,
        message,
    )


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
) -> ChampionRow | None:
    """The tenant's latest promoted model under this job name (another job's)."""
    row = await pool.fetchrow(
        """
        SELECT p.job_id, p.evaluation_id, j.provider_model_id
        FROM promotions p JOIN jobs j ON j.id = p.job_id
        WHERE p.tenant_id = $1 AND j.name = $2 AND p.promoted AND p.job_id <> $3
          AND j.provider_model_id IS NOT NULL
        ORDER BY p.updated_at DESC LIMIT 1
        """,
        tenant_id,
        job_name,
        exclude_job_id,
    )
    return ChampionRow.from_optional(row)


class ModelSource(Row):
    """Which provider serves a model an evaluation grades: its job's provider, and the
    provider of the tenant's job that produced the model (None for a base model), with
    that job's adapter when it is a self-hosted one."""

    job_provider: Provider
    base_model: str
    model_provider: Provider | None
    model_adapter_uri: str | None = None


async def model_source(pool: asyncpg.Pool, job_id: str, model: str) -> ModelSource | None:
    """The job's provider and base model, and the provider (and adapter) of the tenant's
    job whose fine-tuned model is `model` (a champion graded as the baseline, or the
    candidate)."""
    row = await pool.fetchrow(
        """
        SELECT j.provider AS job_provider, j.base_model, o.provider AS model_provider,
            o.provider_metadata ->> 'adapter_uri' AS model_adapter_uri
        FROM jobs j
        LEFT JOIN LATERAL (
            SELECT provider, provider_metadata FROM jobs
            WHERE tenant_id = j.tenant_id AND provider_model_id = $2
            ORDER BY created_at DESC LIMIT 1
        ) o ON true
        WHERE j.id = $1
        """,
        job_id,
        model,
    )
    return ModelSource.from_optional(row)


def serving_provider(source: ModelSource | None, model: str) -> Provider:
    """The provider whose endpoint serves `model`: the one that trained it, else (a base
    model) the job's own provider; OpenAI when the job is gone."""
    if source is None:
        return Provider.openai
    if source.model_provider is not None and model != source.base_model:
        return source.model_provider
    return source.job_provider
