"""Every step survives its worker being killed (SIGKILL) mid-call.

For each activity of the training job a request it makes is held at an emulator; while it
hangs, the worker process is killed and a fresh one started. The job must still end as it
would have (completed, or cancelled for the cancellation step) with exactly one provider
job, one evaluation, one promotion and one registry version, and every record agreeing.
"""

from __future__ import annotations

import signal
import uuid

import httpx
import pytest
from temporalio.client import Client

from api.app import create_app
from core.settings import Settings
from tests.conftest import ADMIN_HEADERS
from tests.support.crash import (
    activity_attempts,
    check_cancelled,
    check_completed,
    forget_dead_worker,
    job_records,
    started_activities,
    wait_until,
)
from tests.support.crash_steps import CRASH_STEPS, CrashContext, CrashStep
from tests.support.jobs import job_request, submit, wait_for_job
from tests.support.servers import serve_app
from tests.support.workers import WorkerProcesses


@pytest.mark.parametrize("step", CRASH_STEPS, ids=[s.name for s in CRASH_STEPS])
async def test_worker_killed_mid_step_leaves_one_of_everything(
    step: CrashStep,
    settings: Settings,
    temporal_client: Client,
    emulator: httpx.AsyncClient,
    registry: httpx.AsyncClient,
    worker_processes: WorkerProcesses,
) -> None:
    # Short limits so a dead worker's step is retried within seconds.
    isolated = settings.model_copy(
        update={
            "temporal_task_queue": f"crash-{step.name}-{uuid.uuid4().hex[:8]}",
            "launch_timeout_seconds": 3.0,
            "promote_timeout_seconds": 3.0,
            "wait_heartbeat_seconds": 3.0,
        }
    )
    first = await worker_processes.start(isolated, step.worker_env)
    async with (
        serve_app(create_app(isolated)) as url,
        httpx.AsyncClient(base_url=url, headers=ADMIN_HEADERS, timeout=60) as api,
    ):
        ctx = CrashContext(api=api, openai_admin=emulator, registry_admin=registry)
        try:
            armed = await step.arm(ctx)
            name = f"crash-{step.name}-{uuid.uuid4().hex[:6]}"
            job_id = (await submit(api, job_request(name=name)))["id"]
            fired = await step.drive(ctx, job_id) or armed
            assert fired is not None

            async def in_flight() -> bool:
                held = await fired()
                return (
                    held
                    and (await started_activities(temporal_client, job_id)).get(step.activity) == 1
                )

            await wait_until(in_flight, f"{step.activity} holding a request")
            first.send_signal(signal.SIGKILL)
            await first.wait()
            await forget_dead_worker(temporal_client, job_id)
            await worker_processes.start(isolated, step.worker_env)
            job = await wait_for_job(api, job_id, until={step.ends}, timeout=120)
        finally:
            for cleanup in reversed(ctx.cleanups):
                await cleanup()

    # The killed attempt was given up and the step ran again on the fresh worker.
    assert (await activity_attempts(temporal_client, job_id))[step.activity] >= 2
    records = await job_records(isolated.database_url, job_id, emulator, registry)
    if step.ends == "completed":
        check_completed(records)
        assert job["promotion"]["promoted"] is True
        assert (
            job["promotion"]["registry_version_id"] == records.promotions[0]["registry_version_id"]
        )
    else:
        check_cancelled(records)
    assert job["providerJobId"] == records.job["provider_job_id"]
