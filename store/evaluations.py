"""Projection writes for evaluations and their per-sample results."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from core.evaluation import EvaluationSummary
from core.models import EvaluationStatus


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


async def load_evaluation(pool: asyncpg.Pool, evaluation_id: str) -> asyncpg.Record:
    row = await pool.fetchrow("SELECT * FROM evaluations WHERE id = $1", evaluation_id)
    if row is None:
        raise LookupError(f"evaluation {evaluation_id} not found in the projection")
    return row


async def save_samples(
    pool: asyncpg.Pool, evaluation_id: str, role: str, samples: list[dict[str, Any]]
) -> None:
    """Upsert per-sample results (a retried suite overwrites its own rows, nothing else)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.executemany(
            """
            INSERT INTO evaluation_samples (evaluation_id, role, suite, sample_id, model,
                input, output, verdicts, score, passed, errored, error, contaminated)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            ON CONFLICT (evaluation_id, role, suite, sample_id) DO UPDATE SET
                model = EXCLUDED.model, input = EXCLUDED.input, output = EXCLUDED.output,
                verdicts = EXCLUDED.verdicts, score = EXCLUDED.score,
                passed = EXCLUDED.passed, errored = EXCLUDED.errored, error = EXCLUDED.error,
                contaminated = EXCLUDED.contaminated
            """,
            [
                (
                    evaluation_id,
                    role,
                    s["suite"],
                    s["sample_id"],
                    s["model"],
                    s["input"],
                    s.get("output"),
                    s["verdicts"],
                    s.get("score"),
                    s.get("passed"),
                    bool(s["errored"]),
                    s.get("error"),
                    bool(s.get("contaminated", False)),
                )
                for s in samples
            ],
        )


async def sample_scores(
    pool: asyncpg.Pool, evaluation_id: str, role: str
) -> dict[str, dict[str, float]]:
    """Scores of non-errored samples by suite and sample id (for paired deltas)."""
    rows = await pool.fetch(
        """
        SELECT suite, sample_id, score FROM evaluation_samples
        WHERE evaluation_id = $1 AND role = $2 AND NOT errored AND score IS NOT NULL
        """,
        evaluation_id,
        role,
    )
    by_suite: dict[str, dict[str, float]] = {}
    for r in rows:
        by_suite.setdefault(r["suite"], {})[r["sample_id"]] = float(r["score"])
    return by_suite


async def finish_evaluation(
    pool: asyncpg.Pool, evaluation_id: str, summary: EvaluationSummary
) -> None:
    status = EvaluationStatus(summary.status)
    results = json.loads(summary.model_dump_json())
    metrics = {
        s.suite: {"mean": s.mean, "ci_low": s.ci_low, "ci_high": s.ci_high, "n": s.n}
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


async def fail_evaluation(pool: asyncpg.Pool, evaluation_id: str, message: str) -> None:
    await pool.execute(
        """
        UPDATE evaluations SET status = 'error', passed = false, error_message = $2,
            updated_at = now(), completed_at = now()
        WHERE id = $1 AND status IN ('pending', 'running')
        """,
        evaluation_id,
        message,
    )
