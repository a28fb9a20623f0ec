"""Evaluations: the API's start and reads (tenant-scoped), and the projection the
evaluation activities write. Per-sample results are in `store.samples`."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from core.evaluation import EvaluationSummary
from core.models import EvaluationStatus
from store.rows import EvaluationRow


async def insert_evaluation(pool: asyncpg.Pool, ev: dict[str, Any]) -> EvaluationRow | None:
    """The new pending evaluation, or None while another one of the job is in flight (the
    partial unique index `evaluations_one_in_flight` decides, so concurrent starts agree)."""
    row = await pool.fetchrow(
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
    return EvaluationRow.from_optional(row)


async def in_flight_evaluation(pool: asyncpg.Pool, job_id: str) -> EvaluationRow | None:
    row = await pool.fetchrow(
        "SELECT * FROM evaluations WHERE job_id = $1 AND status IN ('pending', 'running')",
        job_id,
    )
    return EvaluationRow.from_optional(row)


async def close_evaluation(pool: asyncpg.Pool, evaluation_id: str, message: str) -> None:
    """End an in-flight evaluation that nothing will finish (its workflow never started,
    is gone, or failed), so it stops holding the job's one in-flight slot."""
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
) -> EvaluationRow | None:
    """The evaluation when the tenant filter (None = every tenant) lets the caller see it."""
    row = await pool.fetchrow(
        "SELECT * FROM evaluations WHERE id = $1 AND ($2::text IS NULL OR tenant_id = $2)",
        evaluation_id,
        tenant,
    )
    return EvaluationRow.from_optional(row)


async def latest_evaluation(pool: asyncpg.Pool, job_id: str) -> EvaluationRow | None:
    row = await pool.fetchrow(
        "SELECT * FROM evaluations WHERE job_id = $1 ORDER BY created_at DESC LIMIT 1", job_id
    )
    return EvaluationRow.from_optional(row)


async def list_evaluations(
    pool: asyncpg.Pool,
    tenant: str | None,
    job_id: str | None,
    status: str | None,
    offset: int,
    limit: int,
) -> tuple[list[EvaluationRow], int]:
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
    return [EvaluationRow.from_record(r) for r in rows], int(total)


async def ensure_evaluation(
    pool: asyncpg.Pool,
    *,
    evaluation_id: str,
    job_id: str,
    tenant_id: str,
    name: str,
    description: str | None,
    harness_config: dict[str, Any],
    thresholds: dict[str, Any],
    model: str,
    baseline_model: str | None,
    workflow_id: str,
) -> None:
    """Create the evaluation row (once) and mark it running."""
    await pool.execute(
        """
        INSERT INTO evaluations (id, job_id, tenant_id, name, description, status,
            harness_config, thresholds, model, baseline_model, workflow_id, started_at)
        VALUES ($1, $2, $3, $4, $5, 'running', $6, $7, $8, $9, $10, now())
        ON CONFLICT (id) DO UPDATE SET
            status = CASE WHEN evaluations.status = 'pending' THEN 'running'
                          ELSE evaluations.status END,
            model = EXCLUDED.model, baseline_model = EXCLUDED.baseline_model,
            started_at = COALESCE(evaluations.started_at, now()), updated_at = now()
        """,
        evaluation_id,
        job_id,
        tenant_id,
        name,
        description,
        harness_config,
        thresholds,
        model,
        baseline_model,
        workflow_id,
    )


async def load_evaluation(pool: asyncpg.Pool, evaluation_id: str) -> EvaluationRow:
    row = await pool.fetchrow("SELECT * FROM evaluations WHERE id = $1", evaluation_id)
    if row is None:
        raise LookupError(f"evaluation {evaluation_id} not found in the projection")
    return EvaluationRow.from_record(row)


async def finish_evaluation(
    pool: asyncpg.Pool, evaluation_id: str, summary: EvaluationSummary
) -> None:
    status = EvaluationStatus(summary.status)
    results = json.loads(summary.model_dump_json())
    metrics = {
        s.suite: {
            "mean": s.mean,
            "ci_low": s.ci_low,
            "ci_high": s.ci_high,
            "n": s.n,
            "interval_method": s.interval_method.value,
        }
        for s in summary.suites
    }
    await pool.execute(
        """
        UPDATE evaluations SET status = $2, pedagogy_score = $3, safety_score = $4,
            overall_score = $5, passed = $6, results = $7, metrics = $8,
            error_message = $9, updated_at = now(), completed_at = now()
        WHERE id = $1
        """,
        evaluation_id,
        status.value,
        summary.pedagogy_score,
        summary.safety_score,
        summary.overall_score,
        summary.passed,
        results,
        metrics,
        summary.error_message,
    )
