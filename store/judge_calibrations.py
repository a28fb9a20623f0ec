"""Judge calibration runs: written by the calibration command, read by evaluations."""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from core.judge_calibration import Confusion, SuiteCalibration


async def save_calibration(pool: asyncpg.Pool, result: SuiteCalibration) -> None:
    m = result.confusion
    await pool.execute(
        """
        INSERT INTO judge_calibrations (suite, judge_model, prompt_version, gold_sha256, n,
            errored, agreement, kappa, tp, fp, fn, tn)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        """,
        result.suite,
        result.judge_model,
        result.prompt_version,
        result.gold_sha256,
        result.n,
        result.errored,
        result.agreement,
        result.kappa,
        m.tp,
        m.fp,
        m.fn,
        m.tn,
    )


async def latest_calibrations(
    pool: asyncpg.Pool, judge_model: str, prompt_version: str, suites: Iterable[str]
) -> dict[str, SuiteCalibration]:
    """The latest run per suite for this judge model and prompt version."""
    rows = await pool.fetch(
        """
        SELECT DISTINCT ON (suite) * FROM judge_calibrations
        WHERE judge_model = $1 AND prompt_version = $2 AND suite = ANY($3::text[])
        ORDER BY suite, created_at DESC, id DESC
        """,
        judge_model,
        prompt_version,
        list(suites),
    )
    return {
        row["suite"]: SuiteCalibration(
            suite=row["suite"],
            judge_model=row["judge_model"],
            prompt_version=row["prompt_version"],
            gold_sha256=row["gold_sha256"],
            n=row["n"],
            errored=row["errored"],
            agreement=row["agreement"],
            kappa=row["kappa"],
            confusion=Confusion(tp=row["tp"], fp=row["fp"], fn=row["fn"], tn=row["tn"]),
        )
        for row in rows
    }
