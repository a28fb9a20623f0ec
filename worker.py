"""Run the Model Trainer workflows and activities on the configured task queue."""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta

from temporalio.worker import Worker

from activities.deps import ActivityDeps
from activities.evaluation.activities import EvaluationActivities
from activities.promotion import PromotionActivities
from activities.training import TrainingActivities
from core.settings import Settings, get_settings
from workflows.connection import connect
from workflows.datasets import DatasetCheckWorkflow
from workflows.evaluation import EvaluationWorkflow
from workflows.promotion import PromotionWorkflow
from workflows.training import TrainingJobWorkflow

WORKFLOWS = [TrainingJobWorkflow, EvaluationWorkflow, PromotionWorkflow, DatasetCheckWorkflow]


def activities_for(deps: ActivityDeps) -> list[object]:
    training = TrainingActivities(deps)
    evaluation = EvaluationActivities(deps)
    promotion = PromotionActivities(deps)
    return [
        training.validate_dataset,
        training.inspect_dataset,
        training.launch_fine_tune,
        training.wait_for_fine_tune,
        training.cancel_fine_tune,
        training.set_job_stage,
        training.finish_job,
        evaluation.start_evaluation,
        evaluation.run_evaluation_suite,
        evaluation.finish_evaluation,
        promotion.promote_model,
    ]


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    client = await connect(settings.temporal_address, settings.temporal_namespace)
    deps = await ActivityDeps.open(settings)
    try:
        worker = Worker(
            client,
            task_queue=settings.temporal_task_queue,
            workflows=WORKFLOWS,
            activities=activities_for(deps),
            graceful_shutdown_timeout=timedelta(seconds=10),
        )
        async with worker:
            logging.getLogger("worker").info(
                "worker running on task queue %s", settings.temporal_task_queue
            )
            await stop.wait()
    finally:
        await deps.close()


def main() -> None:
    settings = get_settings()
    logging.basicConfig(level=settings.log_level)
    stop = asyncio.Event()

    async def runner() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop)

    asyncio.run(runner())


if __name__ == "__main__":
    main()
