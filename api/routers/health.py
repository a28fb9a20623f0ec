"""Health and service statistics."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from api.auth import Caller
from api.deps import CallerDep, StateDep
from api.json_body import StrictJSONRoute
from api.schemas import (
    BaseModelUsage,
    HealthChecks,
    HealthResponse,
    ServiceStats,
    TenantUsage,
)
from api.state import AppState
from core.bounds import UtcConvertibleDatetime
from core.json_types import DateTimeText
from store.health import ping
from store.job_listing import UsageRow, service_stats

router = APIRouter(tags=["Health"], route_class=StrictJSONRoute)

SinceQuery = Annotated[
    Annotated[UtcConvertibleDatetime, DateTimeText] | None,
    Query(
        description="ISO 8601 date-time: count only jobs, evaluations and promotions created "
        "since then (without an offset, UTC).",
    ),
]
CHECK_TIMEOUT_SECONDS = 3.0
SERVICE_VERSION = "1.0.0"


async def _check(probe: asyncio.Future[object] | object) -> str:
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT_SECONDS)  # type: ignore[arg-type]
    except Exception as err:  # any failure means "not reachable"; the type says why
        return f"unhealthy: {type(err).__name__}"
    return "healthy"


@router.get(
    "/health",
    response_model=HealthResponse,
    responses={503: {"model": HealthResponse}},
    summary="Health check",
)
async def health(st: StateDep) -> JSONResponse:
    database, temporal, provider = await asyncio.gather(
        _check(ping(st.pool)),
        _check(st.temporal.service_client.check_health()),
        _check(st.openai.with_options(max_retries=0).models.list()),
    )
    checks = HealthChecks(database=database, temporal=temporal, openai=provider)
    healthy = all(v == "healthy" for v in (database, temporal, provider))
    body = HealthResponse(
        status="healthy" if healthy else "unhealthy", version=SERVICE_VERSION, checks=checks
    )
    return JSONResponse(status_code=200 if healthy else 503, content=body.model_dump())


async def _stats(st: AppState, caller: Caller, since: datetime | None) -> ServiceStats:
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    usage = await service_stats(st.pool, caller.tenant_filter(), since)
    return ServiceStats(
        **usage.totals.model_dump(),
        since=since,
        by_tenant=[TenantUsage(tenant_id=r.key, **_usage(r)) for r in usage.by_tenant],
        by_base_model=[BaseModelUsage(base_model=r.key, **_usage(r)) for r in usage.by_base_model],
    )


def _usage(row: UsageRow) -> dict[str, Any]:
    return row.model_dump(exclude={"key"})


@router.get("/trainer/stats", response_model=ServiceStats, summary="Get service statistics")
async def trainer_stats(caller: CallerDep, st: StateDep, since: SinceQuery = None) -> ServiceStats:
    return await _stats(st, caller, since)


@router.get("/stats", response_model=ServiceStats, summary="Get service statistics (alias)")
async def stats(caller: CallerDep, st: StateDep, since: SinceQuery = None) -> ServiceStats:
    return await _stats(st, caller, since)
