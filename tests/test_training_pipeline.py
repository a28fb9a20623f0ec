"""A job from dataset to promoted model, through the REST API, on the real stack."""

from __future__ import annotations

import uuid

import httpx
from temporalio.client import Client

from api.app import create_app
from core.models import JobState
from core.settings import Settings
from tests.conftest import ADMIN_HEADERS
from tests.support.jobs import job_request, submit, wait_for_job
from tests.support.servers import serve_app
from tests.support.workers import WorkerProcesses


async def test_good_job_trains_evaluates_and_is_promoted(
    api: httpx.AsyncClient,
    emulator: httpx.AsyncClient,
    registry: httpx.AsyncClient,
    temporal_client: Client,
) -> None:
    created = await submit(api, job_request(name="happy-path"))
    assert created["status"] == "pending"
    assert created["workflowId"] == f"training-job-{created['id']}"

    job = await wait_for_job(api, created["id"])
    assert job["status"] == "completed", job
    assert job["providerModelId"].startswith("ft:gpt-4o-mini-2024-07-18:")
    assert job["trainingTokens"] > 0
    assert job["trainingCost"] > 0
    assert job["progress"]["step"] == job["progress"]["total_steps"]
    assert job["evaluation"]["status"] == "passed"
    promotion = job["promotion"]
    assert promotion["promoted"] is True
    assert promotion["registry_model_id"].isdigit()

    # The registry holds exactly the model, version and binding the job recorded.
    version = (await registry.get(f"/versions/{promotion['registry_version_id']}")).json()
    assert str(version["model_id"]) == promotion["registry_model_id"]
    binding = (await registry.get(f"/bindings/{promotion['registry_binding_id']}")).json()
    assert binding["provider_model_id"] == job["providerModelId"]
    assert binding["provider"] == "openai"

    # Provider events and metrics were recorded while polling.
    events = (await api.get(f"/trainer/jobs/{job['id']}/events?limit=1000")).json()
    metrics = [e for e in events["events"] if e["type"] == "metrics"]
    assert len(metrics) == job["progress"]["total_steps"]
    assert metrics[0]["data"]["step"] == 1

    # The workflow's own view agrees.
    handle = temporal_client.get_workflow_handle(job["workflowId"])
    state = await handle.query("state", result_type=JobState)
    assert state.status == "completed"
    assert state.fine_tuned_model == job["providerModelId"]
    described = await handle.describe()
    attrs = {k.name: v for k, v in described.typed_search_attributes}  # type: ignore[misc]
    assert attrs["JobStatus"] == "completed"
    assert attrs["FineTunedModel"] == job["providerModelId"]
    assert attrs["TenantId"] == "tenant_123"


async def test_small_evaluation_runs_in_one_activity(
    settings: Settings, worker_processes: WorkerProcesses, temporal_client: Client
) -> None:
    """Below `eval_fan_out_min_calls` the evaluation is graded by one activity after its
    planning (a local activity): five activities for the whole job, with the same scores and
    records."""
    isolated = settings.model_copy(update={"temporal_task_queue": f"inline-{uuid.uuid4().hex[:8]}"})
    env_overrides = {"EVAL_FAN_OUT_MIN_CALLS": "100000"}
    await worker_processes.start(isolated, extra_env=env_overrides)
    async with (
        serve_app(create_app(isolated)) as url,
        httpx.AsyncClient(base_url=url, headers=ADMIN_HEADERS) as api,
    ):
        created = await submit(api, job_request(name="inline-evaluation"))
        job = await wait_for_job(api, created["id"], timeout=120)
        samples = (
            await api.get(f"/trainer/evaluations/{job['evaluation']['id']}/samples?limit=1")
        ).json()
    assert job["status"] == "completed" and job["promotion"]["promoted"] is True
    assert job["evaluation"]["status"] == "passed"
    assert samples["total"] == 4 * 26 * 2  # four default suites, candidate and baseline
    history = await temporal_client.get_workflow_handle(job["workflowId"]).fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert scheduled == [
        "validate_dataset",
        "launch_fine_tune",
        "wait_for_fine_tune",
        "grade_small_evaluation",
        "promote_model",
    ]
