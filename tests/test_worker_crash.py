"""Launch is exactly-once: a worker killed (SIGKILL) after the provider job was created but
before the launch activity completed leaves exactly one provider job, and the job completes
on a fresh worker."""

from __future__ import annotations

import asyncio
import signal
import uuid

import httpx

from api.app import create_app
from core.settings import Settings
from tests.conftest import ADMIN_HEADERS
from tests.support.jobs import job_request, provider_jobs_for, submit, wait_for_job
from tests.support.servers import serve_app
from tests.support.workers import WorkerProcesses


async def test_worker_killed_mid_launch_creates_exactly_one_provider_job(
    settings: Settings,
    emulator: httpx.AsyncClient,
    worker_processes: WorkerProcesses,
) -> None:
    isolated = settings.model_copy(
        update={"temporal_task_queue": f"crash-{uuid.uuid4().hex[:8]}", "launch_timeout_seconds": 3}
    )
    first = await worker_processes.start(isolated)
    # The emulator creates the provider job, then holds the response: the worker dies
    # with the job created and the launch activity not completed.
    fault = await emulator.post(
        "/_emulator/faults",
        json={
            "path_prefix": "/v1/fine_tuning/jobs",
            "method": "POST",
            "after_commit_delay_seconds": 15,
            "count": 1,
        },
    )
    assert fault.status_code in (200, 201), fault.text
    async with (
        serve_app(create_app(isolated)) as url,
        httpx.AsyncClient(base_url=url, headers=ADMIN_HEADERS) as api,
    ):
        created = await submit(api, job_request(name="crash-during-launch"))
        for _ in range(300):
            if await provider_jobs_for(emulator, created["id"]):
                break
            await asyncio.sleep(0.1)
        assert len(await provider_jobs_for(emulator, created["id"])) == 1
        first.send_signal(signal.SIGKILL)
        await first.wait()

        await worker_processes.start(isolated)
        job = await wait_for_job(api, created["id"], timeout=120)

    assert job["status"] == "completed", job.get("errorMessage")
    provider_jobs = await provider_jobs_for(emulator, created["id"])
    assert len(provider_jobs) == 1
    assert job["providerJobId"] == provider_jobs[0]["id"]
