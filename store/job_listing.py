"""Job pages and service totals: each answered by one statement over indexed columns.

A page of the job list is one query: the page's ids come from an index that matches the
filters and the order (newest first, ties by id), and only those rows are then read, each
with its latest evaluation and promotion (LEFT JOIN LATERAL). The total is counted in the
same statement, from the running tallies of migration 007, so page and total agree. The
indexes are in migration 006.

Every read takes the caller's tenant filter (None = all tenants, for admins).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from pydantic import BaseModel

from core.models import EvaluationStatus
from store.rows import JobRow, Row


class LatestEvaluation(Row):
    """The columns of a job's latest evaluation that the job's own answer shows."""

    id: uuid.UUID
    status: EvaluationStatus
    pedagogy_score: float | None
    safety_score: float | None
    overall_score: float | None
    passed: bool | None
    # The same scores' intervals, as the stored summary holds them (None before intervals).
    pedagogy: dict[str, Any] | None = None
    safety: dict[str, Any] | None = None
    overall: dict[str, Any] | None = None
    # Each threshold's and limit's gate decision (None before gates).
    gates: list[dict[str, Any]] | None = None


# LatestEvaluation's fields read from the stored summary rather than a column.
_EVALUATION_SUMMARY_PARTS = ("pedagogy", "safety", "overall", "gates")


class LatestPromotion(Row):
    """The columns of a job's latest promotion that the job's own answer shows."""

    id: uuid.UUID
    promoted: bool
    promotion_reason: str | None
    registry_model_id: str | None
    registry_version_id: str | None
    registry_binding_id: str | None


class ListedJob(BaseModel):
    """A job as the API shows it: its row, its latest evaluation and promotion."""

    job: JobRow
    evaluation: LatestEvaluation | None
    promotion: LatestPromotion | None


class JobPage(BaseModel):
    jobs: list[ListedJob]
    total: int


class ServiceTotals(Row):
    total_jobs: int
    active_jobs: int
    completed_jobs: int
    failed_jobs: int
    total_evaluations: int
    passed_evaluations: int
    failed_evaluations: int
    total_promotions: int
    successful_promotions: int
    average_training_time: float | None
    total_training_cost: float


class UsageRow(Row):
    key: str
    total_jobs: int
    jobs_by_status: dict[str, int]
    training_cost: float
    training_tokens: int


class StageCount(Row):
    stage: str
    jobs: int
    oldest: timedelta | None


# The API's largest page (`limit` is 1..100).
MAX_PAGE_SIZE = 100
_EVALUATION_COLUMNS = list(LatestEvaluation.model_fields)
_EVALUATION_READS = [
    f"results -> '{c}' AS {c}" if c in _EVALUATION_SUMMARY_PARTS else c for c in _EVALUATION_COLUMNS
]
_PROMOTION_COLUMNS = list(LatestPromotion.model_fields)
_SELECT_LIST = ", ".join(
    ["j.*"]
    + [f"ev.{c} AS ev_{c}" for c in _EVALUATION_COLUMNS]
    + [f"pr.{c} AS pr_{c}" for c in _PROMOTION_COLUMNS]
)
# The latest evaluation and promotion of a job, read through (job_id, created_at DESC).
_LATEST = f"""
    LEFT JOIN LATERAL (
        SELECT {", ".join(_EVALUATION_READS)} FROM evaluations
        WHERE job_id = j.id ORDER BY created_at DESC LIMIT 1
    ) ev ON true
    LEFT JOIN LATERAL (
        SELECT {", ".join(_PROMOTION_COLUMNS)} FROM promotions
        WHERE job_id = j.id ORDER BY created_at DESC LIMIT 1
    ) pr ON true
"""


def _job_filter(
    tenant: str | None, status: str | None, provider: str | None
) -> tuple[str, list[object]]:
    """WHERE text naming only the filters given, so each combination gets a plan (and an
    index) of its own instead of one generic plan full of `$n IS NULL OR ...`."""
    conditions: list[str] = []
    args: list[object] = []
    for column, value in (("tenant_id", tenant), ("status", status), ("provider", provider)):
        if value is not None:
            args.append(value)
            conditions.append(f"{column} = ${len(args)}")
    return (" AND ".join(conditions) or "true"), args


def _listed(record: asyncpg.Record) -> ListedJob:
    evaluation = (
        LatestEvaluation.model_validate({c: record[f"ev_{c}"] for c in _EVALUATION_COLUMNS})
        if record["ev_id"] is not None
        else None
    )
    promotion = (
        LatestPromotion.model_validate({c: record[f"pr_{c}"] for c in _PROMOTION_COLUMNS})
        if record["pr_id"] is not None
        else None
    )
    return ListedJob(job=JobRow.from_record(record), evaluation=evaluation, promotion=promotion)


async def list_jobs(
    pool: asyncpg.Pool,
    tenant: str | None,
    status: str | None,
    provider: str | None,
    offset: int,
    limit: int,
) -> JobPage:
    """One page, newest first (ties by id), and the number of jobs matching the filters.

    The page's ids are picked from the index alone (an offset skips index entries, never
    rows); one row comes back even past the end, carrying the total."""
    where, args = _job_filter(tenant, status, provider)
    # LIMIT is written into the text: a generic plan for `LIMIT $n` (which PostgreSQL
    # switches to after a few runs) expects a tenth of the table and hash-joins it whole.
    # A page size is a bounded int, so there are at most a few such statements.
    page_size = int(limit)
    if not 0 < page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page size {limit} is outside 1..{MAX_PAGE_SIZE}")
    records = await pool.fetch(
        f"""
        WITH page AS (
            SELECT id FROM jobs WHERE {where}
            ORDER BY created_at DESC, id LIMIT {page_size} OFFSET ${len(args) + 1}
        ),
        matching AS (SELECT COALESCE(sum(jobs), 0)::bigint AS total
                     FROM job_tallies WHERE {where})
        SELECT matching.total, listed.*
        FROM matching LEFT JOIN (
            SELECT {_SELECT_LIST}
            FROM page JOIN jobs j ON j.id = page.id
            {_LATEST}
        ) listed ON true
        ORDER BY listed.created_at DESC, listed.id
        """,
        *args,
        offset,
    )
    total = int(records[0]["total"])
    jobs = [_listed(r) for r in records if r["id"] is not None]
    return JobPage(jobs=jobs, total=total)


async def get_listed_job(pool: asyncpg.Pool, job_id: str, tenant: str | None) -> ListedJob | None:
    """One job as the list shows it, in one query; None when the caller cannot see it."""
    scope = "" if tenant is None else "AND j.tenant_id = $2"
    record = await pool.fetchrow(
        f"SELECT {_SELECT_LIST} FROM jobs j {_LATEST} WHERE j.id = $1 {scope}",
        job_id,
        *([] if tenant is None else [tenant]),
    )
    return _listed(record) if record is not None else None


def _since_filter(tenant: str | None, since: datetime | None) -> tuple[str, list[object]]:
    conditions: list[str] = []
    args: list[object] = []
    if tenant is not None:
        args.append(tenant)
        conditions.append(f"tenant_id = ${len(args)}")
    if since is not None:
        args.append(since)
        conditions.append(f"created_at >= ${len(args)}")
    return (" AND ".join(conditions) or "true"), args


# Jobs per (tenant, base model, status): from the tallies, or counted since a time.
_TALLIED_GROUPS = """
    SELECT tenant_id, base_model, status, sum(jobs)::bigint AS jobs,
           sum(training_cost)::float8 AS cost, sum(training_tokens)::bigint AS tokens,
           sum(duration_sum)::bigint AS duration_sum, sum(durations)::bigint AS durations
    FROM job_tallies WHERE {where}
    GROUP BY tenant_id, base_model, status HAVING sum(jobs) > 0
"""
_COUNTED_GROUPS = """
    SELECT tenant_id, base_model, status, count(*) AS jobs,
           COALESCE(sum(training_cost), 0)::float8 AS cost,
           COALESCE(sum(training_tokens), 0)::bigint AS tokens,
           COALESCE(sum(training_duration), 0)::bigint AS duration_sum,
           count(training_duration) AS durations
    FROM jobs WHERE {where}
    GROUP BY tenant_id, base_model, status
"""


class ServiceUsage(BaseModel):
    totals: ServiceTotals
    by_tenant: list[UsageRow]
    by_base_model: list[UsageRow]


class _UsageGroup(Row):
    """Jobs of one (tenant, base model, status), or evaluations or promotions by status."""

    kind: str
    tenant_id: str | None
    base_model: str | None
    status: str
    tenant_rank: int
    model_rank: int
    jobs: int
    cost: float
    tokens: int
    duration_sum: int
    durations: int


async def service_stats(
    pool: asyncpg.Pool, tenant: str | None, since: datetime | None = None
) -> ServiceUsage:
    """The contract's totals over jobs, evaluations and promotions created since `since`,
    and the jobs by tenant and by base model, in one statement.

    The jobs come grouped by (tenant, base model, status), from the running tallies when
    every job counts, else from one pass over the jobs since then; they are folded here
    (costs with `math.fsum`, whose result does not depend on the order groups arrive in)."""
    where, args = _since_filter(tenant, since)
    job_groups = _TALLIED_GROUPS if since is None else _COUNTED_GROUPS
    records = await pool.fetch(
        f"""
        WITH groups AS ({job_groups.format(where=where)})
        SELECT 'jobs' AS kind, tenant_id, base_model, status,
               dense_rank() OVER (ORDER BY tenant_id) AS tenant_rank,
               dense_rank() OVER (ORDER BY base_model) AS model_rank,
               jobs, cost, tokens, duration_sum, durations
        FROM groups
        UNION ALL
        SELECT 'evaluations', NULL, NULL, status, 0, 0, count(*), 0, 0, 0, 0
        FROM evaluations WHERE {where} GROUP BY status
        UNION ALL
        SELECT 'promotions', NULL, NULL, promoted::text, 0, 0, count(*), 0, 0, 0, 0
        FROM promotions WHERE {where} GROUP BY promoted
        """,
        *args,
    )
    return _fold([_UsageGroup.from_record(r) for r in records])


def _fold(groups: list[_UsageGroup]) -> ServiceUsage:
    jobs = [g for g in groups if g.kind == "jobs"]
    evaluations = {g.status: g.jobs for g in groups if g.kind == "evaluations"}
    promotions = {g.status: g.jobs for g in groups if g.kind == "promotions"}
    by_status = _count_by_status(jobs)
    durations = sum(g.durations for g in jobs)
    totals = ServiceTotals(
        total_jobs=sum(by_status.values()),
        active_jobs=sum(by_status.get(s, 0) for s in _ACTIVE_STATUSES),
        completed_jobs=by_status.get("completed", 0),
        failed_jobs=by_status.get("failed", 0),
        total_evaluations=sum(evaluations.values()),
        passed_evaluations=evaluations.get("passed", 0),
        failed_evaluations=evaluations.get("failed", 0),
        total_promotions=sum(promotions.values()),
        successful_promotions=promotions.get("true", 0),
        average_training_time=(
            sum(g.duration_sum for g in jobs) / durations if durations else None
        ),
        total_training_cost=math.fsum(g.cost for g in jobs),
    )
    return ServiceUsage(
        totals=totals,
        by_tenant=_usage(jobs, lambda g: (g.tenant_rank, g.tenant_id or "")),
        by_base_model=_usage(jobs, lambda g: (g.model_rank, g.base_model or "")),
    )


_ACTIVE_STATUSES = ("pending", "validating", "training", "evaluating")


def _usage(
    groups: list[_UsageGroup], key: Callable[[_UsageGroup], tuple[int, str]]
) -> list[UsageRow]:
    """Per key (in the database's collation order): jobs by status, cost and tokens."""
    folded: dict[tuple[int, str], list[_UsageGroup]] = {}
    for g in groups:
        folded.setdefault(key(g), []).append(g)
    return [
        UsageRow(
            key=name,
            total_jobs=sum(g.jobs for g in members),
            jobs_by_status=_count_by_status(members),
            training_cost=math.fsum(g.cost for g in members),
            training_tokens=sum(g.tokens for g in members),
        )
        for (_, name), members in sorted(folded.items())
    ]


def _count_by_status(groups: list[_UsageGroup]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for g in groups:
        counts[g.status] = counts.get(g.status, 0) + g.jobs
    return counts


async def jobs_by_stage(pool: asyncpg.Pool) -> list[StageCount]:
    """Unfinished jobs per stage and how long the oldest has gone without a change."""
    records = await pool.fetch(
        """
        SELECT stage, count(*)::int AS jobs, max(now() - stage_changed_at) AS oldest
        FROM jobs WHERE status_rank < 9
        GROUP BY stage
        """
    )
    return [StageCount.from_record(r) for r in records]
