"""Every step survives its worker being killed (SIGKILL) mid-call.

For each activity of the training job a request it makes is held at an emulator; while it
hangs, the worker process running it is killed and a second worker process takes over. The
job must still end as it would have (completed, or cancelled for the cancellation step) with
exactly one provider job, one evaluation, one promotion and one registry version, and every
record agreeing. bench/fault_matrix.py runs the same cases on a stack of its own, with a
fresh worker started after the kill, and times them.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from temporalio.client import Client

from api.app import create_app
from core.settings import Settings
from tests.conftest import ADMIN_HEADERS
from tests.support.crash_run import check_crash_outcome, run_crash_case
from tests.support.crash_steps import CRASH_STEPS, CrashStep
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

    async def start_worker(env: dict[str, str]) -> asyncio.subprocess.Process:
        return await worker_processes.start(isolated, env)

    async with (
        serve_app(create_app(isolated)) as url,
        httpx.AsyncClient(base_url=url, headers=ADMIN_HEADERS, timeout=60) as api,
    ):
        outcome = await run_crash_case(
            step,
            api=api,
            temporal_client=temporal_client,
            openai_admin=emulator,
            registry_admin=registry,
            database_url=isolated.database_url,
            start_worker=start_worker,
        )
    check_crash_outcome(step, outcome)
