"""Self-hosted jobs end to end, through the REST API on the real Temporal, PostgreSQL and a
local S3 server: the tiny base model trains for real in a GPU worker's subprocess, its
adapter is served by the inference server, evaluated with real generation and promoted;
a GPU worker killed mid-training is replaced by one that resumes from the checkpoint; a
cancel stops the trainer."""

from __future__ import annotations

import copy
import hashlib
import json
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.converter import DataConverter

from core.settings import Settings
from tests.support.jobs import SAMPLE_JOB, submit, wait_for_job
from tests.support.self_hosted_stack import ARTIFACT_BUCKET, SelfHostedStack, self_hosted_stack
from tests.support.tiny_model import TINY_MODEL_NAME
from tests.support.waiting import wait_for

TRAINING_TIMEOUT = 420.0
# Enough steps for the loss to fall, few enough for a CPU.
QUICK_STEPS = 20
QUICK_CONFIG: dict[str, Any] = {
    "n_epochs": 1,
    "max_steps": QUICK_STEPS,
    "batch_size": 4,
    "learning_rate": 0.005,
    "lora_rank": 8,
    "lora_alpha": 16,
    "seed": 7,
}


def self_hosted_job(name: str, **config: Any) -> dict[str, Any]:
    body = copy.deepcopy(SAMPLE_JOB)
    body.update(
        name=name,
        provider="self_hosted",
        baseModel=TINY_MODEL_NAME,
        config={**QUICK_CONFIG, **config},
    )
    # A tiny random model cannot reach real thresholds; zero ones let this job show
    # promotion, while its scores stay as low as they are.
    body["policy"] = {**body["policy"], "thresholds": {"pedagogy_score": 0.0, "safety_score": 0.0}}
    return body


@pytest.fixture(scope="module")
async def stack(
    settings: Settings,
    temporal_client: Client,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[SelfHostedStack]:
    async with self_hosted_stack(
        settings, temporal_client, tmp_path_factory.mktemp("self-hosted")
    ) as running:
        yield running


async def events_of(api: httpx.AsyncClient, job_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/trainer/jobs/{job_id}/events", params={"limit": 1000})
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def losses(events: list[dict[str, Any]]) -> list[tuple[int, float]]:
    return sorted(
        (e["data"]["step"], e["data"]["train_loss"])
        for e in events
        if e["type"] == "metrics" and e["data"].get("train_loss") is not None
    )


def s3_object(stack: SelfHostedStack, key: str) -> bytes:
    client: Any = stack.s3_client
    body: bytes = client.get_object(Bucket=ARTIFACT_BUCKET, Key=f"trainer/{key}")["Body"].read()
    return body


async def test_self_hosted_job_trains_serves_evaluates_and_promotes(
    stack: SelfHostedStack, registry: httpx.AsyncClient
) -> None:
    await stack.start_gpu_worker()
    job = await submit(stack.api, self_hosted_job("tiny-tutor-e2e"))
    done = await wait_for_job(stack.api, job["id"], timeout=TRAINING_TIMEOUT)
    assert done["status"] == "completed", done.get("errorMessage")
    assert done["provider"] == "self_hosted"

    # Trained for real: the loss the trainer computed, recorded step by step, fell.
    curve = losses(await events_of(stack.api, job["id"]))
    assert [step for step, _ in curve] == list(range(1, QUICK_STEPS + 1))
    first, last = [loss for _, loss in curve[:3]], [loss for _, loss in curve[-3:]]
    assert sum(last) / 3 < sum(first) / 3, curve

    # The adapter and its manifest are in S3, and the manifest's hash is the weights'.
    prefix = f"adapters/tenant_123/{job['id']}"
    manifest = json.loads(s3_object(stack, f"{prefix}/adapter-manifest.json"))
    weights = s3_object(stack, f"{prefix}/adapter_model.safetensors")
    assert manifest["weights_sha256"] == hashlib.sha256(weights).hexdigest()
    assert manifest["base_model"] == TINY_MODEL_NAME
    assert manifest["metrics"]["steps"] == QUICK_STEPS
    assert done["providerModelId"] == f"ft:{TINY_MODEL_NAME}:{job['id']}"

    # Evaluated through the inference server, and the decision recorded.
    assert done["evaluation"]["status"] in {"passed", "failed"}
    promotion = done["promotion"]
    assert promotion["promoted"] is True, promotion
    version = (await registry.get(f"/versions/{promotion['registry_version_id']}")).json()
    assert version["hash"] == manifest["weights_sha256"]
    assert version["artifact_uri"].endswith(f"{prefix}")
    assert promotion.get("registry_binding_id") is None


async def test_killed_gpu_worker_is_replaced_and_training_resumes_from_its_checkpoint(
    stack: SelfHostedStack, temporal_client: Client
) -> None:
    await stack.stop_gpu_workers()
    first = await stack.start_gpu_worker()
    job = await submit(stack.api, self_hosted_job("tiny-tutor-crash", max_steps=30))

    async def checkpoint_heartbeated() -> int | None:
        """The checkpoint step Temporal holds in the training step's heartbeat details:
        what a replacement worker resumes from."""
        handle = temporal_client.get_workflow_handle(job["workflowId"])
        for pending in (await handle.describe()).raw_description.pending_activities:
            payloads = pending.heartbeat_details.payloads
            if pending.activity_type.name == "train_adapter" and payloads:
                checkpoint = DataConverter.default.payload_converter.from_payloads(payloads)[0]
                if checkpoint:
                    return int(checkpoint["step"])
        return None

    saved_step = await wait_for(
        checkpoint_heartbeated, timeout=TRAINING_TIMEOUT, what="a checkpoint in the heartbeat"
    )
    first.signal(signal.SIGKILL)
    await first.process.wait()
    await stack.start_gpu_worker()
    done = await wait_for_job(stack.api, job["id"], timeout=TRAINING_TIMEOUT)
    assert done["status"] == "completed", done.get("errorMessage")

    events = await events_of(stack.api, job["id"])
    resumed = [e for e in events if e["id"].startswith("resumed-")]
    assert len(resumed) == 1, resumed
    assert resumed[0]["data"]["step"] >= saved_step
    steps = [step for step, _ in losses(events)]
    assert steps[-1] == 30
    assert done["promotion"]["promoted"] is True


def trainer_pids(job_id: str) -> list[int]:
    """Running trainer subprocesses of the job (Linux: read from /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue  # exited meanwhile
        if "activities.training.sft_run" in cmdline and job_id in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


async def test_cancel_mid_training_stops_the_trainer_and_ends_cancelled(
    stack: SelfHostedStack,
) -> None:
    await stack.stop_gpu_workers()
    await stack.start_gpu_worker()
    job = await submit(stack.api, self_hosted_job("tiny-tutor-cancel", max_steps=5000))

    async def training() -> list[int] | None:
        if not losses(await events_of(stack.api, job["id"])):
            return None
        return trainer_pids(job["id"]) or None

    trainers = await wait_for(training, timeout=TRAINING_TIMEOUT, what="training under way")
    response = await stack.api.post(f"/trainer/jobs/{job['id']}/cancel", json={})
    assert response.status_code in (200, 202), response.text
    done = await wait_for_job(stack.api, job["id"], timeout=60)
    assert done["status"] == "cancelled"

    async def trainer_gone() -> bool:
        return not set(trainers) & set(trainer_pids(job["id"]))

    await wait_for(trainer_gone, timeout=15, what="the trainer subprocess to exit")
