"""The training job's steps when this service trains the model itself (self-hosted):
training as one long activity on the GPU task queue, then the adapter loaded into the
inference server so the evaluation can call it. Deterministic; called by the training
workflow in place of polling a provider."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from activities.serving import ServingActivities
    from activities.training.activity import TrainingActivities
    from core.models import TrainingJobInput
    from core.steps import GpuTrainingPlan
    from core.training_config import SelfHostedTrainingConfig
    from core.training_steps import (
        ServeAdapterInput,
        TrainAdapterInput,
        TrainAdapterResult,
    )
    from workflows.options import PATIENT_RETRY

# A GPU worker that dies is replaced by the heartbeat timeout, and each new attempt resumes
# from the last checkpoint; a run that keeps killing its workers stops after a few.
GPU_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=5,
)
SERVE_TIMEOUT = timedelta(minutes=10)


async def train_on_gpu(
    inp: TrainingJobInput, provider_job_id: str, dataset_uri: str, plan: GpuTrainingPlan
) -> TrainAdapterResult:
    """Train on a GPU worker; a cancel waits until the trainer has stopped and freed it."""
    assert isinstance(inp.config, SelfHostedTrainingConfig)
    return await workflow.execute_activity_method(
        TrainingActivities.train_adapter,
        TrainAdapterInput(
            job_id=inp.job_id,
            tenant_id=inp.tenant_id,
            base_model=inp.base_model,
            provider_job_id=provider_job_id,
            dataset_uri=dataset_uri,
            config=inp.config,
        ),
        task_queue=plan.task_queue,
        start_to_close_timeout=timedelta(seconds=plan.timeout_seconds),
        heartbeat_timeout=timedelta(seconds=plan.heartbeat_timeout_seconds),
        retry_policy=GPU_RETRY,
        cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    )


async def serve_for_evaluation(inp: TrainingJobInput, result: TrainAdapterResult) -> None:
    """Load the adapter into the inference server that the evaluation calls."""
    assert result.adapter is not None
    await workflow.execute_activity_method(
        ServingActivities.serve_adapter,
        ServeAdapterInput(
            job_id=inp.job_id,
            fine_tuned_model=result.adapter.fine_tuned_model,
            adapter_uri=result.adapter.adapter_uri,
        ),
        start_to_close_timeout=SERVE_TIMEOUT,
        schedule_to_close_timeout=timedelta(hours=1),
        retry_policy=PATIENT_RETRY,
    )
