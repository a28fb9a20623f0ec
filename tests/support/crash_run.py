"""One kill-a-worker-mid-step case, run the same way by the suite and by the fault matrix."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from temporalio.client import Client

from tests.support.crash import (
    JobRecords,
    activity_attempts,
    activity_holders,
    check_cancelled,
    check_completed,
    forget_dead_worker,
    job_records,
    started_activities,
)
from tests.support.crash_steps import SMALL_EVAL_POLICY, CrashContext, CrashStep
from tests.support.jobs import job_request, submit, wait_for_job
from tests.support.waiting import wait_for

StartWorker = Callable[[dict[str, str]], Awaitable[asyncio.subprocess.Process]]


@dataclass
class CrashOutcome:
    job: dict[str, Any]  # GET /trainer/jobs/{id} at the end
    records: JobRecords
    attempts: int  # the highest attempt the killed step reached
    in_flight_seconds: float  # from submit until the step held its request
    recovery_seconds: float  # from the kill until the job ended


async def run_crash_case(
    step: CrashStep,
    *,
    api: httpx.AsyncClient,
    temporal_client: Client,
    openai_admin: httpx.AsyncClient,
    registry_admin: httpx.AsyncClient,
    database_url: str,
    start_worker: StartWorker,
    skip_sticky_wait: bool = True,
    standby: bool = True,
    timeout: float = 120.0,
) -> CrashOutcome:
    """Hold the step's request and SIGKILL the worker running the step.

    With `standby` a second worker runs from the start and the one holding the step is
    killed (the survivor takes over, and no start-up is waited for after the kill);
    without, the only worker is killed and a fresh one started after it.
    """
    workers = [await start_worker(step.worker_env)]
    if standby:
        workers.append(await start_worker(step.worker_env))
    ctx = CrashContext(api=api, openai_admin=openai_admin, registry_admin=registry_admin)
    try:
        armed = await step.arm(ctx)
        submitted = time.monotonic()
        name = f"crash-{step.name}-{uuid.uuid4().hex[:6]}"
        job_id = (await submit(api, job_request(name=name, policy=SMALL_EVAL_POLICY)))["id"]
        fired = await step.drive(ctx, job_id) or armed
        assert fired is not None, "the step armed no hold"

        async def in_flight() -> bool:
            if not await fired():
                return False
            return (await started_activities(temporal_client, job_id)).get(step.activity) == 1

        await wait_for(in_flight, timeout, what=f"{step.activity} holding a request")
        victim = workers[0]
        if standby:
            holders = await activity_holders(temporal_client, job_id, step.activity)
            victim = next(w for w in workers if any(h.startswith(f"{w.pid}@") for h in holders))
        killed = time.monotonic()
        victim.send_signal(signal.SIGKILL)
        await victim.wait()
        if skip_sticky_wait:
            await forget_dead_worker(temporal_client, job_id)
        if not standby:
            await start_worker(step.worker_env)
        job = await wait_for_job(api, job_id, until={step.ends}, timeout=timeout)
        ended = time.monotonic()
    finally:
        for cleanup in reversed(ctx.cleanups):
            await cleanup()
    attempts = (await activity_attempts(temporal_client, job_id)).get(step.activity, 0)
    records = await job_records(database_url, job_id, openai_admin, registry_admin)
    return CrashOutcome(job, records, attempts, killed - submitted, ended - killed)


def check_crash_outcome(step: CrashStep, outcome: CrashOutcome) -> None:
    """The killed step ran again, and the job ended with one of everything, all agreeing."""
    assert outcome.attempts >= 2, f"{step.activity} was not retried after the kill"
    records, job = outcome.records, outcome.job
    if step.ends == "completed":
        check_completed(records)
        assert job["promotion"]["promoted"] is True
        assert (
            job["promotion"]["registry_version_id"] == records.promotions[0]["registry_version_id"]
        )
    else:
        check_cancelled(records)
    assert job["providerJobId"] == records.job["provider_job_id"]
