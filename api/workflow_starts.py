"""Starting and signalling workflows from the API (Temporal client calls only).

Workflows are addressed by type name (workflows.names), never by class: importing a workflow
module would load the worker's activities into the API process.
"""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from core.models import JobState, JobStatus, StepTimeouts, TrainingJobInput
from core.settings import Settings
from workflows import search_attributes as sa
from workflows.names import TRAINING_WORKFLOW, workflow_id_for


def step_timeouts(settings: Settings) -> StepTimeouts:
    return StepTimeouts(
        launch_seconds=settings.launch_timeout_seconds,
        promote_seconds=settings.promote_timeout_seconds,
        wait_heartbeat_seconds=settings.wait_heartbeat_seconds,
        progress_report_seconds=settings.progress_report_seconds,
        approval_timeout_seconds=settings.approval_timeout_seconds,
        continue_as_new_after_events=settings.continue_as_new_after_events,
    )


async def start_training(
    client: Client, settings: Settings, inp: TrainingJobInput, dataset_uri: str
) -> WorkflowHandle[Any, JobState]:
    """Start (or attach to) the job's workflow; a closed run is never started twice."""
    workflow_id = workflow_id_for(inp.job_id)
    try:
        return await client.start_workflow(
            TRAINING_WORKFLOW,
            inp,
            id=workflow_id,
            result_type=JobState,
            task_queue=settings.temporal_task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.TENANT_ID, inp.tenant_id),
                    SearchAttributePair(sa.JOB_STATUS, JobStatus.pending.value),
                    SearchAttributePair(sa.BASE_MODEL, inp.base_model),
                    SearchAttributePair(sa.PROVIDER, inp.provider.value),
                ]
            ),
            static_summary=f"{inp.name} · {inp.base_model} · {inp.tenant_id}",
            static_details=(
                f"**Training job** `{inp.job_id}`\n\n"
                f"- tenant: `{inp.tenant_id}`\n- provider: `{inp.provider.value}`\n"
                f"- base model: `{inp.base_model}`\n- dataset: `{dataset_uri}`\n"
                f"- approval required: {'yes' if inp.require_approval else 'no'}\n\n"
                "Query `state` for live progress; signal `cancel` to stop."
            ),
            # No execution or run timeout: training may take days, and the run continues
            # as new to keep history bounded. Every step has its own timeouts, and the
            # outage budgets bound how long a step waits for a service to come back.
        )
    except WorkflowAlreadyStartedError:
        return client.get_workflow_handle(workflow_id, result_type=JobState)
