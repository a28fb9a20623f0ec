"""Reads of `job_events`: the provider events of a job, in arrival order. The training
activities record them (`store.jobs.record_events`)."""

from __future__ import annotations

import asyncpg

from store.rows import EventRow


async def list_events(
    pool: asyncpg.Pool, job_id: str, offset: int, limit: int
) -> tuple[list[EventRow], int]:
    rows = await pool.fetch(
        "SELECT * FROM job_events WHERE job_id = $1 ORDER BY seq LIMIT $2 OFFSET $3",
        job_id,
        limit,
        offset,
    )
    total = await pool.fetchval("SELECT count(*) FROM job_events WHERE job_id = $1", job_id)
    return [EventRow.from_record(r) for r in rows], int(total)
