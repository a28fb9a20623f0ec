"""Fingerprints of a job's training prompts, for the evaluation's contamination check."""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg


async def save_fingerprints(pool: asyncpg.Pool, job_id: str, fingerprints: Iterable[int]) -> int:
    """Replace the job's fingerprints (a retried validate step leaves no stale ones).

    Returns how many distinct fingerprints were stored.
    """
    distinct = sorted(set(fingerprints))
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM training_fingerprints WHERE job_id = $1", job_id)
        if distinct:
            await conn.copy_records_to_table(
                "training_fingerprints",
                records=[(job_id, fp) for fp in distinct],
                columns=["job_id", "fingerprint"],
            )
    return len(distinct)


async def load_fingerprints(pool: asyncpg.Pool, job_id: str) -> set[int]:
    rows = await pool.fetch(
        "SELECT fingerprint FROM training_fingerprints WHERE job_id = $1", job_id
    )
    return {int(r["fingerprint"]) for r in rows}


async def matching_fingerprints(
    pool: asyncpg.Pool, job_id: str, candidates: Iterable[int]
) -> set[int]:
    """Which of `candidates` are among the job's fingerprints (reads a suite's worth of
    rows, however large the training set)."""
    wanted = sorted(set(candidates))
    if not wanted:
        return set()
    rows = await pool.fetch(
        """
        SELECT fingerprint FROM training_fingerprints
        WHERE job_id = $1 AND fingerprint = ANY($2::bigint[])
        """,
        job_id,
        wanted,
    )
    return {int(r["fingerprint"]) for r in rows}
