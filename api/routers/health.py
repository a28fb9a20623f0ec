"""Health and service statistics."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from api.auth import READ, Caller, require
from api.repository import service_stats
from api.schemas import HealthChecks, HealthResponse, ServiceStats
from api.state import AppState, app_state

router = APIRouter(tags=["Health"])

StateDep = Annotated[AppState, Depends(app_state)]
CallerDep = Annotated[Caller, Depends(require(READ))]
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
        _check(st.pool.fetchval("SELECT 1")),
        _check(st.temporal.service_client.check_health()),
        _check(st.openai.with_options(max_retries=0).models.list()),
    )
    checks = HealthChecks(database=database, temporal=temporal, openai=provider)
    healthy = all(v == "healthy" for v in (database, temporal, provider))
    body = HealthResponse(
        status="healthy" if healthy else "unhealthy", version=SERVICE_VERSION, checks=checks
    )
    return JSONResponse(status_code=200 if healthy else 503, content=body.model_dump())


async def _stats(st: AppState, caller: Caller) -> ServiceStats:
    row = await service_stats(st.pool, caller.tenant_filter())
    return ServiceStats(**dict(row))


@router.get("/trainer/stats", response_model=ServiceStats, summary="Get service statistics")
async def trainer_stats(caller: CallerDep, st: StateDep) -> ServiceStats:
    return await _stats(st, caller)


@router.get("/stats", response_model=ServiceStats, summary="Get service statistics (alias)")
async def stats(caller: CallerDep, st: StateDep) -> ServiceStats:
    return await _stats(st, caller)
