"""Fault-matrix cases that take a server away under a running job: Temporal restarted on
its persisted store, PostgreSQL restarted, the registry down."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter

import httpx

from bench.fault_env import (
    CaseResult,
    Stack,
    count_rows,
    probe_api,
    slow_training,
    start_training_job,
)
from tests.support.crash import (
    activity_attempts,
    check_completed,
    started_activities,
)
from tests.support.crash_steps import SMALL_EVAL, SMALL_EVAL_POLICY
from tests.support.jobs import job_request, submit, wait_for_job
from tests.support.waiting import wait_for

EVENTS = "SELECT count(*) FROM job_events WHERE job_id = $1"


async def temporal_restart(stack: Stack, api: httpx.AsyncClient) -> CaseResult:
    started = time.monotonic()
    worker = await stack.start_worker(SMALL_EVAL)
    probes: list[tuple[float, int]] = []
    # About ten seconds of training: the provider finishes while Temporal is down, so the
    # time after the restart is the recovery alone.
    async with slow_training(stack, 0.25, 40):
        job_id = await start_training_job(stack, api, "temporal-restart")
        prober = asyncio.create_task(probe_api(api, job_id, probes))
        await asyncio.sleep(2)
        await stack.temporal.stop()
        stopped = time.monotonic()
        # A job submitted now cannot be started: it must be refused, not half-created.
        refused = await api.post("/trainer/jobs", json=job_request(name="during-outage"))
        await asyncio.sleep(
            max(0.0, stack.args.temporal_down_seconds - (time.monotonic() - stopped))
        )
        await stack.temporal.start()
        back = time.monotonic()
        job = await wait_for_job(api, job_id, timeout=300)
    ended = time.monotonic()
    prober.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await prober
    leftover = await count_rows(stack, "SELECT count(*) FROM jobs WHERE name = 'during-outage'")
    assert refused.status_code == 503, refused.text
    assert leftover == 0, "a refused submit left a job row behind"
    records = await stack.records(job_id)
    check_completed(records)
    assert job["status"] == "completed"
    assert worker.returncode is None, f"the worker exited ({worker.returncode}) during the outage"
    await stack.workers.stop_all()
    return CaseResult(
        "temporal-restart",
        True,
        ended - started,
        ended - back,
        {
            "down_s": round(back - stopped, 1),
            "worker_survived": True,
            "submit_during_outage": refused.status_code,
            "api_reads_during_outage": dict(Counter(s for t, s in probes if stopped <= t < back)),
        },
    )


async def postgres_restart(stack: Stack, api: httpx.AsyncClient) -> CaseResult:
    started = time.monotonic()
    worker = await stack.start_worker(SMALL_EVAL)
    probes: list[tuple[float, int]] = []
    async with slow_training(stack, 0.5, 40):
        job_id = await start_training_job(stack, api, "postgres-restart")
        prober = asyncio.create_task(probe_api(api, job_id, probes))
        await asyncio.sleep(2)
        await stack.pg.stop("fast")
        stopped = time.monotonic()
        await asyncio.sleep(stack.args.pg_down_seconds)
        await stack.pg.start()
        back = time.monotonic()
        events_before = await count_rows(stack, EVENTS, job_id)

        async def events_recorded_again() -> bool:
            return await count_rows(stack, EVENTS, job_id) > events_before

        await wait_for(events_recorded_again, 90, what="the wait step recording events again")
        resumed = time.monotonic()
        job = await wait_for_job(api, job_id, timeout=300)
        ended = time.monotonic()
        await asyncio.sleep(1)
        prober.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await prober
    records = await stack.records(job_id)
    check_completed(records)
    assert worker.returncode is None, "the worker exited while PostgreSQL was down"
    during = Counter(s for t, s in probes if stopped <= t < back)
    after = Counter(s for t, s in probes if t >= back)
    first_ok = next((t for t, s in probes if t >= back and s == 200), None)
    # Nothing lost: every event the provider reported is in our table.
    async with stack.admin(stack.openai.url) as oa:
        listed = await oa.get(
            f"/v1/fine_tuning/jobs/{job['providerJobId']}/events", params={"limit": 1000}
        )
    provider_events = len(listed.json()["data"])
    stored = await count_rows(stack, EVENTS, job_id)
    assert stored == provider_events, f"{stored} events stored, the provider has {provider_events}"
    assert set(after) == {200}, f"the API still failed after PostgreSQL was back: {dict(after)}"
    await stack.workers.stop_all()
    return CaseResult(
        "postgres-restart",
        True,
        ended - started,
        ended - back,
        {
            "down_s": round(back - stopped, 1),
            "api_during_outage": dict(during),
            "api_after": dict(after),
            "first_200_after_s": round(first_ok - back, 2) if first_ok else None,
            "events_resumed_after_s": round(resumed - back, 1),
            "events_stored": stored,
            "events_at_provider": provider_events,
        },
    )


async def registry_down(stack: Stack, api: httpx.AsyncClient) -> CaseResult:
    assert stack.client is not None
    client = stack.client
    started = time.monotonic()
    await stack.start_worker(SMALL_EVAL)
    await stack.registry.stop()
    stopped = time.monotonic()
    name = f"registry-down-{time.time_ns() % 10**8}"
    job_id = str((await submit(api, job_request(name=name, policy=SMALL_EVAL_POLICY)))["id"])

    async def promotion_failing() -> bool:
        return (await started_activities(client, job_id)).get("promote_model", 0) >= 2 or bool(
            await count_rows(
                stack, "SELECT count(*) FROM jobs WHERE id = $1 AND stage = 'promoting'", job_id
            )
        )

    await wait_for(promotion_failing, 120, what="promotion against the down registry")
    left = stack.args.registry_down_seconds - (time.monotonic() - stopped)
    await asyncio.sleep(max(0.0, left))
    await stack.registry.start()
    back = time.monotonic()
    job = await wait_for_job(api, job_id, timeout=300)
    ended = time.monotonic()
    records = await stack.records(job_id)
    check_completed(records)
    assert job["promotion"]["promoted"] is True
    await stack.workers.stop_all()
    return CaseResult(
        "registry-down",
        True,
        ended - started,
        ended - back,
        {
            "down_s": round(back - stopped, 1),
            "promote_attempts": (await activity_attempts(client, job_id))["promote_model"],
        },
    )
