"""Recording workflow histories for the replay fixtures (tests/fixtures/histories/)."""

from __future__ import annotations

import httpx
from temporalio.client import Client, WorkflowFailureError, WorkflowHistory

from api.app import create_app
from core.settings import Settings
from tests.conftest import ADMIN_HEADERS, wait_for
from tests.support.jobs import job_request, submit, wait_for_job
from tests.support.servers import serve_app


async def run_histories(client: Client, workflow_id: str) -> list[WorkflowHistory]:
    """The history of every run of the workflow, oldest first."""
    runs = [r async for r in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    runs.sort(key=lambda r: r.start_time)
    return [
        await client.get_workflow_handle(workflow_id, run_id=r.run_id).fetch_history() for r in runs
    ]


async def _closed(client: Client, workflow_id: str) -> None:
    try:
        await client.get_workflow_handle(workflow_id).result()
    except WorkflowFailureError:
        pass  # a failed or cancelled run is a history worth replaying too


async def _newest_of_type(client: Client, workflow_type: str) -> str:
    async def found() -> str | None:
        runs = [r async for r in client.list_workflows(f"WorkflowType = '{workflow_type}'")]
        return max(runs, key=lambda r: r.start_time).id if runs else None

    return await wait_for(found)


async def _emulate(emulator: httpx.AsyncClient, seconds_per_step: float, max_steps: int) -> None:
    await emulator.patch(
        "/_emulator/settings", json={"seconds_per_step": seconds_per_step, "max_steps": max_steps}
    )


async def record_scenarios(
    api: httpx.AsyncClient, client: Client, emulator: httpx.AsyncClient, settings: Settings
) -> dict[str, WorkflowHistory]:
    """Run one job of each kind through the stack; their histories by fixture name."""
    before = (await emulator.get("/_emulator/settings")).json()
    recorded: dict[str, WorkflowHistory] = {}

    async def keep(name: str, workflow_id: str) -> None:
        await _closed(client, workflow_id)
        histories = await run_histories(client, workflow_id)
        if len(histories) == 1:
            recorded[name] = histories[0]
        for number, history in enumerate(histories, start=1):
            if len(histories) > 1:
                recorded[f"{name}.{number}"] = history

    try:
        completed = await submit(api, job_request(name="history-completed"))
        await wait_for_job(api, completed["id"])
        await keep("training-completed", completed["workflowId"])

        failed = await submit(
            api, job_request(name="history-failed", datasetUri="tutor-k12-unsafe.jsonl")
        )
        await wait_for_job(api, failed["id"])
        await keep("training-failed", failed["workflowId"])

        response = await api.post(
            f"/trainer/jobs/{completed['id']}/evaluate",
            json={"name": "history", "harness_config": {}, "thresholds": {}},
        )
        assert response.status_code == 201, response.text
        await keep("evaluation", await _newest_of_type(client, "EvaluationWorkflow"))

        response = await api.post(
            "/trainer/datasets/validate",
            json={"datasetUri": "tutor-k12-good.jsonl", "scope": "tenant_123"},
        )
        assert response.status_code == 200, response.text
        await keep("dataset-check", await _newest_of_type(client, "DatasetCheckWorkflow"))

        # A job that continues as new several times, is rejected, then promoted by hand.
        await _emulate(emulator, 0.1, 40)
        tuned = settings.model_copy(
            update={"continue_as_new_after_events": 20, "progress_report_seconds": 0.5}
        )
        async with (
            serve_app(create_app(tuned)) as url,
            httpx.AsyncClient(base_url=url, headers=ADMIN_HEADERS, timeout=60) as short_runs,
        ):
            long = await submit(
                short_runs, job_request(name="history-long", policy={"require_approval": True})
            )
            await wait_for_job(
                short_runs, long["id"], until={"evaluating"}, stage="awaiting_approval"
            )
        response = await api.post(
            f"/trainer/jobs/{long['id']}/reject", json={"reviewer": "dr-rivera", "note": "no"}
        )
        assert response.status_code == 200, response.text
        await wait_for_job(api, long["id"])
        await keep("training-continued-as-new", long["workflowId"])
        response = await api.post(f"/trainer/jobs/{long['id']}/promote", json={"force": True})
        assert response.status_code in (201, 202), response.text
        await keep("promotion", f"promotion-{response.json()['id']}")

        await _emulate(emulator, 2.0, 200)
        for how in ("signal", "workflow"):
            job = await submit(api, job_request(name=f"history-cancel-{how}"))
            await wait_for_job(api, job["id"], until={"training"}, stage="training")
            if how == "signal":
                response = await api.post(f"/trainer/jobs/{job['id']}/cancel", json={})
            else:
                response = await api.delete(f"/trainer/jobs/{job['id']}")
            assert response.status_code in (202, 204), response.text
            await wait_for_job(api, job["id"])
            await keep(f"training-cancelled-by-{how}", job["workflowId"])
    finally:
        await _emulate(emulator, before["seconds_per_step"], before["max_steps"])
    return recorded
