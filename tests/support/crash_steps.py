"""One entry per activity of the training job: how to hold it in flight so a worker can be
killed inside it, and how the job must end once a fresh worker takes over.

Holds are emulator faults: a request that hangs while the worker is killed. A hold on the
OpenAI emulator keeps its request sleeping for `HOLD_SECONDS` (then it completes with nobody
listening); a registry hold drops its request when the client goes away.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from tests.support.jobs import wait_for_job

HOLD_SECONDS = 15

FiredCheck = Callable[[], Awaitable[bool]]


@dataclass
class CrashContext:
    api: httpx.AsyncClient
    openai_admin: httpx.AsyncClient
    registry_admin: httpx.AsyncClient
    cleanups: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)


async def openai_fault(ctx: CrashContext, **spec: Any) -> FiredCheck:
    """Add a one-shot fault; the check says whether a request has run into it."""
    created = await ctx.openai_admin.post("/_emulator/faults", json={"count": 1, **spec})
    assert created.status_code in (200, 201), created.text
    fault_id = created.json()["id"]
    ctx.cleanups.append(lambda: ctx.openai_admin.delete(f"/_emulator/faults/{fault_id}"))

    async def fired() -> bool:
        faults = (await ctx.openai_admin.get("/_emulator/faults")).json()["faults"]
        return any(f["id"] == fault_id and f["injected"] >= 1 for f in faults)

    return fired


async def registry_hold(ctx: CrashContext, path_prefix: str, method: str) -> FiredCheck:
    body = {"path_prefix": path_prefix, "method": method, "seconds": 60}
    created = await ctx.registry_admin.post("/_emulator/hold", json=body)
    assert created.status_code == 201, created.text
    ctx.cleanups.append(lambda: ctx.registry_admin.delete("/_emulator/hold"))

    async def fired() -> bool:
        return bool((await ctx.registry_admin.get("/_emulator/state")).json()["held_calls"])

    return fired


async def _no_drive(ctx: CrashContext, job_id: str) -> FiredCheck | None:
    return None


@dataclass(frozen=True)
class CrashStep:
    """`arm` runs before the job is submitted, `drive` after (it may arm the hold itself)."""

    name: str
    activity: str
    arm: Callable[[CrashContext], Awaitable[FiredCheck | None]]
    drive: Callable[[CrashContext, str], Awaitable[FiredCheck | None]] = _no_drive
    ends: Literal["completed", "cancelled"] = "completed"
    worker_env: dict[str, str] = field(default_factory=dict)


async def _hold_upload(ctx: CrashContext) -> FiredCheck:
    # The dataset passed validation and its file is stored at the provider; the worker dies
    # before it records the file id.
    return await openai_fault(
        ctx, path_prefix="/v1/files", method="POST", after_commit_delay_seconds=HOLD_SECONDS
    )


async def _hold_create(ctx: CrashContext) -> FiredCheck:
    # The provider job exists; the worker dies before launch reports it.
    return await openai_fault(
        ctx,
        path_prefix="/v1/fine_tuning/jobs",
        method="POST",
        after_commit_delay_seconds=HOLD_SECONDS,
    )


async def _hold_poll(ctx: CrashContext) -> FiredCheck:
    # The first status poll of the wait step (launch's lookup lists jobs, without the slash).
    return await openai_fault(
        ctx, path_prefix="/v1/fine_tuning/jobs/", method="GET", delay_seconds=HOLD_SECONDS
    )


async def _hold_grading(ctx: CrashContext) -> FiredCheck:
    return await openai_fault(
        ctx, path_prefix="/v1/chat/completions", method="POST", delay_seconds=HOLD_SECONDS
    )


async def _hold_binding(ctx: CrashContext) -> FiredCheck:
    # Model and version are registered; the worker dies while binding the provider model.
    return await registry_hold(ctx, "/bindings", "POST")


async def _slow_training(ctx: CrashContext) -> FiredCheck | None:
    """Jobs submitted now train for minutes, so one can be cancelled mid-training."""
    before = (await ctx.openai_admin.get("/_emulator/settings")).json()
    await ctx.openai_admin.patch(
        "/_emulator/settings", json={"seconds_per_step": 1.0, "max_steps": 200}
    )
    restore = {"seconds_per_step": before["seconds_per_step"], "max_steps": before["max_steps"]}
    ctx.cleanups.append(lambda: ctx.openai_admin.patch("/_emulator/settings", json=restore))
    return None


async def _cancel_while_training(ctx: CrashContext, job_id: str) -> FiredCheck:
    await wait_for_job(ctx.api, job_id, until={"training"}, stage="training", timeout=120)
    fired = await openai_fault(
        ctx, path_prefix="/v1/fine_tuning/jobs/", method="POST", delay_seconds=HOLD_SECONDS
    )
    response = await ctx.api.post(
        f"/trainer/jobs/{job_id}/cancel", json={"reason": "stopped while the worker dies"}
    )
    assert response.status_code == 202, response.text
    return fired


# Small evaluations, so a case stays quick; one case grades inline, one fans out.
SMALL_EVAL = {"EVAL_MAX_SAMPLES_PER_SUITE": "2"}
# Two samples a suite cannot show a threshold by an interval (4 of 4 safe answers have a
# lower bound of 0.51), so jobs graded on so few decide their thresholds on the means.
SMALL_EVAL_POLICY = {"gate": "point"}

CRASH_STEPS = [
    CrashStep("validate-upload", "validate_dataset", _hold_upload, worker_env=SMALL_EVAL),
    CrashStep("launch", "launch_fine_tune", _hold_create, worker_env=SMALL_EVAL),
    CrashStep("wait", "wait_for_fine_tune", _hold_poll, worker_env=SMALL_EVAL),
    CrashStep(
        "evaluation-inline",
        "grade_small_evaluation",
        _hold_grading,
        worker_env={**SMALL_EVAL, "EVAL_FAN_OUT_MIN_CALLS": "1000000"},
    ),
    CrashStep(
        "evaluation-suite",
        "run_evaluation_suite",
        _hold_grading,
        worker_env={**SMALL_EVAL, "EVAL_FAN_OUT_MIN_CALLS": "0"},
    ),
    CrashStep("promotion", "promote_model", _hold_binding, worker_env=SMALL_EVAL),
    CrashStep(
        "cancellation",
        "cancel_fine_tune",
        _slow_training,
        drive=_cancel_while_training,
        ends="cancelled",
        worker_env=SMALL_EVAL,
    ),
]
