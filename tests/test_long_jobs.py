"""A long training continues as new, so history stays bounded, and nothing notices:
the `state` query, search attributes, UI details, cancel and approval work across runs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Worker

from api.app import create_app
from core.models import JobState
from core.settings import Settings
from tests.conftest import ADMIN_HEADERS, wait_for
from tests.support.jobs import job_request, provider_jobs_for, submit, wait_for_job
from tests.support.servers import serve_app
from workflows import search_attributes as sa

# About three wait rounds per run (a run's first events plus ~6 per round).
TINY_HISTORY = 20


@pytest.fixture
async def short_runs(settings: Settings, worker: Worker) -> AsyncIterator[httpx.AsyncClient]:
    """An API whose jobs report progress often and continue as new after a few rounds."""
    tuned = settings.model_copy(
        update={"continue_as_new_after_events": TINY_HISTORY, "progress_report_seconds": 0.5}
    )
    async with (
        serve_app(create_app(tuned)) as url,
        httpx.AsyncClient(base_url=url, headers=ADMIN_HEADERS, timeout=60) as api,
    ):
        yield api


@pytest.fixture
async def training_for_seconds(emulator: httpx.AsyncClient) -> AsyncIterator[None]:
    """Jobs created meanwhile train for about eight seconds (80 steps)."""
    before = (await emulator.get("/_emulator/settings")).json()
    await emulator.patch("/_emulator/settings", json={"seconds_per_step": 0.1, "max_steps": 80})
    yield
    await emulator.patch(
        "/_emulator/settings",
        json={"seconds_per_step": before["seconds_per_step"], "max_steps": before["max_steps"]},
    )


async def runs_of(client: Client, workflow_id: str) -> list[WorkflowExecutionStatus | None]:
    """Status of every run of the workflow, oldest first."""
    runs = [r async for r in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    return [r.status for r in sorted(runs, key=lambda r: r.start_time)]


async def settled_runs(client: Client, workflow_id: str) -> list[WorkflowExecutionStatus | None]:
    """The runs once the latest one shows as closed (visibility lags a little)."""

    async def closed() -> list[WorkflowExecutionStatus | None] | None:
        statuses = await runs_of(client, workflow_id)
        return statuses if statuses[-1] != WorkflowExecutionStatus.RUNNING else None

    return await wait_for(closed)


async def at_least_runs(client: Client, workflow_id: str, count: int) -> None:
    async def enough() -> bool:
        return len(await runs_of(client, workflow_id)) >= count

    await wait_for(enough, timeout=120)


@pytest.mark.usefixtures("training_for_seconds")
async def test_long_training_continues_as_new_then_is_approved_and_promoted(
    short_runs: httpx.AsyncClient, emulator: httpx.AsyncClient, temporal_client: Client
) -> None:
    created = await submit(
        short_runs, job_request(name="long-approved", policy={"require_approval": True})
    )
    workflow_id = created["workflowId"]
    await at_least_runs(temporal_client, workflow_id, 3)

    # Mid-way, the latest run answers with the state the earlier runs carried.
    handle = temporal_client.get_workflow_handle(workflow_id)
    state = await handle.query("state", result_type=JobState)
    assert state.status.value == "training" and state.job_id == created["id"]
    assert state.provider_job_id is not None and state.progress.step is not None
    described = await handle.describe()
    assert described.typed_search_attributes.get(sa.JOB_STATUS) == "training"
    assert described.typed_search_attributes.get(sa.TENANT_ID) == "tenant_123"
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert "continued as new" in metadata.current_details
    assert state.provider_job_id in metadata.current_details

    job = await wait_for_job(
        short_runs, created["id"], until={"evaluating"}, stage="awaiting_approval", timeout=120
    )
    response = await short_runs.post(
        f"/trainer/jobs/{job['id']}/approve", json={"reviewer": "dr-rivera", "note": "ok"}
    )
    assert response.status_code == 200, response.text
    done = await wait_for_job(short_runs, job["id"])
    assert done["status"] == "completed" and done["promotion"]["promoted"] is True

    statuses = await settled_runs(temporal_client, workflow_id)
    assert len(statuses) >= 3
    assert set(statuses[:-1]) == {WorkflowExecutionStatus.CONTINUED_AS_NEW}
    assert statuses[-1] == WorkflowExecutionStatus.COMPLETED
    (provider_job,) = await provider_jobs_for(emulator, created["id"])
    assert provider_job["status"] == "succeeded"
    assert provider_job["id"] == state.provider_job_id == done["providerJobId"]


@pytest.mark.usefixtures("slow_training")
@pytest.mark.parametrize("how", ["signal", "workflow-cancel"])
async def test_cancel_after_continue_as_new(
    short_runs: httpx.AsyncClient, emulator: httpx.AsyncClient, temporal_client: Client, how: str
) -> None:
    created = await submit(short_runs, job_request(name=f"long-cancel-{how}"))
    await at_least_runs(temporal_client, created["workflowId"], 2)
    if how == "signal":
        response = await short_runs.post(
            f"/trainer/jobs/{created['id']}/cancel", json={"reason": "took too long"}
        )
        assert response.status_code == 202, response.text
    else:
        response = await short_runs.delete(f"/trainer/jobs/{created['id']}")
        assert response.status_code == 204, response.text

    done = await wait_for_job(short_runs, created["id"], until={"cancelled"})
    assert done["errorCode"] == "cancelled"
    (provider_job,) = await provider_jobs_for(emulator, created["id"])
    assert provider_job["status"] == "cancelled"
    statuses = await settled_runs(temporal_client, created["workflowId"])
    expected = (
        WorkflowExecutionStatus.COMPLETED if how == "signal" else WorkflowExecutionStatus.CANCELED
    )
    assert statuses[-1] == expected
    assert WorkflowExecutionStatus.CONTINUED_AS_NEW in statuses[:-1]
