"""Run the Model Trainer's workers.

`python worker.py` runs the workflows and every CPU activity on the main task queue.
`python worker.py gpu` runs a GPU worker: only the self-hosted training activity, on the GPU
task queue (`GPU_TASK_QUEUE`), one training at a time. Start one per GPU node, or more:
Temporal spreads trainings over every worker polling the queue.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import prometheus_client
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker

from activities.bookkeeping import BookkeepingActivities
from activities.datasets.activities import DatasetActivities
from activities.deps import ActivityDeps
from activities.evaluation.activities import EvaluationActivities
from activities.log_context import ActivityLogContext
from activities.promotion import PromotionActivities
from activities.providers.activities import ProviderActivities
from activities.serving import ServingActivities
from activities.training.activity import TrainingActivities
from activities.training.deps import TrainingDeps
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
    serving = ServingActivities(deps)
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
        serving.serve_adapter,
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


async def _metrics_and_client(settings: Settings) -> tuple[Any, Client]:
    """The worker's Prometheus endpoint (None when disabled) and its Temporal client, with
    the SDK's own metrics on their port."""
    metrics_server = None
    if settings.worker_metrics_port:
        metrics_server, _ = prometheus_client.start_http_server(settings.worker_metrics_port)
        logging.getLogger("worker").info("metrics on :%d/metrics", settings.worker_metrics_port)
    client = await connect(
        settings.temporal_address,
        settings.temporal_namespace,
        runtime=sdk_metrics_runtime(settings.temporal_sdk_metrics_port),
    )
    return metrics_server, client


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    log = logging.getLogger("worker")
    metrics_server, client = await _metrics_and_client(settings)
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


async def run_gpu_worker(settings: Settings, stop: asyncio.Event) -> None:
    """Serve the training activity on the GPU task queue, one training at a time.

    Heartbeats go to the server at once (no throttling beyond a second), so a cancel
    reaches the trainer within seconds. A node with several GPUs runs one worker per GPU
    (CUDA_VISIBLE_DEVICES), or one worker whose trainer spans them (the catalogue pool's
    `gpus_per_worker`, launched through torchrun).
    """
    log = logging.getLogger("worker")
    metrics_server, client = await _metrics_and_client(settings)
    deps = await TrainingDeps.open(settings)
    try:
        worker = Worker(
            client,
            task_queue=settings.gpu_task_queue,
            activities=[TrainingActivities(deps).train_adapter],
            interceptors=[ActivityLogContext()],
            max_concurrent_activities=1,
            max_heartbeat_throttle_interval=timedelta(seconds=1),
            default_heartbeat_throttle_interval=timedelta(seconds=1),
            graceful_shutdown_timeout=timedelta(seconds=10),
        )
        async with worker:
            log.info("GPU worker running on task queue %s", settings.gpu_task_queue)
            await stop.wait()
    finally:
        await deps.close()
        if metrics_server is not None:
            metrics_server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a Model Trainer worker.")
    parser.add_argument(
        "kind", nargs="?", choices=["cpu", "gpu"], default="cpu", help="which worker to run"
    )
    kind = parser.parse_args().kind
    settings = get_settings()
    service = "model-trainer-gpu-worker" if kind == "gpu" else "model-trainer-worker"
    configure_logging(settings.log_level, service=service)
    stop = asyncio.Event()

    async def runner() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await (run_gpu_worker if kind == "gpu" else run_worker)(settings, stop)

    asyncio.run(runner())


if __name__ == "__main__":
    main()
