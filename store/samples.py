"""Per-sample results of an evaluation (table `evaluation_samples`), one row per graded
sample of each model: the candidate and, when one ran, the baseline."""

from __future__ import annotations

from typing import Any

import asyncpg

from store.rows import SampleKey, SampleRow


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


async def list_samples(
    pool: asyncpg.Pool, evaluation_id: str, role: str | None, offset: int, limit: int
) -> tuple[list[SampleRow], int]:
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
    return [SampleRow.from_record(r) for r in rows], int(total)


async def sample_scores(
    pool: asyncpg.Pool, evaluation_id: str, role: str
) -> dict[SampleKey, float]:
    """Scores of the role's non-errored samples by (suite, sample id), for paired deltas:
    the evaluation's candidate against its baseline, or a new model against the champion."""
    rows = await pool.fetch(
        """
        SELECT suite, sample_id, score FROM evaluation_samples
        WHERE evaluation_id = $1 AND role = $2 AND NOT errored AND score IS NOT NULL
        """,
        evaluation_id,
        role,
    )
    return {(str(r["suite"]), str(r["sample_id"])): float(r["score"]) for r in rows}
