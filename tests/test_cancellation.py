"""DELETE, the `cancel` signal and `temporal workflow cancel` all stop the provider's job
and end the job `cancelled`; search attributes make a training job findable by tenant."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus

from tests.conftest import temporal_binary, wait_for
from tests.support.jobs import job_request, provider_jobs_for, submit, wait_for_job


async def start_training_job(api: httpx.AsyncClient, **overrides: object) -> dict:
    created = await submit(api, job_request(**overrides))
    return await wait_for_job(api, created["id"], until={"training"}, stage="training")


async def run_cli(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        temporal_binary(),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def assert_cancelled_everywhere(
    api: httpx.AsyncClient, emulator: httpx.AsyncClient, job_id: str
) -> dict:
    job = await wait_for_job(api, job_id, until={"cancelled"})
    assert job["status"] == "cancelled"
    assert job["promotion"] is None
    (provider_job,) = await provider_jobs_for(emulator, job_id)
    assert provider_job["status"] == "cancelled"
    assert provider_job["cancel_calls"] >= 1
    return job


async def closed_run(client: Client, workflow_id: str) -> WorkflowExecutionDescription:
    """The run once it has closed: the row is written by the run's last step, a moment
    before the run itself completes."""

    async def closed() -> WorkflowExecutionDescription | None:
        described = await client.get_workflow_handle(workflow_id).describe()
        return None if described.status == WorkflowExecutionStatus.RUNNING else described

    return await wait_for(closed, timeout=30)


@pytest.mark.usefixtures("slow_training")
async def test_delete_cancels_the_provider_job(
    api: httpx.AsyncClient, emulator: httpx.AsyncClient, temporal_client: Client
) -> None:
    job = await start_training_job(api, name="cancel-by-delete")
    response = await api.delete(f"/trainer/jobs/{job['id']}")
    assert response.status_code == 204
    await assert_cancelled_everywhere(api, emulator, job["id"])
    described = await closed_run(temporal_client, job["workflowId"])
    assert described.status == WorkflowExecutionStatus.CANCELED
    # A finished job cannot be cancelled again.
    again = await api.delete(f"/trainer/jobs/{job['id']}")
    assert again.status_code == 409
    assert "cancelled" in again.json()["detail"]


@pytest.mark.usefixtures("slow_training")
async def test_cancel_signal_cancels_the_provider_job(
    api: httpx.AsyncClient, emulator: httpx.AsyncClient, temporal_client: Client
) -> None:
    job = await start_training_job(api, name="cancel-by-signal")
    handle = temporal_client.get_workflow_handle(job["workflowId"])
    await handle.signal("cancel", {"reason": "budget exhausted"})
    final = await assert_cancelled_everywhere(api, emulator, job["id"])
    assert final["errorMessage"] == "budget exhausted"
    described = await closed_run(temporal_client, job["workflowId"])
    assert described.status == WorkflowExecutionStatus.COMPLETED


@pytest.mark.usefixtures("slow_training")
async def test_temporal_cli_cancel_cancels_the_provider_job(
    api: httpx.AsyncClient, emulator: httpx.AsyncClient, temporal_address: str
) -> None:
    job = await start_training_job(api, name="cancel-by-cli")
    code, out = await run_cli(
        "workflow", "cancel", "--workflow-id", job["workflowId"], "--address", temporal_address
    )
    assert code == 0, out
    await assert_cancelled_everywhere(api, emulator, job["id"])


@pytest.mark.usefixtures("slow_training")
async def test_search_attributes_find_a_tenants_training_job(
    api: httpx.AsyncClient, temporal_address: str
) -> None:
    job = await start_training_job(api, name="findable", policy={"scope": "tenant_sa_7"})

    async def listed() -> list[str]:
        code, out = await run_cli(
            "workflow",
            "list",
            "--address",
            temporal_address,
            "--output",
            "json",
            "--query",
            "TenantId='tenant_sa_7' AND JobStatus='training'",
        )
        assert code == 0, out
        return [w["execution"]["workflowId"] for w in json.loads(out or "[]")]

    for _ in range(100):  # visibility is eventually consistent
        if job["workflowId"] in await listed():
            break
        await asyncio.sleep(0.1)
    assert await listed() == [job["workflowId"]]
    assert (await api.delete(f"/trainer/jobs/{job['id']}")).status_code == 204
