"""No input and no refused write leaves a job non-terminal.

Signals here bypass the API (as `temporal workflow signal` does): their payloads are raw
JSON bytes, so they may carry NUL, lone surrogates or megabytes that the API would refuse.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.common import RawValue
from temporalio.service import RPCError

from core.models import JobState
from core.settings import Settings
from tests.conftest import wait_for
from tests.support.jobs import job_request, provider_jobs_for, submit, wait_for_job


def raw_json(text: str) -> RawValue:
    """A JSON payload exactly as given: `\\ud800` stays a lone surrogate escape."""
    return RawValue(Payload(metadata={"encoding": b"json/plain"}, data=text.encode()))


async def training_job(api: httpx.AsyncClient, name: str) -> dict:
    created = await submit(api, job_request(name=name))
    return await wait_for_job(api, created["id"], until={"training"}, stage="training")


async def row_of(settings: Settings, job_id: str) -> asyncpg.Record:
    conn = await asyncpg.connect(settings.database_url)
    try:
        row = await conn.fetchrow(
            "SELECT status, stage, error_code, error_message FROM jobs WHERE id = $1", job_id
        )
    finally:
        await conn.close()
    assert row is not None
    return row


# Temporal itself refuses a signal over 2 MB ("Blob data size exceeds limit"); the largest
# it delivers must still be bounded before the job keeps it.
MEGABYTES_OF_X = "x" * (3 * 512 * 1024)


@pytest.mark.usefixtures("slow_training")
@pytest.mark.parametrize(
    "reason_json",
    [r'"budget\u0000exhausted"', r'"budget \ud800 exhausted"', f'"{MEGABYTES_OF_X}"', None],
    ids=["nul", "lone-surrogate", "megabytes", "no-input"],
)
async def test_cancel_signal_with_unstorable_reason_ends_cancelled(
    api: httpx.AsyncClient,
    emulator: httpx.AsyncClient,
    temporal_client: Client,
    settings: Settings,
    reason_json: str | None,
) -> None:
    job = await training_job(api, f"cancel-unsafe-{uuid.uuid4().hex[:6]}")
    handle = temporal_client.get_workflow_handle(job["workflowId"])
    if reason_json is None:
        await handle.signal("cancel")
    else:
        await handle.signal("cancel", raw_json('{"reason":' + reason_json + "}"))

    final = await wait_for_job(api, job["id"], until={"cancelled"})
    assert final["errorCode"] == "cancelled"
    message = final["errorMessage"]
    assert message.startswith(("budget", "xxx", "cancelled by request"))
    assert "\x00" not in message and len(message) <= 1000
    row = await row_of(settings, job["id"])
    assert (row["status"], row["stage"]) == ("cancelled", "done")
    (provider_job,) = await provider_jobs_for(emulator, job["id"])
    assert provider_job["status"] == "cancelled"
    # The row is written by the run's last step, a moment before the run completes.
    state = JobState.model_validate(await handle.result())
    assert state.status.value == "cancelled" and state.error_code == "cancelled"
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED


async def test_approve_signal_with_nul_reviewer_promotes(
    api: httpx.AsyncClient, temporal_client: Client
) -> None:
    created = await submit(
        api, job_request(name="approve-unsafe", policy={"require_approval": True})
    )
    job = await wait_for_job(api, created["id"], until={"evaluating"}, stage="awaiting_approval")
    handle = temporal_client.get_workflow_handle(job["workflowId"])
    await handle.signal(
        "approve_signal", raw_json(r'{"reviewer":"dr\u0000rivera","note":"fine \ud83d by me"}')
    )
    done = await wait_for_job(api, job["id"])
    assert done["status"] == "completed"
    assert done["promotion"]["promoted"] is True
    card = (await api.get(f"/trainer/jobs/{job['id']}/model-card")).json()
    metadata = card["promotion"]["promotion_metadata"]
    assert metadata["reviewer"] == "drrivera"
    assert metadata["note"] == "fine \ufffd by me"


async def test_rename_signal_with_unstorable_text_still_promotes(
    api: httpx.AsyncClient, registry: httpx.AsyncClient, temporal_client: Client
) -> None:
    created = await submit(
        api, job_request(name="rename-unsafe", policy={"require_approval": True})
    )
    job = await wait_for_job(api, created["id"], until={"evaluating"}, stage="awaiting_approval")
    handle = temporal_client.get_workflow_handle(job["workflowId"])
    await handle.signal("rename", raw_json("[1, 2]"))  # not an object: ignored
    await handle.signal("rename", raw_json(r'{"name":"after\u0000rename","description":"x\ud800"}'))
    approved = await api.post(f"/trainer/jobs/{job['id']}/approve", json={"reviewer": "dr-rivera"})
    assert approved.status_code == 200, approved.text
    done = await wait_for_job(api, job["id"])
    assert done["status"] == "completed"
    assert done["promotion"]["promoted"] is True
    model_id = done["promotion"]["registry_model_id"]
    model = (await registry.get(f"/models/{model_id}")).json()
    assert model["name"] == f"{job['tenantId']}-afterrename"
    assert model["description"] == "x\ufffd"


@pytest.fixture
async def refused_end_records(settings: Settings) -> AsyncIterator[str]:
    """Jobs named as yielded get a database that refuses every end record with a message
    (as PostgreSQL refuses text holding NUL); only an end without one is accepted."""
    name = f"refused-end-{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(settings.database_url)
    trigger = f"refuse_end_{name.replace('-', '_')}"
    await conn.execute(
        f"""
        CREATE FUNCTION {trigger}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'end record refused' USING ERRCODE = 'character_not_in_repertoire';
        END $$;
        CREATE TRIGGER {trigger} BEFORE UPDATE ON jobs FOR EACH ROW
            WHEN (NEW.name = '{name}' AND NEW.status_rank = 9
                  AND NEW.error_message IS NOT NULL)
            EXECUTE FUNCTION {trigger}();
        """
    )
    try:
        yield name
    finally:
        await conn.execute(f"DROP TRIGGER {trigger} ON jobs; DROP FUNCTION {trigger}();")
        await conn.close()


@pytest.mark.usefixtures("slow_training")
async def test_refused_end_record_still_ends_the_job_cancelled(
    api: httpx.AsyncClient,
    temporal_client: Client,
    settings: Settings,
    refused_end_records: str,
) -> None:
    job = await training_job(api, refused_end_records)
    handle = temporal_client.get_workflow_handle(job["workflowId"])
    await handle.signal("cancel", {"reason": "budget exhausted"})
    state = JobState.model_validate(await handle.result())
    assert (state.status.value, state.error_code) == ("cancelled", "cancelled")
    row = await row_of(settings, job["id"])
    assert (row["status"], row["stage"], row["error_code"]) == ("cancelled", "done", "cancelled")
    assert row["error_message"] is None  # the part the database refused


async def test_refused_end_record_still_ends_a_failing_job_failed(
    api: httpx.AsyncClient, temporal_client: Client, settings: Settings, refused_end_records: str
) -> None:
    created = await submit(
        api, job_request(name=refused_end_records, datasetUri="tutor-k12-unsafe.jsonl")
    )
    handle = temporal_client.get_workflow_handle(created["workflowId"])
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    row = await row_of(settings, created["id"])
    assert (row["status"], row["stage"], row["error_code"]) == ("failed", "done", "dataset_invalid")


@pytest.mark.usefixtures("slow_training")
async def test_workflow_cancel_during_a_signalled_cancel_still_ends_cancelled(
    api: httpx.AsyncClient, emulator: httpx.AsyncClient, temporal_client: Client
) -> None:
    job = await training_job(api, "cancel-twice")
    await emulator.post(  # the provider's cancel is slow, so the workflow cancel meets it
        "/_emulator/faults",
        json={"path_prefix": "/v1/fine_tuning/jobs/", "method": "POST", "delay_seconds": 3},
    )
    handle = temporal_client.get_workflow_handle(job["workflowId"])
    await handle.signal("cancel", {"reason": "first"})

    async def cleaning_up() -> bool:
        pending = (await handle.describe()).raw_description.pending_activities
        return any(a.activity_type.name == "cancel_fine_tune" for a in pending)

    await wait_for(cleaning_up)
    await handle.cancel()
    final = await wait_for_job(api, job["id"], until={"cancelled"})
    assert final["errorMessage"] == "first"
    await handle.result()
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED


@pytest.mark.usefixtures("slow_training")
async def test_a_terminated_workflow_leaves_no_running_row(
    api: httpx.AsyncClient, temporal_client: Client, settings: Settings
) -> None:
    job = await training_job(api, "closed-under-the-row")
    # Termination runs no workflow code: the run records nothing, so the API closes the row
    # the first time it asks Temporal about the job.
    await temporal_client.get_workflow_handle(job["workflowId"]).terminate("operator")
    for request in (
        api.post(f"/trainer/jobs/{job['id']}/cancel", json={"reason": "too late"}),
        api.delete(f"/trainer/jobs/{job['id']}"),
    ):
        response = await request
        assert response.status_code == 409, response.text
        assert response.json()["error_code"] == "job_not_cancellable"
    row = await row_of(settings, job["id"])
    assert (row["status"], row["stage"], row["error_code"]) == (
        "failed",
        "done",
        "workflow_terminated",
    )
    read = json.loads((await api.get(f"/trainer/jobs/{job['id']}")).text)
    assert (read["status"], read["errorCode"]) == ("failed", "workflow_terminated")


@pytest.mark.usefixtures("slow_training")
async def test_reading_a_terminated_job_closes_its_row(
    api: httpx.AsyncClient, temporal_client: Client, settings: Settings
) -> None:
    job = await training_job(api, "terminated-then-read")
    await temporal_client.get_workflow_handle(job["workflowId"]).terminate("operator")
    assert (await row_of(settings, job["id"]))["status"] == "training"
    read = json.loads((await api.get(f"/trainer/jobs/{job['id']}")).text)
    assert (read["status"], read["stage"], read["errorCode"]) == (
        "failed",
        "done",
        "workflow_terminated",
    )
    listed = (await api.get("/trainer/jobs", params={"status_filter": "training"})).json()
    assert job["id"] not in {j["id"] for j in listed["jobs"]}


async def test_cancelled_evaluation_workflow_closes_its_row(
    api: httpx.AsyncClient, emulator: httpx.AsyncClient, temporal_client: Client
) -> None:
    trained = await wait_for_job(api, (await submit(api, job_request(name="eval-cut")))["id"])
    assert trained["status"] == "completed"
    before = (await emulator.get("/_emulator/settings")).json()["chat_latency_seconds"]
    await emulator.patch("/_emulator/settings", json={"chat_latency_seconds": 1.0})
    try:
        response = await api.post(
            f"/trainer/jobs/{trained['id']}/evaluate",
            json={"name": "cut-short", "harness_config": {}, "thresholds": {}},
        )
        assert response.status_code == 201, response.text
        evaluation_id = response.json()["id"]
        await temporal_client.get_workflow_handle(f"evaluation-{evaluation_id}").cancel()

        async def closed() -> dict | None:
            body = (await api.get(f"/trainer/evaluations/{evaluation_id}")).json()
            return body if body["status"] not in ("pending", "running") else None

        evaluation = await wait_for(closed)
    finally:
        await emulator.patch("/_emulator/settings", json={"chat_latency_seconds": before})
    assert evaluation["status"] == "error"
    assert "cancelled" in evaluation["error_message"]


async def test_cancelled_promotion_workflow_closes_its_row(
    api: httpx.AsyncClient,
    registry: httpx.AsyncClient,
    temporal_client: Client,
    settings: Settings,
) -> None:
    trained = await wait_for_job(api, (await submit(api, job_request(name="promo-cut")))["id"])
    assert trained["status"] == "completed"
    await registry.post("/_emulator/faults", json={"path_prefix": "/", "status": 503})
    promoting = asyncio.ensure_future(
        api.post(f"/trainer/jobs/{trained['id']}/promote", json={"force": True})
    )
    conn = await asyncpg.connect(settings.database_url)
    try:

        async def in_progress() -> str | None:
            return await conn.fetchval(
                "SELECT id::text FROM promotions WHERE job_id = $1 "
                "AND promotion_reason = 'in progress'",
                trained["id"],
            )

        promotion_id = await wait_for(in_progress)
        handle = temporal_client.get_workflow_handle(f"promotion-{promotion_id}")

        # The row is written before the workflow starts, so wait until Temporal knows it.
        async def workflow_started() -> bool:
            try:
                await handle.describe()
            except RPCError:
                return False
            return True

        await wait_for(workflow_started)
        await handle.cancel()
        assert (await promoting).status_code == 502
        row = await conn.fetchrow("SELECT * FROM promotions WHERE id = $1", promotion_id)
    finally:
        await conn.close()
    assert (row["promoted"], row["promotion_reason"]) == (False, "promotion failed")
    assert "cancelled" in row["error_message"]
