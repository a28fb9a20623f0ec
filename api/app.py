"""The FastAPI application: a thin layer over Temporal (start/query/signal/cancel) and the
PostgreSQL projection (lists, filters, stats)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.auth import warn_if_disabled
from api.base_models import BaseModelCheck
from api.body_limit import BodySizeLimitMiddleware
from api.catch_all import CatchAllMiddleware
from api.db_unavailable import install_database_unavailable_handler
from api.errors import install_error_handlers
from api.request_context import RequestContextMiddleware
from api.routers import (
    approvals,
    datasets,
    evaluations,
    health,
    jobs,
    metrics_view,
    observability,
    promotions,
)
from api.state import AppState
from core.db import open_database
from core.logging import configure_logging
from core.openai_client import make_openai_client
from core.settings import Settings, get_settings
from workflows.connection import connect

API_DESCRIPTION = """\
The Model Trainer Service fine-tunes a model for a tenant, proves its dataset is sound and
documented, evaluates the result for pedagogy and safety, and registers it in the Model
Registry only when it passes. Each job is one durable Temporal workflow
(`training-job-{id}`).

Extensions to the original contract: `Idempotency-Key` on job creation, job `stage`,
`progress`, `tenantId`, `temporalUrl`, `/trainer/jobs/{id}/events`, `/trainer/jobs/{id}/cancel`,
`/trainer/evaluations/{id}` and `/samples`, `/trainer/jobs/{id}/model-card`, and `GET /stats`.
Registry ids are the registry's integers, returned as strings.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # Here rather than at import: `uvicorn --factory` has configured its loggers by now.
    configure_logging(settings.log_level, service="model-trainer-api")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await open_database(settings.database_url, max_size=settings.database_pool_max)
        temporal = await connect(settings.temporal_address, settings.temporal_namespace)
        openai_client = make_openai_client(settings, max_retries=0)
        app.state.trainer = AppState(
            settings=settings,
            pool=pool,
            temporal=temporal,
            openai=openai_client,
            base_models=BaseModelCheck(openai_client, settings.base_model_cache_seconds),
        )
        logging.getLogger("api").info("model trainer API ready")
        try:
            yield
        finally:
            await openai_client.close()
            await pool.close()

    warn_if_disabled(settings)
    app = FastAPI(
        title="Model Trainer Service",
        version="1.0.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    install_database_unavailable_handler(app)
    for router in (
        jobs.router,
        evaluations.router,
        promotions.router,
        approvals.router,
        health.router,
    ):
        app.include_router(router)
    app.include_router(metrics_view.router)
    app.include_router(datasets.router)
    app.include_router(observability.router)
    # Outermost last: request ids and access lines cover every answer, the catch-all's
    # 500s and the size limit's 413s included.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_request_body_bytes)
    app.add_middleware(CatchAllMiddleware)
    app.add_middleware(RequestContextMiddleware)
    return app
