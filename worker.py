"""Run the Model Trainer workflows and activities on the configured task queue."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import prometheus_client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker

from activities.bookkeeping import BookkeepingActivities
from activities.datasets.activities import DatasetActivities
from activities.deps import ActivityDeps
from activities.evaluation.activities import EvaluationActivities
from activities.log_context import ActivityLogContext
from activities.promotion import PromotionActivities
from activities.providers.activities import ProviderActivities
from core.logging import configure_logging
from core.settings import Settings, get_settings
from workflows.connection import connect
from workflows.datasets import DatasetCheckWorkflow
from workflows.evaluation import EvaluationWorkflow
from workflows.promotion import PromotionWorkflow
from workflows.training import TrainingJobWorkflow

WORKFLOWS = [TrainingJobWorkflow, EvaluationWorkflow, PromotionWorkflow, DatasetCheckWorkflow]


def activities_for(deps: ActivityDeps) -> list[Callable[..., Any]]:
    datasets = DatasetActivities(deps)
    providers = ProviderActivities(deps)
    evaluation = EvaluationActivities(deps)
    promotion = PromotionActivities(deps)
    bookkeeping = BookkeepingActivities(deps)
    return [
        datasets.validate_dataset,
        datasets.inspect_dataset,
        providers.launch_fine_tune,
        providers.wait_for_fine_tune,
        providers.cancel_fine_tune,
        evaluation.start_evaluation,
        evaluation.grade_small_evaluation,
        evaluation.run_evaluation_suite,
        evaluation.finish_evaluation,
        promotion.promote_model,
        bookkeeping.record_job_status,
        bookkeeping.finish_job,
        bookkeeping.force_finish_job,
        bookkeeping.fail_evaluation_record,
        bookkeeping.fail_promotion_record,
    ]


def sdk_metrics_runtime(port: int) -> Runtime | None:
    """A Temporal runtime exporting the SDK's own metrics on `port` (0: the default one)."""
    if not port:
        return None
    prometheus = PrometheusConfig(bind_address=f"0.0.0.0:{port}", durations_as_seconds=True)
    return Runtime(telemetry=TelemetryConfig(metrics=prometheus))


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    log = logging.getLogger("worker")
    metrics_server = None
    if settings.worker_metrics_port:
        metrics_server, _ = prometheus_client.start_http_server(settings.worker_metrics_port)
        log.info("worker metrics on :%d/metrics", settings.worker_metrics_port)
    client = await connect(
        settings.temporal_address,
        settings.temporal_namespace,
        runtime=sdk_metrics_runtime(settings.temporal_sdk_metrics_port),
    )
    deps = await ActivityDeps.open(settings)
    try:
        worker = Worker(
            client,
            task_queue=settings.temporal_task_queue,
            workflows=WORKFLOWS,
            activities=activities_for(deps),
            interceptors=[ActivityLogContext()],
            graceful_shutdown_timeout=timedelta(seconds=10),
        )
        async with worker:
            log.info("worker running on task queue %s", settings.temporal_task_queue)
            await stop.wait()
    finally:
        await deps.close()
        if metrics_server is not None:
            metrics_server.shutdown()


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, service="model-trainer-worker")
    stop = asyncio.Event()

    async def runner() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop)

    asyncio.run(runner())


if __name__ == "__main__":
    main()
