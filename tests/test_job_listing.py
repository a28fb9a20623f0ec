"""The job list and the stats against a plain reading of the same rows: every filter
combination, pages at the edges (first, last, partial, past the end), ties in created_at,
and the latest evaluation and promotion of each listed job."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from core.db import create_pool
from scripts.stack import fresh_database
from store.job_listing import get_listed_job, jobs_by_stage, list_jobs, service_stats

T0 = datetime(2026, 1, 1, tzinfo=UTC)
STATUSES = ["pending", "training", "completed", "failed"]
TENANTS = ["listing_a", "listing_b"]
PROVIDERS = ["openai", "bedrock"]


@pytest.fixture(scope="module")
async def pool() -> AsyncIterator[asyncpg.Pool]:
    """A database of this module's own: the admin views count every job in it."""
    async with fresh_database(f"model_trainer_listing_{os.getpid()}", migrate=True) as url:
        db = await create_pool(url, max_size=2)
        yield db
        await db.close()


@pytest.fixture(scope="module")
async def jobs(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    """30 jobs, three per instant (ties in created_at), with evaluations and promotions."""
    made: list[dict[str, Any]] = []
    for n in range(30):
        status = STATUSES[n % 4]
        job: dict[str, Any] = {
            "id": uuid.uuid4(),
            "tenant_id": TENANTS[n % 2],
            "status": status,
            "provider": PROVIDERS[(n // 3) % 2],
            "base_model": ["m-small", "m-large"][n % 3 == 0],
            "created_at": T0 + timedelta(minutes=n // 3),
            "cost": 0.25 * n if status == "completed" else None,
            "tokens": 100 * n if status == "completed" else None,
            "duration": 60 + n if status == "completed" else None,
            "evaluation": None,
            "promotion": None,
        }
        await pool.execute(
            """
            INSERT INTO jobs (id, tenant_id, name, status, status_rank, stage, provider,
                              base_model, dataset_uri, config, policy, datasheet, workflow_id,
                              training_cost, training_tokens, training_duration, created_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'd.jsonl', '{}', '{}', '{}', $9,
                    $10, $11, $12, $13)
            """,
            job["id"],
            job["tenant_id"],
            f"job-{n}",
            status,
            9 if status in ("completed", "failed") else 0,
            "done" if status in ("completed", "failed") else "accepted",
            job["provider"],
            job["base_model"],
            f"training-job-{job['id']}",
            job["cost"],
            job["tokens"],
            job["duration"],
            job["created_at"],
        )
        for k in range(n % 3):  # 0, 1 or 2 evaluations; the later one is the latest
            ev_id, passed = uuid.uuid4(), k == 1 or n % 5 == 0
            await pool.execute(
                """
                INSERT INTO evaluations (id, job_id, tenant_id, name, status, overall_score,
                                         passed, created_at)
                VALUES ($1, $2, $3, 'e', $4, $5, $6, $7)
                """,
                ev_id,
                job["id"],
                job["tenant_id"],
                "passed" if passed else "failed",
                0.1 * k,
                passed,
                job["created_at"] + timedelta(seconds=10 + k),
            )
            job["evaluation"] = (ev_id, "passed" if passed else "failed", 0.1 * k)
        if n % 4 == 2 and job["evaluation"]:
            for k in range(2):
                pr_id = uuid.uuid4()
                await pool.execute(
                    """
                    INSERT INTO promotions (id, job_id, tenant_id, promoted, promotion_reason,
                                            registry_version_id, created_at)
                    VALUES ($1, $2, $3, $4, $5, $6, $7)
                    """,
                    pr_id,
                    job["id"],
                    job["tenant_id"],
                    k == 1,
                    f"reason-{k}",
                    str(k),
                    job["created_at"] + timedelta(seconds=30 + k),
                )
                job["promotion"] = (pr_id, k == 1, f"reason-{k}", str(k))
        made.append(job)
    return made


def _expected(jobs: list[dict[str, Any]], **filters: str | None) -> list[dict[str, Any]]:
    keep = [
        j
        for j in jobs
        if all(value is None or j[column] == value for column, value in filters.items())
    ]
    # Newest first, ties by id ascending (PostgreSQL orders uuids as 128-bit numbers).
    keep.sort(key=lambda j: j["id"].int)
    keep.sort(key=lambda j: j["created_at"], reverse=True)
    return keep


FILTERS = list(itertools.product([None, *TENANTS], [None, *STATUSES], [None, *PROVIDERS]))


@pytest.mark.parametrize(("tenant", "status", "provider"), FILTERS)
async def test_pages_walk_the_filtered_order_with_the_right_total(
    pool: asyncpg.Pool,
    jobs: list[dict[str, Any]],
    tenant: str | None,
    status: str | None,
    provider: str | None,
) -> None:
    expected = [
        j["id"] for j in _expected(jobs, tenant_id=tenant, status=status, provider=provider)
    ]
    whole = await list_jobs(pool, tenant, status, provider, 0, 100)
    assert [j.job.id for j in whole.jobs] == expected
    assert whole.total == len(expected)
    for limit in (1, 2, 7):
        walked: list[uuid.UUID] = []
        for offset in range(0, len(expected) + limit, limit):
            page = await list_jobs(pool, tenant, status, provider, offset, limit)
            assert page.total == len(expected)
            assert len(page.jobs) == max(0, min(limit, len(expected) - offset))
            walked += [j.job.id for j in page.jobs]
        assert walked == expected
    beyond = await list_jobs(pool, tenant, status, provider, 2**31 - 1, 100)
    assert (beyond.jobs, beyond.total) == ([], len(expected))


async def test_each_listed_job_carries_its_latest_evaluation_and_promotion(
    pool: asyncpg.Pool, jobs: list[dict[str, Any]]
) -> None:
    page = await list_jobs(pool, None, None, None, 0, 100)
    by_id = {j["id"]: j for j in jobs}
    assert sum(1 for j in page.jobs if j.promotion) >= 3
    for listed in page.jobs:
        want = by_id[listed.job.id]
        ev, pr = listed.evaluation, listed.promotion
        got_ev = (ev.id, ev.status.value, ev.overall_score) if ev else None
        assert got_ev == want["evaluation"]
        got_pr = (pr.id, pr.promoted, pr.promotion_reason, pr.registry_version_id) if pr else None
        assert got_pr == want["promotion"]
        one = await get_listed_job(pool, str(listed.job.id), None)
        assert one == listed
        assert await get_listed_job(pool, str(listed.job.id), want["tenant_id"]) == listed
        other = TENANTS[1 - TENANTS.index(want["tenant_id"])]
        assert await get_listed_job(pool, str(listed.job.id), other) is None
    assert await get_listed_job(pool, str(uuid.uuid4()), None) is None


@pytest.mark.parametrize("tenant", [None, *TENANTS])
@pytest.mark.parametrize("since_minutes", [None, 4, 100])
async def test_stats_agree_with_the_rows(
    pool: asyncpg.Pool, jobs: list[dict[str, Any]], tenant: str | None, since_minutes: int | None
) -> None:
    since = None if since_minutes is None else T0 + timedelta(minutes=since_minutes)
    seen = [
        j
        for j in jobs
        if (tenant is None or j["tenant_id"] == tenant)
        and (since is None or j["created_at"] >= since)
    ]
    usage = await service_stats(pool, tenant, since)
    totals = usage.totals
    assert totals.total_jobs == len(seen)
    assert totals.completed_jobs == sum(j["status"] == "completed" for j in seen)
    assert totals.failed_jobs == sum(j["status"] == "failed" for j in seen)
    assert totals.active_jobs == sum(j["status"] in ("pending", "training") for j in seen)
    assert totals.total_training_cost == pytest.approx(sum(j["cost"] or 0 for j in seen))
    durations = [j["duration"] for j in seen if j["duration"] is not None]
    if durations:
        assert totals.average_training_time == pytest.approx(sum(durations) / len(durations))
    else:
        assert totals.average_training_time is None
    # Evaluations and promotions are created seconds after their job: same `since` cut.
    evaluations = [j for j in seen for _ in range(jobs.index(j) % 3)]
    assert totals.total_evaluations == len(evaluations)
    assert totals.passed_evaluations + totals.failed_evaluations == len(evaluations)
    promoted = [j for j in seen if j["promotion"]]
    assert totals.total_promotions == 2 * len(promoted)
    assert totals.successful_promotions == len(promoted)

    tenants = {row.key: row for row in usage.by_tenant}
    assert sorted(tenants) == [r.key for r in usage.by_tenant]
    assert set(tenants) == {j["tenant_id"] for j in seen}
    for key, row in tenants.items():
        mine = [j for j in seen if j["tenant_id"] == key]
        assert row.total_jobs == len(mine)
        assert sum(row.jobs_by_status.values()) == len(mine)
        assert row.training_tokens == sum(j["tokens"] or 0 for j in mine)
        assert row.training_cost == pytest.approx(sum(j["cost"] or 0 for j in mine))
        if tenant is None:  # the tenant's own view gives exactly the same numbers
            assert (await service_stats(pool, key, since)).by_tenant == [row]
    models = {row.key: row for row in usage.by_base_model}
    assert set(models) == {j["base_model"] for j in seen}
    for key, row in models.items():
        assert row.total_jobs == sum(j["base_model"] == key for j in seen)


async def test_stage_counts_cover_unfinished_jobs_only(
    pool: asyncpg.Pool, jobs: list[dict[str, Any]]
) -> None:
    stages = {row.stage: row.jobs for row in await jobs_by_stage(pool)}
    assert stages == {"accepted": sum(j["status"] in ("pending", "training") for j in jobs)}


TALLY_TRUTH = """
    SELECT tenant_id, status, provider, base_model, count(*) AS jobs,
           COALESCE(sum(training_cost::numeric), 0) AS training_cost,
           COALESCE(sum(training_tokens), 0) AS training_tokens,
           COALESCE(sum(training_duration), 0) AS duration_sum,
           count(training_duration) AS durations
    FROM jobs GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
"""
TALLIES = """
    SELECT tenant_id, status, provider, base_model, jobs, training_cost, training_tokens,
           duration_sum, durations
    FROM job_tallies WHERE jobs <> 0 ORDER BY 1, 2, 3, 4
"""


async def test_tallies_follow_every_change_to_the_jobs(
    pool: asyncpg.Pool, jobs: list[dict[str, Any]]
) -> None:
    """Runs last: it changes the rows the other tests read."""
    assert [tuple(r) for r in await pool.fetch(TALLIES)] == [
        tuple(r) for r in await pool.fetch(TALLY_TRUTH)
    ]
    ids = [j["id"] for j in jobs]
    await pool.execute("UPDATE jobs SET status = 'completed' WHERE id = $1", ids[0])
    await pool.execute(
        "UPDATE jobs SET training_cost = 1.1, training_tokens = 7, training_duration = 3 "
        "WHERE id = ANY($1::uuid[])",
        ids[1:5],
    )
    await pool.execute(
        "UPDATE jobs SET tenant_id = 'listing_c', provider = 'anthropic' WHERE id = $1", ids[5]
    )
    await pool.execute("UPDATE jobs SET progress = '{\"step\": 1}' WHERE id = $1", ids[6])
    await pool.execute("DELETE FROM jobs WHERE id = ANY($1::uuid[])", ids[7:9])
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("UPDATE jobs SET status = 'failed' WHERE id = $1", ids[9])
        await conn.execute("UPDATE jobs SET status = 'cancelled' WHERE id = $1", ids[9])
    with pytest.raises(asyncpg.PostgresError):
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("UPDATE jobs SET status = 'failed' WHERE id = $1", ids[10])
            await conn.execute("SELECT 1/0")
    assert [tuple(r) for r in await pool.fetch(TALLIES)] == [
        tuple(r) for r in await pool.fetch(TALLY_TRUTH)
    ]
    everything = await list_jobs(pool, None, None, None, 0, 1)
    assert everything.total == len(jobs) - 2
    moved = await list_jobs(pool, "listing_c", None, "anthropic", 0, 100)
    assert [j.job.id for j in moved.jobs] == [ids[5]] and moved.total == 1
    usage = await service_stats(pool, None)
    assert usage.totals.total_jobs == len(jobs) - 2
    assert usage.totals == (await service_stats(pool, None, T0 - timedelta(days=1))).totals

    await pool.execute("TRUNCATE jobs CASCADE")
    assert await pool.fetch(TALLIES) == []
    assert (await list_jobs(pool, None, None, None, 0, 20)).total == 0
