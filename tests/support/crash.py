"""Killing a worker mid-step: see a step in flight, make Temporal move on, check the records.

Shared by tests/test_worker_crash.py and bench/fault_matrix.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.api.workflowservice.v1 import ResetStickyTaskQueueRequest
from temporalio.client import Client, WorkflowHandle

from activities.promotion import registry_model_name


def training_handle(client: Client, job_id: str) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(f"training-job-{job_id}")


async def started_activities(client: Client, job_id: str) -> dict[str, int]:
    """Activity type -> highest attempt of the job's activities a worker holds right now."""
    description = await training_handle(client, job_id).describe()
    started: dict[str, int] = {}
    for pending in description.raw_description.pending_activities:
        if pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED:
            name = pending.activity_type.name
            started[name] = max(started.get(name, 0), pending.attempt)
    return started


async def activity_holders(client: Client, job_id: str, activity_type: str) -> set[str]:
    """Identities (`pid@host`) of the workers running the job's `activity_type` now."""
    description = await training_handle(client, job_id).describe()
    return {
        pending.last_worker_identity
        for pending in description.raw_description.pending_activities
        if pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        and pending.activity_type.name == activity_type
    }


async def forget_dead_worker(client: Client, job_id: str) -> None:
    """Send the workflow's next task to the shared queue, not the dead worker's sticky one.

    Without this Temporal waits up to ten seconds for the dead worker before it moves on;
    that only costs time, so tests skip the wait.
    """
    handle = training_handle(client, job_id)
    description = await handle.describe()
    await client.workflow_service.reset_sticky_task_queue(
        ResetStickyTaskQueueRequest(
            namespace=client.namespace,
            execution=description.raw_description.workflow_execution_info.execution,
        )
    )


async def activity_attempts(client: Client, job_id: str) -> dict[str, int]:
    """Activity type -> the highest attempt that ran, over every run of the job's workflow."""
    scheduled: dict[int, str] = {}
    attempts: dict[str, int] = {}
    run_id: str | None = None
    while True:
        handle = client.get_workflow_handle(f"training-job-{job_id}", run_id=run_id)
        previous: str | None = None
        async for event in handle.fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                previous = (
                    event.workflow_execution_started_event_attributes.continued_execution_run_id
                    or None
                )
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                attributes = event.activity_task_scheduled_event_attributes
                scheduled[event.event_id] = attributes.activity_type.name
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                started = event.activity_task_started_event_attributes
                name = scheduled[started.scheduled_event_id]
                attempts[name] = max(attempts.get(name, 0), started.attempt)
        if previous is None:
            return attempts
        scheduled.clear()
        run_id = previous


@dataclass
class JobRecords:
    """Everything one job left behind: our rows, the provider's jobs, the registry's."""

    job: asyncpg.Record
    evaluations: list[asyncpg.Record]
    promotions: list[asyncpg.Record]
    provider_jobs: list[dict[str, Any]]
    registry_versions: list[dict[str, Any]]
    registry_bindings: list[dict[str, Any]]


async def job_records(
    database_url: str,
    job_id: str,
    openai_admin: httpx.AsyncClient,
    registry_admin: httpx.AsyncClient,
) -> JobRecords:
    conn = await asyncpg.connect(database_url)
    try:
        job = await conn.fetchrow("SELECT * FROM jobs WHERE id = $1", job_id)
        evaluations = await conn.fetch("SELECT * FROM evaluations WHERE job_id = $1", job_id)
        promotions = await conn.fetch("SELECT * FROM promotions WHERE job_id = $1", job_id)
    finally:
        await conn.close()
    assert job is not None, "no job row"
    state = (await openai_admin.get("/_emulator/state")).json()
    provider_jobs = [j for j in state["jobs"] if j["metadata"].get("trainer_job_id") == job_id]
    versions: list[dict[str, Any]] = []
    bindings: list[dict[str, Any]] = []
    model_name = registry_model_name(job["tenant_id"], job["name"])
    model = await registry_admin.get(f"/models/name/{model_name}")
    if model.status_code == 200:
        listed = await registry_admin.get(
            f"/models/{model.json()['id']}/versions", params={"include_archived": True}
        )
        versions = listed.json()["versions"]
        for version in versions:
            found = await registry_admin.get("/bindings", params={"version_id": version["id"]})
            bindings += found.json()["bindings"]
    else:
        assert model.status_code == 404, model.text
    return JobRecords(job, list(evaluations), list(promotions), provider_jobs, versions, bindings)


def check_completed(records: JobRecords) -> None:
    """One provider job, one evaluation, one promotion, one registry version; all agree."""
    job = records.job
    assert (job["status"], job["stage"]) == ("completed", "done"), job["error_message"]
    assert len(records.provider_jobs) == 1, records.provider_jobs
    provider_job = records.provider_jobs[0]
    assert provider_job["status"] == "succeeded"
    assert job["provider_job_id"] == provider_job["id"]
    assert job["provider_model_id"] == provider_job["fine_tuned_model"]
    assert len(records.evaluations) == 1
    evaluation = records.evaluations[0]
    assert (evaluation["status"], evaluation["passed"]) == ("passed", True)
    assert evaluation["model"] == job["provider_model_id"]
    assert len(records.promotions) == 1
    promotion = records.promotions[0]
    assert promotion["promoted"] is True, promotion["error_message"]
    assert promotion["evaluation_id"] == evaluation["id"]
    assert len(records.registry_versions) == 1, records.registry_versions
    assert len(records.registry_bindings) == 1, records.registry_bindings
    assert promotion["registry_version_id"] == str(records.registry_versions[0]["id"])
    assert promotion["registry_binding_id"] == str(records.registry_bindings[0]["id"])
    assert records.registry_bindings[0]["provider_model_id"] == job["provider_model_id"]


def check_cancelled(records: JobRecords) -> None:
    """One provider job, cancelled there too; nothing evaluated, promoted or registered."""
    job = records.job
    assert (job["status"], job["stage"]) == ("cancelled", "done"), job["error_message"]
    assert job["error_code"] == "cancelled"
    assert len(records.provider_jobs) == 1, records.provider_jobs
    assert records.provider_jobs[0]["status"] == "cancelled"
    assert job["provider_job_id"] == records.provider_jobs[0]["id"]
    assert records.evaluations == []
    assert records.promotions == []
    assert records.registry_versions == []
