"""What each step of a training job gets from the job's input (pure; no I/O)."""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from core.models import TrainingJobInput
    from core.steps import (
        LaunchInput,
        PromoteInput,
        StartEvaluationInput,
        ValidateInput,
        WaitInput,
    )


def validate_input(inp: TrainingJobInput) -> ValidateInput:
    return ValidateInput(
        job_id=inp.job_id,
        tenant_id=inp.tenant_id,
        provider=inp.provider,
        base_model=inp.base_model,
        dataset_uri=inp.dataset_uri,
        config=inp.config,
        datasheet=inp.datasheet,
        restrictions=inp.restrictions,
    )


def launch_input(inp: TrainingJobInput, training_file: str) -> LaunchInput:
    return LaunchInput(
        job_id=inp.job_id,
        tenant_id=inp.tenant_id,
        provider=inp.provider,
        base_model=inp.base_model,
        config=inp.config,
        training_file=training_file,
    )


def wait_input(inp: TrainingJobInput, provider_job_id: str) -> WaitInput:
    return WaitInput(
        job_id=inp.job_id,
        tenant_id=inp.tenant_id,
        provider=inp.provider,
        base_model=inp.base_model,
        provider_job_id=provider_job_id,
        report_after_seconds=inp.timeouts.progress_report_seconds,
    )


def evaluation_input(
    inp: TrainingJobInput, evaluation_id: str, workflow_id: str, fine_tuned_model: str
) -> StartEvaluationInput:
    return StartEvaluationInput(
        evaluation_id=evaluation_id,
        job_id=inp.job_id,
        tenant_id=inp.tenant_id,
        workflow_id=workflow_id,
        name="training-evaluation",
        thresholds=inp.thresholds,
        gates=inp.gates,
        weights=inp.weights,
        model=fine_tuned_model,
        base_model=inp.base_model,
        job_name=inp.name,
        heartbeat_seconds=inp.timeouts.wait_heartbeat_seconds,
    )


def promote_input(
    inp: TrainingJobInput,
    *,
    promotion_id: str,
    evaluation_id: str | None,
    fine_tuned_model: str | None,
    metadata: dict[str, Any],
) -> PromoteInput:
    return PromoteInput(
        promotion_id=promotion_id,
        job_id=inp.job_id,
        evaluation_id=evaluation_id,
        tenant_id=inp.tenant_id,
        job_name=inp.name,
        job_description=inp.description,
        provider=inp.provider,
        fine_tuned_model=fine_tuned_model,
        promotion_policy=inp.promotion_policy,
        metadata=metadata,
    )
