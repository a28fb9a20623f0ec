"""What `make demo` and `make dev` do once the stack is up: run the sample job and show it
through the `trainer` CLI, or print how to reach the stack and wait for Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Mapping
from typing import Any

import httpx

from scripts.stack.devstack import JOB_FILE, SELF_HOSTED_JOB_FILE, DevStack, say
from scripts.stack.processes import REPO

POLL_INTERVAL = 0.5  # seconds between the CLI's looks at the job


def _fmt(value: Any) -> str:
    return "-" if value is None else str(value)


def print_job(job: Mapping[str, Any]) -> None:
    say()
    say(f"Job {job['id']}  ({job['name']}, tenant {job['tenantId']})")
    say(f"  status            {job['status']} (stage {job['stage']})")
    say(f"  base model        {job['baseModel']}")
    say(f"  provider job      {_fmt(job.get('providerJobId'))}")
    say(f"  fine-tuned model  {_fmt(job.get('providerModelId'))}")
    tokens = job.get("trainingTokens")
    say(f"  trained tokens    {f'{tokens:,}' if tokens is not None else '-'}")
    cost = job.get("trainingCost")
    say(f"  training cost     {f'${cost:.4f}' if cost is not None else '-'}")
    duration = job.get("trainingDuration")
    say(f"  training time     {f'{duration} s' if duration is not None else '-'}")
    if job.get("errorMessage"):
        say(f"  error             [{job.get('errorCode')}] {job['errorMessage']}")
    stats = ((job.get("validation") or {}).get("dataset") or {}).get("stats") or {}
    if stats:
        say(
            f"  dataset           {job['datasetUri']}: {stats.get('examples')} examples, "
            f"{stats.get('valid_examples')} valid"
        )


def print_promotion(job: Mapping[str, Any]) -> None:
    promotion = job.get("promotion")
    say()
    if not promotion:
        say("Promotion: none")
        return
    if promotion.get("promoted"):
        say("Promotion: registered in the Model Registry")
        say(f"  registry model    {promotion.get('registry_model_id')}")
        say(f"  registry version  {promotion.get('registry_version_id')}")
        say(f"  registry binding  {promotion.get('registry_binding_id')}")
    else:
        say(f"Promotion: skipped ({promotion.get('promotion_reason') or 'no reason given'})")


async def calibrate_judge(stack: DevStack) -> None:
    """`trainer calibrate-judge`: the deployment's judge over every gold set, stored, so the
    job's evaluation can say whether its judge is trusted on each suite."""
    say("Calibrating the rubric judge on the gold sets (trainer calibrate-judge) ...")
    calibration = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "activities.evaluation.calibration",
        cwd=REPO,
        env={**os.environ, **stack.service_env},
    )
    code = await calibration.wait()
    if code != 0:
        say("  the judge is not calibrated on every suite; the evaluation will say where")


async def watch_with_cli(stack: DevStack, job_id: str, timeout: float) -> bool:
    """`trainer watch <job>`: progress, the evaluation table and the promotion, the view a
    user gets. False when the job did not end within `timeout` seconds."""
    watcher = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        "watch",
        job_id,
        "--interval",
        str(POLL_INTERVAL),
        cwd=REPO,
        env={**os.environ, "TRAINER_API_URL": stack.api_url, "TRAINER_TOKEN": stack.auth.token},
    )
    watching = asyncio.ensure_future(watcher.wait())
    # A stack process that exits (a worker that cannot start) ends the watch at once.
    exited = asyncio.ensure_future(stack.wait_for_child_exit())
    done, _ = await asyncio.wait({watching, exited}, timeout=timeout, return_when="FIRST_COMPLETED")
    exited.cancel()
    if watching in done:
        return True
    watcher.kill()
    await watcher.wait()
    if exited in done:
        stack.check_children()  # raises StackError naming the process and its exit
    return False


def print_loss_curve(events: list[Mapping[str, Any]]) -> None:
    """The loss the trainer computed, first to last step (self-hosted runs)."""
    points = [
        (e["data"]["step"], e["data"]["train_loss"])
        for e in events
        if e["type"] == "metrics" and (e.get("data") or {}).get("train_loss") is not None
    ]
    if points:
        (first_step, first), (last_step, last) = min(points), max(points)
        say(f"  training loss     {first:.4f} (step {first_step}) -> {last:.4f} (step {last_step})")


async def run_demo(stack: DevStack, timeout: float, self_hosted: bool = False) -> int:
    """Submit the sample job, follow it to its end. OpenAI's (examples/job.json): 0 when its
    model was promoted. Self-hosted (examples/job-self-hosted.json): 0 when the job trained
    and its evaluation decided, promoted or not (a tiny random model rarely earns it)."""
    job_file = SELF_HOSTED_JOB_FILE if self_hosted else JOB_FILE
    body = json.loads(job_file.read_text(encoding="utf-8"))
    say()
    await calibrate_judge(stack)
    async with httpx.AsyncClient(
        base_url=stack.api_url, timeout=60, headers=stack.auth.headers
    ) as api:
        response = await api.post("/trainer/jobs", json=body)
        if response.status_code != 201:
            say(f"POST /trainer/jobs answered {response.status_code}: {response.text}")
            return 1
        job = response.json()
        say()
        say(f"Submitted {job_file.relative_to(REPO)} as job {job['id']}")
        say(f"  workflow {job['workflowId']}: {job.get('temporalUrl') or '-'}")
        say()
        if not await watch_with_cli(stack, job["id"], timeout):
            say(f"The job did not finish within {timeout:.0f}s; giving up.")
            return 1
        stack.check_children()
        response = await api.get(f"/trainer/jobs/{job['id']}")
        response.raise_for_status()
        job = response.json()
        print_job(job)
        if self_hosted:
            events = await api.get(f"/trainer/jobs/{job['id']}/events", params={"limit": 1000})
            print_loss_curve(events.json()["events"] if events.status_code == 200 else [])
        print_promotion(job)
    say()
    say(f"Temporal UI: {job.get('temporalUrl') or '-'}")
    say()
    promoted = bool(job["status"] == "completed" and (job.get("promotion") or {}).get("promoted"))
    if self_hosted and job["status"] == "completed":
        verdict = "promoted" if promoted else "refused by its evaluation thresholds"
        say(f"Demo finished: the model trained, was evaluated and {verdict}.")
        return 0
    if promoted:
        say("Demo finished: the job completed and its model was promoted.")
        return 0
    say(f"Demo finished without a promoted model (job {job['status']}).")
    return 1


async def run_dev(stack: DevStack) -> int:
    """Print where everything is and how to submit the sample job; wait for Ctrl-C."""
    say()
    say("The Model Trainer stack is running:")
    for label, url in stack.urls:
        say(f"  {label:<18}{url}")
    say(f"  {'Logs':<18}{stack.log_dir_shown}/")
    say()
    say(f"API authentication: {stack.auth.note}")
    auth = "".join(f" -H '{k}: {v}'" for k, v in stack.auth.headers.items())
    job_file = JOB_FILE.relative_to(REPO)
    say("Submit the sample job:")
    say(
        f"  curl -s -X POST {stack.api_url}/trainer/jobs -H 'Content-Type: application/json'"
        f"{auth} -d @{job_file}"
    )
    token = stack.auth.token
    say("or with the `trainer` CLI:")
    say(f"  export TRAINER_API_URL={stack.api_url}" + (f" TRAINER_TOKEN={token}" if token else ""))
    say(f"  .venv/bin/trainer submit --follow {job_file}")
    say()
    say("Press Ctrl-C to stop.")
    child = await stack.wait_for_child_exit()
    say(child.describe_exit())
    return 1
