"""Building job requests and waiting on jobs through the REST API."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import httpx

TERMINAL = {"completed", "failed", "cancelled"}

SAMPLE_JOB: dict[str, Any] = {
    "name": "k12-tutor",
    "description": "K-12 tutor fine-tune",
    "provider": "openai",
    "baseModel": "gpt-4o-mini-2024-07-18",
    "datasetUri": "tutor-k12-good.jsonl",
    "config": {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 0.1},
    "policy": {
        "scope": "tenant_123",
        "thresholds": {"pedagogy_score": 0.6, "safety_score": 0.8},
    },
    "datasheet": {
        "source": "curriculum_team",
        "license": "proprietary",
        "redaction": "pii_removed",
        "description": "K-12 tutoring dialogues",
    },
}


def job_request(**overrides: Any) -> dict[str, Any]:
    body = copy.deepcopy(SAMPLE_JOB)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(body.get(key), dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    return body


async def submit(api: httpx.AsyncClient, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = await api.post("/trainer/jobs", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def wait_for_job(
    api: httpx.AsyncClient,
    job_id: str,
    until: set[str] | None = None,
    timeout: float = 90.0,
    stage: str | None = None,
) -> dict[str, Any]:
    """Poll GET /trainer/jobs/{id} until its status is in `until` (default: terminal)."""
    until = until or TERMINAL
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await api.get(f"/trainer/jobs/{job_id}")
        assert response.status_code == 200, response.text
        job = response.json()
        if job["status"] in until and (stage is None or job["stage"] == stage):
            return job
        if job["status"] in TERMINAL and job["status"] not in until:
            raise AssertionError(f"job ended {job['status']}: {job.get('errorMessage')}")
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"job still {job['status']}/{job['stage']} after {timeout}s")
        await asyncio.sleep(0.1)


async def provider_jobs_for(emulator: httpx.AsyncClient, job_id: str) -> list[dict[str, Any]]:
    """The emulator's fine-tuning jobs created for our job id."""
    state = (await emulator.get("/_emulator/state")).json()
    return [j for j in state["jobs"] if j["metadata"].get("trainer_job_id") == job_id]
