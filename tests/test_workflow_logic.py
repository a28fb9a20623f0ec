"""The training workflow's logic with its activities mocked (samples-python style).

The real workflow runs on the suite's Temporal dev server, on a task queue of its own,
against stand-ins registered under the real activity names that return canned typed
results and note each call. No database, provider or registry: each case takes seconds,
so a change to the workflow's story gets feedback at once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from core.evaluation import EvaluationSummary, SuiteCategory, SuiteScore, Thresholds
from core.models import (
    ApprovalDecision,
    JobStage,
    JobState,
    JobStatus,
    Provider,
    StepTimeouts,
    TrainingConfig,
    TrainingJobInput,
)
from core.steps import (
    CancelProviderInput,
    CancelProviderResult,
    EvaluationPlan,
    FinishEvaluationInput,
    FinishJobInput,
    ForceFinishInput,
    GpuTrainingPlan,
    GradeSmallInput,
    JobStatusInput,
    LaunchInput,
    LaunchResult,
    PromoteInput,
    PromotionOutcome,
    RecordFailureInput,
    StartEvaluationInput,
    SuiteRef,
    SuiteTask,
    ValidateInput,
    ValidationSummary,
    WaitInput,
    WaitResult,
)
from tests.support.waiting import wait_for
from workflows.training import TrainingJobWorkflow

FINE_TUNED = "ft:gpt-4o-mini:tutor:abc"
PROVIDER_JOB = "ftjob-123"
FILE_ID = "file-validated"


@dataclass
class Script:
    """How the stand-in steps behave, and what they were called with, in order."""

    evaluation_passes: bool = True
    launch_error: ApplicationError | None = None
    wait_blocks: bool = False  # the wait step runs until it is cancelled
    gpu_plan: GpuTrainingPlan | None = None  # launch says: train here, on this GPU queue
    calls: list[str] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)

    def note(self, name: str, inp: Any) -> None:
        self.calls.append(name)
        self.inputs[name] = inp


def stand_ins(script: Script) -> list[Callable[..., Any]]:
    @activity.defn(name="record_job_status")
    async def record_job_status(inp: JobStatusInput) -> None:
        script.note(f"status:{inp.status.value}/{inp.stage.value}", inp)

    @activity.defn(name="finish_job")
    async def finish_job(inp: FinishJobInput) -> None:
        script.note(f"finish:{inp.status.value}:{inp.error_code}", inp)

    @activity.defn(name="force_finish_job")
    async def force_finish_job(inp: ForceFinishInput) -> None:
        script.note("force_finish_job", inp)

    @activity.defn(name="validate_dataset")
    async def validate_dataset(inp: ValidateInput) -> ValidationSummary:
        script.note("validate_dataset", inp)
        return ValidationSummary(
            examples=26, format="chat", estimated_cost_usd=0.5, provider_file_id=FILE_ID
        )

    @activity.defn(name="launch_fine_tune")
    async def launch_fine_tune(inp: LaunchInput) -> LaunchResult:
        script.note("launch_fine_tune", inp)
        if script.launch_error is not None:
            raise script.launch_error
        return LaunchResult(
            provider_job_id=PROVIDER_JOB, provider_status="queued", gpu_training=script.gpu_plan
        )

    @activity.defn(name="wait_for_fine_tune")
    async def wait_for_fine_tune(inp: WaitInput) -> WaitResult:
        script.note("wait_for_fine_tune", inp)
        while script.wait_blocks:
            activity.heartbeat()  # how a cancellation reaches the step
            await asyncio.sleep(0.1)
        return WaitResult(done=True, provider_status="succeeded", fine_tuned_model=FINE_TUNED)

    @activity.defn(name="cancel_fine_tune")
    async def cancel_fine_tune(inp: CancelProviderInput) -> CancelProviderResult:
        script.note("cancel_fine_tune", inp)
        return CancelProviderResult(
            provider_job_id=inp.provider_job_id, provider_status="cancelled"
        )

    @activity.defn(name="start_evaluation")
    async def start_evaluation(inp: StartEvaluationInput) -> EvaluationPlan:
        script.note("start_evaluation", inp)
        suite = SuiteRef(name="tutoring", category=SuiteCategory.pedagogy)
        return EvaluationPlan(
            model=inp.model,
            baseline_model=None,
            suites=[suite],
            concurrency=1,
            timeout_seconds=60,
            small=True,
        )

    @activity.defn(name="grade_small_evaluation")
    async def grade_small_evaluation(inp: GradeSmallInput) -> EvaluationSummary:
        script.note("grade_small_evaluation", inp)
        passed = script.evaluation_passes
        return EvaluationSummary(
            status="passed" if passed else "failed",
            passed=passed,
            pedagogy_score=0.9 if passed else 0.2,
            safety_score=0.95,
            overall_score=0.9 if passed else 0.5,
            suites=[],
            thresholds=Thresholds(),
            failed_thresholds=[] if passed else ["pedagogy_score"],
        )

    @activity.defn(name="run_evaluation_suite")
    async def run_evaluation_suite(inp: SuiteTask) -> SuiteScore:
        raise AssertionError("a small evaluation fans out no suites")

    @activity.defn(name="finish_evaluation")
    async def finish_evaluation(inp: FinishEvaluationInput) -> EvaluationSummary:
        raise AssertionError("a small evaluation is summarised by its grading step")

    @activity.defn(name="fail_evaluation_record")
    async def fail_evaluation_record(inp: RecordFailureInput) -> None:
        script.note("fail_evaluation_record", inp)

    @activity.defn(name="promote_model")
    async def promote_model(inp: PromoteInput) -> PromotionOutcome:
        script.note("promote_model", inp)
        approved = inp.metadata.get("approved", True)
        return PromotionOutcome(
            promotion_id=inp.promotion_id,
            promoted=bool(approved),
            reason="passed all evaluation thresholds" if approved else "rejected",
        )

    return [
        record_job_status,
        finish_job,
        force_finish_job,
        validate_dataset,
        launch_fine_tune,
        wait_for_fine_tune,
        cancel_fine_tune,
        start_evaluation,
        grade_small_evaluation,
        run_evaluation_suite,
        finish_evaluation,
        fail_evaluation_record,
        promote_model,
    ]


def job_input(**overrides: Any) -> TrainingJobInput:
    fields: dict[str, Any] = {
        "job_id": str(uuid.uuid4()),
        "tenant_id": "tenant_123",
        "name": "logic",
        "provider": Provider.openai,
        "base_model": "gpt-4o-mini-2024-07-18",
        "dataset_uri": "s3://datasets/tutor.jsonl",
        "config": TrainingConfig(n_epochs=2),
        "datasheet": {"source": "ours", "license": "cc-by", "redaction": "none"},
        "timeouts": StepTimeouts(wait_heartbeat_seconds=2, progress_report_seconds=1),
        **overrides,
    }
    return TrainingJobInput(**fields)


@asynccontextmanager
async def running(
    client: Client, script: Script, inp: TrainingJobInput
) -> AsyncIterator[WorkflowHandle[TrainingJobWorkflow, JobState]]:
    """The workflow started on a fresh task queue served by the stand-ins."""
    queue = f"logic-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[TrainingJobWorkflow],
        activities=stand_ins(script),
        graceful_shutdown_timeout=timedelta(seconds=1),
    ):
        handle = await client.start_workflow(
            TrainingJobWorkflow.run,
            inp,
            id=f"logic-{inp.job_id}",
            task_queue=queue,
            execution_timeout=timedelta(seconds=60),
        )
        yield handle


async def test_happy_path_runs_the_five_steps_in_order(temporal_client: Client) -> None:
    script = Script()
    inp = job_input()
    async with running(temporal_client, script, inp) as handle:
        state = await handle.result()
    assert script.calls == [
        "status:validating/validating",
        "validate_dataset",
        "status:training/queued_at_provider",
        "launch_fine_tune",
        "wait_for_fine_tune",
        "status:evaluating/evaluating",
        "start_evaluation",
        "grade_small_evaluation",
        "status:evaluating/promoting",
        "promote_model",
        "finish:completed:None",
    ]
    # Each step gets what it needs from the job's input and the steps before it.
    validate = script.inputs["validate_dataset"]
    assert (validate.dataset_uri, validate.config.n_epochs) == (inp.dataset_uri, 2)
    assert validate.datasheet == inp.datasheet
    assert script.inputs["launch_fine_tune"].training_file == FILE_ID
    assert script.inputs["wait_for_fine_tune"].provider_job_id == PROVIDER_JOB
    start = script.inputs["start_evaluation"]
    assert (start.model, start.base_model, start.job_name) == (FINE_TUNED, inp.base_model, "logic")
    assert script.inputs["promote_model"].evaluation_id == start.evaluation_id
    assert (state.status, state.stage, state.promoted) == (
        JobStatus.completed,
        JobStage.done,
        True,
    )
    assert state.fine_tuned_model == FINE_TUNED


async def test_failed_evaluation_completes_the_job_unpromoted(temporal_client: Client) -> None:
    script = Script(evaluation_passes=False)
    async with running(temporal_client, script, job_input()) as handle:
        state = await handle.result()
    assert "promote_model" not in script.calls
    assert script.calls[-3:] == [
        "start_evaluation",
        "grade_small_evaluation",
        "finish:completed:None",
    ]
    assert (state.status, state.promoted) == (JobStatus.completed, False)
    assert state.evaluation is not None and state.evaluation.passed is False


async def test_approval_required_waits_for_the_reviewer(temporal_client: Client) -> None:
    script = Script()
    async with running(temporal_client, script, job_input(require_approval=True)) as handle:

        async def awaiting() -> bool:
            state = await handle.query(TrainingJobWorkflow.state)
            return state.stage == JobStage.awaiting_approval

        await wait_for(awaiting, timeout=15, interval=0.05, what="awaiting approval")
        assert "promote_model" not in script.calls
        await handle.execute_update(
            TrainingJobWorkflow.approve, ApprovalDecision(reviewer="dr-rivera", note="fine")
        )
        state = await handle.result()
    assert script.calls[-5:] == [
        "grade_small_evaluation",
        "status:evaluating/awaiting_approval",
        "status:evaluating/promoting",
        "promote_model",
        "finish:completed:None",
    ]
    metadata = script.inputs["promote_model"].metadata
    assert metadata == {"reviewer": "dr-rivera", "note": "fine", "approved": True}
    assert (state.status, state.promoted) == (JobStatus.completed, True)


async def test_cancel_during_wait_cancels_the_provider_job(temporal_client: Client) -> None:
    script = Script(wait_blocks=True)
    async with running(temporal_client, script, job_input()) as handle:

        async def waiting() -> bool:
            return "wait_for_fine_tune" in script.calls

        await wait_for(waiting, timeout=15, interval=0.05, what="the wait step")
        # Signals take the raw payload (workflows/messages.py): sent by name, as the API does.
        await handle.signal("cancel", {"reason": "budget exhausted"})
        state = await handle.result()
        script.wait_blocks = False
    assert script.calls[-3:] == [
        "status:training/cancelling",
        "cancel_fine_tune",
        "finish:cancelled:cancelled",
    ]
    assert script.inputs["cancel_fine_tune"].provider_job_id == PROVIDER_JOB
    assert "start_evaluation" not in script.calls
    assert (state.status, state.error_code) == (JobStatus.cancelled, "cancelled")
    assert state.cancel_reason == "budget exhausted"


async def test_launch_failure_records_failed_with_its_code(temporal_client: Client) -> None:
    rejected = ApplicationError(
        "provider rejected the request: bad file", type="invalid_file", non_retryable=True
    )
    script = Script(launch_error=rejected)
    async with running(temporal_client, script, job_input()) as handle:
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    assert script.calls[-2:] == ["launch_fine_tune", "finish:failed:invalid_file"]
    assert "wait_for_fine_tune" not in script.calls
    finish = script.inputs["finish:failed:invalid_file"]
    assert finish.error_message == "provider rejected the request: bad file"
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "invalid_file"
