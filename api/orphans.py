"""Rows of jobs whose workflow closed without recording the job's end.

Every way out of `TrainingJobWorkflow.run` records the end itself; only what runs no
workflow code can skip it: `temporal workflow terminate`, or a run that hits a timeout an
operator set. The API notices such a row when it asks Temporal about the job (a read of a
running job, a cancel) and closes it with an error code naming what happened.
"""

from __future__ import annotations

import logging

import asyncpg
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from core.models import JobStatus
from store.job_records import close_open_job

log = logging.getLogger("api.orphans")

# How each closed state ends a job whose row the run left open.
_ENDINGS: dict[WorkflowExecutionStatus, tuple[JobStatus, str]] = {
    WorkflowExecutionStatus.TERMINATED: (JobStatus.failed, "workflow_terminated"),
    WorkflowExecutionStatus.TIMED_OUT: (JobStatus.failed, "workflow_timed_out"),
    WorkflowExecutionStatus.FAILED: (JobStatus.failed, "workflow_failed"),
    WorkflowExecutionStatus.CANCELED: (JobStatus.cancelled, "cancelled"),
    WorkflowExecutionStatus.COMPLETED: (JobStatus.failed, "workflow_completed_unrecorded"),
}
_MESSAGES = {
    "workflow_terminated": "the job's workflow was terminated before it recorded the end",
    "workflow_timed_out": "the job's workflow timed out before it recorded the end",
    "workflow_failed": "the job's workflow failed before it recorded the end",
    "cancelled": "the job's workflow was cancelled before it recorded the end",
    "workflow_completed_unrecorded": "the job's workflow closed without recording the end",
}


async def workflow_status(handle: WorkflowHandle[object, object]) -> WorkflowExecutionStatus | None:
    """The latest run's status; None when Temporal does not know the workflow."""
    try:
        return (await handle.describe()).status
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def close_orphaned_row(
    pool: asyncpg.Pool, job_id: str, status: WorkflowExecutionStatus | None
) -> bool:
    """Close a still-open row when its workflow has closed; True when this call did."""
    if status is None or status == WorkflowExecutionStatus.RUNNING:
        return False
    ending = _ENDINGS.get(status)
    if ending is None:  # CONTINUED_AS_NEW is never the latest run's status
        return False
    job_status, code = ending
    if not await close_open_job(pool, job_id, job_status, code, _MESSAGES[code]):
        return False
    log.warning(
        "closed the row of a job whose workflow ended without it",
        extra={
            "job_id": job_id,
            "error_code": code,
        },
    )
    return True
