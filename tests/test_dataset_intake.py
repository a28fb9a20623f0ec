"""Dataset intake on the real stack: what the validate step refuses before any provider
call, what it records with the job, and the approval it asks for when a job costs a lot."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.support.jobs import job_request, provider_jobs_for, submit, wait_for_job


async def test_pii_against_a_redaction_claim_fails_without_showing_the_values(
    api: httpx.AsyncClient, emulator: httpx.AsyncClient, dataset_root: Path
) -> None:
    lines = [
        {
            "messages": [
                {"role": "user", "content": f"What is {i} plus {i}?"},
                {
                    "role": "assistant",
                    "content": f"Let's count together: {i} and {i} make {2 * i}.",
                },
            ]
        }
        for i in range(12)
    ]
    lines[4]["messages"][1]["content"] = "Write to ada.lovelace@example.org for help."
    lines[7]["messages"][0]["content"] = "My card is 4111 1111 1111 1111, is that ok?"
    (dataset_root / "leaky.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    created = await submit(
        api, job_request(name="leaky", datasetUri="leaky.jsonl", datasheet={"size": 12})
    )
    job = await wait_for_job(api, created["id"])
    assert job["status"] == "failed"
    assert job["errorCode"] == "dataset_invalid"
    assert "pii_found" in job["errorMessage"]
    assert "5, 8" in job["errorMessage"]  # the lines, not the values
    body = json.dumps(job)
    assert "ada.lovelace" not in body and "4111" not in body
    assert await provider_jobs_for(emulator, job["id"]) == []


async def test_statistics_and_cost_are_recorded_with_the_job(api: httpx.AsyncClient) -> None:
    created = await submit(api, job_request(name="with-stats"))
    job = await wait_for_job(api, created["id"])
    validation = job["validation"]
    assert validation["dataset"]["stats"]["examples"] > 10
    assert validation["tokens"]["encoding"] == "o200k_base"
    tokens = validation["tokens"]
    assert (
        tokens["max_tokens"]
        >= tokens["p90_tokens"]
        >= tokens["p10_tokens"]
        >= tokens["min_tokens"]
        > 0
    )
    assert tokens["billable_tokens"] == tokens["tokens"]  # nothing over the limit
    assert validation["cost"]["cost_usd"] > 0
    assert len(validation["file"]["sha256"]) == 64


async def test_cost_cap_refuses_the_job_before_training(
    api: httpx.AsyncClient, emulator: httpx.AsyncClient
) -> None:
    created = await submit(
        api, job_request(name="too-dear", policy={"restrictions": {"max_cost_usd": 0.0001}})
    )
    job = await wait_for_job(api, created["id"])
    assert job["status"] == "failed"
    assert "cost_limit_exceeded" in job["errorMessage"]
    assert await provider_jobs_for(emulator, job["id"]) == []


async def test_costly_job_waits_for_approval(api: httpx.AsyncClient) -> None:
    created = await submit(
        api,
        job_request(name="costly", policy={"restrictions": {"approval_above_cost_usd": 0.0001}}),
    )
    waiting = await wait_for_job(
        api, created["id"], until={"evaluating"}, stage="awaiting_approval"
    )
    assert waiting["promotion"] is None
    answer = await api.post(f"/trainer/jobs/{created['id']}/reject", json={"note": "budget"})
    assert answer.status_code == 200, answer.text
    done = await wait_for_job(api, created["id"])
    assert done["promotion"]["promoted"] is False


async def test_money_limits_must_be_numbers(api: httpx.AsyncClient) -> None:
    bad = job_request(policy={"restrictions": {"max_cost_usd": "lots"}})
    response = await api.post("/trainer/jobs", json=bad)
    assert response.status_code == 422
    assert "max_cost_usd" in response.json()["detail"]


async def test_unsupported_scheme_is_refused_at_submit(api: httpx.AsyncClient) -> None:
    response = await api.post("/trainer/jobs", json=job_request(datasetUri="ftp://x/y.jsonl"))
    assert response.status_code == 422
    assert "ftp" in response.json()["detail"]


async def test_validate_endpoint_reports_without_a_job(
    api: httpx.AsyncClient, emulator: httpx.AsyncClient, dataset_root: Path
) -> None:
    before = (await emulator.get("/_emulator/state")).json()["files"]
    good = await api.post(
        "/trainer/datasets/validate",
        json={
            "datasetUri": "tutor-k12-good.jsonl",
            "scope": "tenant_123",
            "datasheet": {"source": "s", "license": "l", "redaction": "pii_removed"},
        },
    )
    assert good.status_code == 200, good.text
    assert good.json()["ok"] is True
    assert good.json()["report"]["tokens"]["encoding"] == "o200k_base"

    (dataset_root / "broken.jsonl").write_text('{"messages": []}\nnot json\n')
    broken = await api.post(
        "/trainer/datasets/validate",
        json={
            "datasetUri": "broken.jsonl",
            "scope": "tenant_123",
            "baseModel": "gpt-3.5-turbo-0125",
        },
    )
    assert broken.status_code == 200
    report = broken.json()["report"]
    assert broken.json()["ok"] is False
    kinds = {e["kind"]: e for e in report["dataset"]["errors"]}
    assert kinds["empty_messages"]["examples"][0]["line"] == 1
    assert kinds["invalid_json"]["examples"][0]["line"] == 2
    assert "too_few_examples" in kinds
    assert report["tokens"]["encoding"] == "cl100k_base"

    retiring = await api.post(
        "/trainer/datasets/validate",
        json={
            "datasetUri": "tutor-k12-good.jsonl",
            "scope": "tenant_123",
            "baseModel": "legacy-ft-model",
        },
    )
    assert retiring.json()["ok"] is False
    assert retiring.json()["report"]["base_model"]["code"] == "base_model_retiring"

    outside = await api.post(
        "/trainer/datasets/validate",
        json={"datasetUri": "file:///etc/passwd", "scope": "tenant_123"},
    )
    assert outside.status_code == 403
    assert (await emulator.get("/_emulator/state")).json()["files"] == before  # no upload
