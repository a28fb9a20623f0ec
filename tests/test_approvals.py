"""The approval gate: a job whose policy asks for approval waits in `awaiting_approval`
until a reviewer approves or rejects it (REST or the `temporal` CLI), or a timeout rejects."""

from __future__ import annotations

import json
import re

import httpx
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client

from api.app import create_app
from core.settings import Settings
from tests.conftest import ADMIN_HEADERS, temporal_binary
from tests.support.jobs import job_request, submit, wait_for_job
from tests.support.servers import serve_app


async def awaiting_approval(api: httpx.AsyncClient, name: str) -> dict:
    created = await submit(api, job_request(name=name, policy={"require_approval": True}))
    return await wait_for_job(api, created["id"], until={"evaluating"}, stage="awaiting_approval")


async def test_approved_job_is_promoted_with_the_reviewer_recorded(
    api: httpx.AsyncClient, temporal_client: Client
) -> None:
    job = await awaiting_approval(api, "approve-me")
    assert job["evaluation"]["status"] == "passed"
    assert job["promotion"] is None  # nothing reaches the registry before approval
    # The Temporal UI shows the run waiting, with what to do (the run's current details).
    metadata = await temporal_client.get_workflow_handle(job["workflowId"]).query(
        "__temporal_workflow_metadata", result_type=WorkflowMetadata
    )
    assert "awaiting_approval" in metadata.current_details
    assert "--name approve" in metadata.current_details
    # Its evaluation's scores with their intervals and methods.
    assert re.search(
        r"evaluation passed: pedagogy \d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\] [a-z_]+, n=\d+; "
        r"safety \d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\] [a-z_]+, n=\d+",
        metadata.current_details,
    ), metadata.current_details

    response = await api.post(
        f"/trainer/jobs/{job['id']}/approve", json={"reviewer": "dr-rivera", "note": "looks good"}
    )
    assert response.status_code == 200, response.text
    done = await wait_for_job(api, job["id"])
    assert done["status"] == "completed"
    assert done["promotion"]["promoted"] is True
    promotion_meta = (await api.get(f"/trainer/jobs/{job['id']}/model-card")).json()["promotion"]
    assert promotion_meta["promotion_metadata"]["reviewer"] == "dr-rivera"
    assert promotion_meta["promotion_metadata"]["note"] == "looks good"

    late = await api.post(f"/trainer/jobs/{job['id']}/approve", json={"note": "again"})
    assert late.status_code == 409


async def test_a_job_renamed_while_it_waits_is_promoted_under_its_new_name(
    api: httpx.AsyncClient, registry: httpx.AsyncClient
) -> None:
    job = await awaiting_approval(api, "before-rename")
    renamed = await api.put(
        f"/trainer/jobs/{job['id']}",
        json={"name": "after-rename", "description": "renamed while waiting"},
    )
    assert renamed.status_code == 200, renamed.text
    approved = await api.post(f"/trainer/jobs/{job['id']}/approve", json={"reviewer": "dr-rivera"})
    assert approved.status_code == 200, approved.text
    done = await wait_for_job(api, job["id"])
    assert done["promotion"]["promoted"] is True
    model_id = done["promotion"]["registry_model_id"]
    model = (await registry.get(f"/models/{model_id}")).json()
    assert model["name"] == f"{job['tenantId']}-after-rename"
    assert model["description"] == "renamed while waiting"


async def test_rejected_job_completes_without_promotion(api: httpx.AsyncClient) -> None:
    job = await awaiting_approval(api, "reject-me")
    response = await api.post(
        f"/trainer/jobs/{job['id']}/reject", json={"reviewer": "dr-rivera", "note": "too terse"}
    )
    assert response.status_code == 200, response.text
    done = await wait_for_job(api, job["id"])
    assert done["status"] == "completed"
    assert done["promotion"]["promoted"] is False
    assert "rejected by dr-rivera" in done["promotion"]["promotion_reason"]


async def test_approve_through_the_temporal_cli(
    api: httpx.AsyncClient, temporal_address: str
) -> None:
    import asyncio

    job = await awaiting_approval(api, "approve-by-cli")
    proc = await asyncio.create_subprocess_exec(
        temporal_binary(),
        "workflow",
        "update",
        "execute",
        "--address",
        temporal_address,
        "--workflow-id",
        job["workflowId"],
        "--name",
        "approve",
        "--input",
        json.dumps({"reviewer": "cli-user", "note": "ok"}),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()
    done = await wait_for_job(api, job["id"])
    assert done["promotion"]["promoted"] is True


async def test_a_job_not_awaiting_approval_refuses_a_decision(api: httpx.AsyncClient) -> None:
    created = await submit(api, job_request(name="no-approval-needed"))
    done = await wait_for_job(api, created["id"])
    response = await api.post(f"/trainer/jobs/{done['id']}/approve", json={"note": "x"})
    assert response.status_code == 409
    assert response.json()["error_code"] == "not_awaiting_approval"


async def test_approval_timeout_rejects_by_default(settings: Settings) -> None:
    impatient = settings.model_copy(update={"approval_timeout_seconds": 1.0})
    async with (
        serve_app(create_app(impatient)) as url,
        httpx.AsyncClient(base_url=url, headers=ADMIN_HEADERS) as api,
    ):
        created = await submit(
            api, job_request(name="nobody-answers", policy={"require_approval": True})
        )
        done = await wait_for_job(api, created["id"])
    assert done["status"] == "completed"
    assert done["promotion"]["promoted"] is False
    assert "approval timed out" in done["promotion"]["promotion_reason"]
