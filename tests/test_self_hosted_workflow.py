"""The training workflow's self-hosted path with its activities mocked: launch says the
service trains the model itself, so training runs on the GPU task queue (a worker of its
own here), the adapter is served, then evaluated and promoted; a trainer's failure fails
the job with its code; a cancel waits until the trainer has stopped."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from core.models import JobState, JobStatus, Provider
from core.steps import GpuTrainingPlan
from core.training_config import SelfHostedTrainingConfig
from core.training_steps import (
    AdapterArtifact,
    ServeAdapterInput,
    ServeAdapterResult,
    TrainAdapterInput,
    TrainAdapterResult,
)
from tests.support.waiting import wait_for
from tests.test_workflow_logic import FILE_ID, PROVIDER_JOB, Script, job_input, stand_ins
from workflows.training import TrainingJobWorkflow

ADAPTER = "s3://artifacts/adapters/tenant_123/job/"


class GpuScript(Script):
    trainer_error: ApplicationError | None = None
    trainer_blocks: bool = False
    trainer_saw_cancel: bool = False


def gpu_stand_ins(script: GpuScript) -> tuple[Any, Any]:
    @activity.defn(name="train_adapter")
    async def train_adapter(inp: TrainAdapterInput) -> TrainAdapterResult:
        script.note("train_adapter", inp)
        if script.trainer_error is not None:
            raise script.trainer_error
        try:
            while script.trainer_blocks:
                activity.heartbeat()
                await asyncio.sleep(0.1)
        except asyncio.CancelledError:
            script.trainer_saw_cancel = True
            script.note("trainer_stopped", None)
            raise
        model = f"ft:tiny:{inp.job_id}"
        return TrainAdapterResult(
            done=True,
            provider_status="succeeded",
            fine_tuned_model=model,
            adapter=AdapterArtifact(
                fine_tuned_model=model,
                adapter_uri=ADAPTER,
                manifest_uri=ADAPTER + "adapter-manifest.json",
                weights_sha256="0" * 64,
                size_bytes=1,
                base_model="tiny",
                base_model_source="/models/tiny",
            ),
        )

    @activity.defn(name="serve_adapter")
    async def serve_adapter(inp: ServeAdapterInput) -> ServeAdapterResult:
        script.note("serve_adapter", inp)
        return ServeAdapterResult(fine_tuned_model=inp.fine_tuned_model)

    return train_adapter, serve_adapter


@asynccontextmanager
async def running(
    client: Client, script: GpuScript
) -> AsyncIterator[WorkflowHandle[TrainingJobWorkflow, JobState]]:
    queue, gpu_queue = f"logic-{uuid.uuid4().hex[:8]}", f"logic-gpu-{uuid.uuid4().hex[:8]}"
    script.gpu_plan = GpuTrainingPlan(
        task_queue=gpu_queue, heartbeat_timeout_seconds=5, timeout_seconds=120
    )
    train_adapter, serve_adapter = gpu_stand_ins(script)
    inp = job_input(
        provider=Provider.self_hosted,
        base_model="tiny",
        config=SelfHostedTrainingConfig(lora_rank=4, max_steps=10),
    )
    async with (
        Worker(
            client,
            task_queue=queue,
            workflows=[TrainingJobWorkflow],
            activities=[*stand_ins(script), serve_adapter],
            graceful_shutdown_timeout=timedelta(seconds=1),
        ),
        Worker(
            client,
            task_queue=gpu_queue,
            activities=[train_adapter],
            graceful_shutdown_timeout=timedelta(seconds=1),
        ),
    ):
        yield await client.start_workflow(
            TrainingJobWorkflow.run,
            inp,
            id=f"logic-{inp.job_id}",
            task_queue=queue,
            execution_timeout=timedelta(seconds=60),
        )


async def test_self_hosted_training_runs_on_the_gpu_queue_then_serves_the_adapter(
    temporal_client: Client,
) -> None:
    script = GpuScript()
    async with running(temporal_client, script) as handle:
        state = await handle.result()
    assert script.calls == [
        "status:validating/validating",
        "validate_dataset",
        "status:training/queued_at_provider",
        "launch_fine_tune",
        "train_adapter",
        "serve_adapter",
        "status:evaluating/evaluating",
        "start_evaluation",
        "grade_small_evaluation",
        "status:evaluating/promoting",
        "promote_model",
        "finish:completed:None",
    ]
    train = script.inputs["train_adapter"]
    assert (train.dataset_uri, train.provider_job_id) == (FILE_ID, PROVIDER_JOB)
    assert (train.config.lora_rank, train.config.max_steps) == (4, 10)
    assert script.inputs["serve_adapter"].adapter_uri == ADAPTER
    assert script.inputs["start_evaluation"].model == state.fine_tuned_model
    assert (state.status, state.promoted) == (JobStatus.completed, True)


async def test_trainer_failure_fails_the_job_with_its_code(temporal_client: Client) -> None:
    script = GpuScript()
    script.trainer_error = ApplicationError(
        "line 3: no assistant message", type="invalid_dataset", non_retryable=True
    )
    async with running(temporal_client, script) as handle:
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        state = await handle.query(TrainingJobWorkflow.state)
    assert "serve_adapter" not in script.calls
    assert script.calls[-1] == "finish:failed:invalid_dataset"
    assert (state.status, state.error_code) == (JobStatus.failed, "invalid_dataset")


async def test_cancel_waits_for_the_trainer_to_stop(temporal_client: Client) -> None:
    script = GpuScript()
    script.trainer_blocks = True
    async with running(temporal_client, script) as handle:

        async def training() -> bool:
            return "train_adapter" in script.calls

        await wait_for(training, timeout=15, interval=0.05, what="the training step")
        await handle.signal("cancel", {"reason": "wrong base model"})
        state = await handle.result()
    assert script.trainer_saw_cancel
    # The job is recorded cancelled only once the trainer has stopped.
    stopped = script.calls.index("trainer_stopped")
    assert stopped < script.calls.index("finish:cancelled:cancelled")
    assert "cancel_fine_tune" in script.calls[stopped:]
    assert (state.status, state.cancel_reason) == (JobStatus.cancelled, "wrong base model")
