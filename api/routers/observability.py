"""GET /metrics: Prometheus text for scrapers (unauthenticated, like /health).

Besides this process's own counters, the per-stage gauges are read from PostgreSQL at scrape
time, so every API replica reports the same numbers whichever worker moved the jobs.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from api.deps import StateDep
from api.json_body import StrictJSONRoute
from api.state import AppState
from core.metrics import SnapshotCollector, stage_families
from core.models import JobStage
from store.job_listing import jobs_by_stage

router = APIRouter(tags=["Health"], route_class=StrictJSONRoute)
log = logging.getLogger("api.metrics")

STAGE_QUERY_TIMEOUT_SECONDS = 3.0
UNFINISHED_STAGES = [stage.value for stage in JobStage if stage is not JobStage.done]


async def _stage_metrics(st: AppState) -> bytes:
    try:
        rows = await asyncio.wait_for(jobs_by_stage(st.pool), STAGE_QUERY_TIMEOUT_SECONDS)
    except Exception as err:  # database down or slow: the rest of the scrape still counts
        log.warning("jobs-in-stage gauges unavailable: %s", type(err).__name__)
        return b""
    snapshot = CollectorRegistry(auto_describe=False)
    snapshot.register(
        SnapshotCollector(
            stage_families(((r.stage, r.jobs, r.oldest) for r in rows), UNFINISHED_STAGES)
        )
    )
    return generate_latest(snapshot)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    summary="Prometheus metrics",
    description="Prometheus text exposition: this process's counters and histograms, and "
    "`trainer_jobs_in_stage` / `trainer_job_stage_age_seconds_max` read from the database.",
)
async def metrics(st: StateDep) -> Response:
    body = generate_latest(REGISTRY) + await _stage_metrics(st)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
